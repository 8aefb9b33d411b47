"""Loaded first (`-p tests.testenv`): the environment the settings module reads during tests.
Tests never talk to the real BigModel API or to a developer's Redis, whatever the shell has set,
never read the checkout's .env, and each run has its own database file and media directory, so
two runs in one checkout (or a run beside `make run`) share nothing."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ["DEBUG"] = "0"
os.environ["ENV_FILE"] = ""  # inherited by the workers the tests start
# The tests' users chat in their personal teams: postpaid there, unless a test says otherwise
# (the shipped default, prepaid with no cash, is tested as such).
os.environ["PERSONAL_TEAM_BILLING"] = "postpaid"
# Alert tests post to receivers on this machine; the rule that refuses them is tested with it off.
os.environ["WEBHOOK_ALLOW_PRIVATE"] = "1"
for name in ("ZHIPUAI_API_KEY", "ZHIPUAI_BASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)

RUN_DIR = tempfile.mkdtemp(prefix="glm-test-run-")
atexit.register(shutil.rmtree, RUN_DIR, ignore_errors=True)
os.environ["MEDIA_ROOT"] = os.path.join(RUN_DIR, "media")
os.environ["TEST_DATABASE_NAME"] = os.path.join(RUN_DIR, "test-db.sqlite3")
