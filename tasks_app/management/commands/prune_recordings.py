"""`manage.py prune_recordings --days N [--org SLUG] [--dry-run]`: delete run recordings older than N days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from tasks_app.models import Organization
from tasks_app.services.recordings import PrunedRecordings, prune_recordings


def _size(n: int) -> str:
    return str(filesizeformat(n)).replace("\xa0", " ")


KIND_WORDS = {"recording": "video", "trace": "trace", "har": "HAR"}


class Command(BaseCommand):
    help = (
        "Delete video, trace and HAR artifacts (rows and files) created more than N days ago, per organization, "
        "and print the storage freed. Screenshots, pages and model replies are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, required=True, help="Delete recordings older than this many days.")
        parser.add_argument("--org", metavar="SLUG", help="Only this organization (default: all).")
        parser.add_argument("--dry-run", action="store_true", help="Print what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["days"]
        if days < 0:
            raise CommandError("--days must be 0 or more")
        organization = None
        if options["org"]:
            organization = Organization.objects.filter(slug=options["org"]).first()
            if organization is None:
                raise CommandError(f"no organization with slug {options['org']!r}")
        dry_run: bool = options["dry_run"]
        cutoff = timezone.now() - timedelta(days=days)
        results = prune_recordings(older_than=cutoff, organization=organization, dry_run=dry_run)
        verb = "would free" if dry_run else "freed"
        if not results:
            self.stdout.write(f"No recordings older than {days} day(s){' in ' + organization.slug if organization else ''}.")
            return
        for result in results:
            self.stdout.write(f"{result.organization.slug}: {self._describe(result)}, {verb} {_size(result.size)}")
            if result.failed:
                self.stderr.write(f"{result.organization.slug}: {result.failed} file(s) could not be deleted (see the log)")
        count = sum(r.count for r in results)
        size = sum(r.size for r in results)
        prefix = "Dry run: " if dry_run else ""
        self.stdout.write(self.style.SUCCESS(f"{prefix}{count} recording(s) older than {days} day(s), {verb} {_size(size)} in total."))

    @staticmethod
    def _describe(result: PrunedRecordings) -> str:
        parts = ", ".join(f"{n} {KIND_WORDS.get(kind, kind)}" for kind, n in sorted(result.kinds.items()))
        return f"{result.count} recording(s) ({parts})"
