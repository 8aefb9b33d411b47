"""A request's session is loaded without leaving a reference cycle: one would keep the request's
whole chain of frames (its form, its page) until a full collection, which a web process busy with
open streams rarely makes."""

import gc
import types

from django.conf import settings
from django.utils.module_loading import import_string


def _store():
    return import_string(f"{settings.SESSION_ENGINE}.SessionStore")


async def test_loading_a_session_leaves_no_frame_in_a_reference_cycle(transactional_db):
    saved = _store()()
    saved["theme"] = "dark"
    await saved.asave()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        loaded = _store()(session_key=saved.session_key)
        assert await loaded.aget("theme") == "dark"
        del loaded
        gc.collect()
        kept = [o for o in gc.garbage if isinstance(o, types.FrameType)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert kept == []
