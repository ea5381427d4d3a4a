"""`manage.py rotate_encryption_key`: re-encrypt every stored credential, saved login and secret payload with
the first key of LOOKOUT_ENCRYPTION_KEY, so the keys after it can be dropped (see README: Credentials)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tasks_app.crypto import DecryptionError
from tasks_app.services.credentials import rotate_encryption


class Command(BaseCommand):
    help = (
        "Re-encrypt credentials, saved logins and tasks' secret payload values with the first key of "
        "LOOKOUT_ENCRYPTION_KEY (new,old). Afterwards the old keys can be removed. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = len(settings.LOOKOUT_ENCRYPTION_KEYS)
        try:
            done = rotate_encryption()
        except DecryptionError as exc:
            raise CommandError(f"{exc}. Put every key still in use in LOOKOUT_ENCRYPTION_KEY (new first) and run again.") from exc
        self.stdout.write(
            f"Re-encrypted {done.credentials} credential(s), {done.profiles} saved login(s) and "
            f"{done.tasks} task(s) with the first of {keys} key(s)."
        )
        if keys > 1:
            self.stdout.write("The other keys are no longer needed: remove them from LOOKOUT_ENCRYPTION_KEY.")
