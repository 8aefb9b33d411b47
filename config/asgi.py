"""The ASGI entry point (uvicorn). Static files are served here too, so one process is the whole web
app; request bodies are held to their limit before Django spools them to disk, requests' sync work
runs on a few long-lived threads (config/lanes.py), and what requests left running is finished
before the process exits (config/shutdown.py)."""

import os

import django
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.handlers.asgi import ASGIHandler
from django.test.utils import override_settings

from config.bodylimit import BodyLimit
from config.lanes import RequestLanes
from config.shutdown import Lifespan

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)


class Handler(ASGIHandler):
    """Django's handler with the in-place versions of its own middleware (config/middleware.py);
    the settings keep Django's names for its deploy checks."""

    def load_middleware(self, is_async: bool = False) -> None:
        from config.middleware import IN_PLACE_OF

        middleware = [IN_PLACE_OF.get(path, path) for path in settings.MIDDLEWARE]
        # Django reads the list from settings only; it is swapped for this one read, at start-up.
        with override_settings(MIDDLEWARE=middleware):
            super().load_middleware(is_async)


application = Lifespan(BodyLimit(RequestLanes(ASGIStaticFilesHandler(Handler()))))
