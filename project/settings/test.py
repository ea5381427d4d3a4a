"""Test overrides: eager jobs, fast hashing, artifacts in a temp folder. Services come from the environment."""

import os
import tempfile
from pathlib import Path

# The suite runs on PostgreSQL without being a production deployment: keep the embedded rules (a secret key
# generated under var/, cookies that work over http). Subprocesses the tests start inherit this.
os.environ.setdefault("LOOKOUT_PRODUCTION", "0")

from project.settings.base import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test process opens and drops test databases and races real connections in threads: plain connections
# there. The stack the integration tests start (daphne, workers: project.settings.base) uses the pool.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="lookout-test-artifacts-"))
WHITENOISE_AUTOREFRESH = True
# The local test sites and fakes listen on loopback. Opened here, for the tests, not in the defaults: a
# test that checks a refusal sets LOOKOUT_ALLOWED_NETWORKS = "" itself.
LOOKOUT_ALLOWED_NETWORKS = "127.0.0.0/8, ::1/128"
