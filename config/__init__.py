# Every entry point (manage.py, uvicorn's config.asgi, `celery -A config`) imports this package
# first, so `.env` fills in what the environment leaves unset before any setting is read.
from config.env import read_env_file

read_env_file()

from config.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
