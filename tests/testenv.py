"""Loaded first (`-p tests.testenv`): the environment the settings module reads during tests.
Tests never talk to the real BigModel API or to a developer's Redis, whatever the shell has set."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ["DEBUG"] = "0"
for name in ("ZHIPUAI_API_KEY", "ZHIPUAI_BASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)

# Uploads and generated images of a test run go to a throwaway directory.
MEDIA_ROOT = tempfile.mkdtemp(prefix="glm-test-media-")
os.environ["MEDIA_ROOT"] = MEDIA_ROOT
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)
