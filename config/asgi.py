"""The ASGI entry point (uvicorn). Static files are served here too, so one process is the whole web app."""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = ASGIStaticFilesHandler(get_asgi_application())
