"""Writes on run recordings: pruning old videos, traces and HARs (rows and files) to bound storage."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from tasks_app.models import Organization
from tasks_app.selectors.artifacts import old_artifacts

logger = logging.getLogger(__name__)



@dataclass
class PrunedRecordings:
    """What pruning removed (or, in a dry run, would remove) for one organization."""

    organization: Organization
    count: int = 0
    size: int = 0  # bytes, from the artifacts' recorded sizes
    kinds: Counter[str] = field(default_factory=Counter)
    failed: int = 0  # files storage refused to delete (their rows are kept, to try again next time)


def prune_recordings(
    *, older_than: datetime, organization: Organization | None = None, dry_run: bool = False, recordings: bool = True
) -> list[PrunedRecordings]:
    """Delete recording, trace and HAR artifacts created before `older_than` (of one organization, or all):
    files from storage first, then their rows. Returns per-organization totals, in slug order.

    Safe to run again: an artifact whose file storage could not delete keeps its row and is retried next
    time; a file already gone counts as deleted. With recordings=False, the other artifacts instead
    (screenshots, pages, prompts, downloads)."""
    results: dict[int, PrunedRecordings] = {}
    old = old_artifacts(older_than=older_than, organization=organization, recordings=recordings)
    for artifact in old.iterator(chunk_size=500):
        org = artifact.task.organization
        result = results.setdefault(org.pk, PrunedRecordings(organization=org))
        if not dry_run:
            try:
                for stored in (artifact.file, artifact.thumbnail):
                    if stored and stored.name:
                        stored.storage.delete(stored.name)
            except Exception:  # noqa: BLE001 - one stubborn file must not stop the rest
                logger.exception("could not delete %s of artifact %s", artifact.file.name, artifact.pk)
                result.failed += 1
                continue
            artifact.delete()
        result.count += 1
        result.size += artifact.size
        result.kinds[artifact.kind] += 1
    return list(results.values())
