"""Test overrides: eager jobs, fast hashing, artifacts in a temp folder. Services come from the environment."""

import tempfile
from pathlib import Path

from project.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="lookout-test-artifacts-"))
WHITENOISE_AUTOREFRESH = True
