"""Test overrides: eager jobs, fast hashing, artifacts in a temp folder. Services come from the environment."""

import os
import tempfile
from pathlib import Path

# The suite runs on PostgreSQL without being a production deployment: keep the embedded rules (a secret key
# generated under var/, cookies that work over http). Subprocesses the tests start inherit this.
os.environ.setdefault("LOOKOUT_PRODUCTION", "0")

from project.settings.base import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="lookout-test-artifacts-"))
WHITENOISE_AUTOREFRESH = True
