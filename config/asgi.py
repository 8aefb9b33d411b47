"""The ASGI entry point (uvicorn). Static files are served here too, so one process is the whole web
app; request bodies are held to their limit before Django spools them to disk, and requests' sync
work runs on a few long-lived threads (config/lanes.py)."""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

from config.bodylimit import BodyLimit
from config.lanes import RequestLanes

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = BodyLimit(RequestLanes(ASGIStaticFilesHandler(get_asgi_application())))
