"""The ASGI entry point (uvicorn). Static files are served here too, so one process is the whole web
app; request bodies are held to their limit before Django spools them to disk, requests' sync work
runs on a few long-lived threads (runtime/lanes.py), and what requests left running is finished
before the process exits (runtime/shutdown.py)."""

import os

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.handlers.asgi import ASGIHandler
from django.test.utils import override_settings

from runtime.bodylimit import BodyLimit
from runtime.lanes import RequestLanes
from runtime.shutdown import Lifespan

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)


class Handler(ASGIHandler):
    """Django's handler with the in-place versions of its own middleware (runtime/middleware.py);
    the settings keep Django's names for its deploy checks."""

    def load_middleware(self, is_async: bool = False) -> None:
        from runtime.middleware import IN_PLACE_OF

        middleware = [IN_PLACE_OF.get(path, path) for path in settings.MIDDLEWARE]
        # Django reads the list from settings only; it is swapped for this one read, at start-up.
        with override_settings(MIDDLEWARE=middleware):
            super().load_middleware(is_async)


async def upload_limit() -> int:
    from accounts.services.catalogue import upload_limit

    return await sync_to_async(upload_limit, thread_sensitive=False)()  # it may read the database


application = Lifespan(
    BodyLimit(RequestLanes(ASGIStaticFilesHandler(Handler())), upload_limit=upload_limit)
)
