"""`manage.py bootstrap`: first-run setup for `make run` (organization + admin with a generated password)."""

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from tasks_app.services import bootstrap_first_run


class Command(BaseCommand):
    help = "Create the first organization and admin user on an empty database, and print how to log in."

    def handle(self, *args: Any, **options: Any) -> None:
        result = bootstrap_first_run(var_dir=settings.VAR_DIR)
        port = os.environ.get("PORT", "8000")
        if result.created:
            password = result.password_file.read_text().strip()
            self.stdout.write(self.style.SUCCESS("Lookout is set up for its first run."))
            self.stdout.write(f"  Log in at http://127.0.0.1:{port}/ as '{result.username}' with password: {password}")
            self.stdout.write(f"  (the password is kept in {result.password_file}; change it in the admin)")
        else:
            hint = f" (first-run password in {result.password_file})" if result.password_file.exists() else ""
            self.stdout.write(f"Lookout: log in at http://127.0.0.1:{port}/{hint}")
