"""Read-only queries for a task's artifacts: lists, the gallery, previews and old recordings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet

from tasks_app import json_limits
from tasks_app.errors import NotFoundError
from tasks_app.models import Artifact, Organization, Step, Task

# Types that have a useful in-page viewer; everything can be downloaded.
PREVIEW_LIMIT_BYTES = 1_000_000
RECORDING_KINDS = (Artifact.Kind.RECORDING, Artifact.Kind.TRACE, Artifact.Kind.HAR)


def list_artifacts(*, task: Task) -> QuerySet[Artifact]:
    return task.artifacts.select_related("step", "action")


def get_artifact(*, task: Task, artifact_id: Any) -> Artifact:
    """An artifact of this (already org-checked) task, or NotFoundError."""
    artifact = task.artifacts.select_related("step", "action").filter(pk=artifact_id).first()
    if artifact is None:
        raise NotFoundError("artifact not found")
    return artifact


def artifacts_of_kinds(*, task: Task, kinds: Iterable[str] | None = None) -> QuerySet[Artifact]:
    artifacts = list_artifacts(task=task)
    return artifacts.filter(kind__in=list(kinds)) if kinds is not None else artifacts


def has_artifact(*, task_id: Any, kind: str) -> bool:
    return Artifact.objects.filter(task_id=task_id, kind=kind).exists()


def latest_screenshot(*, task: Task) -> Artifact | None:
    return task.artifacts.filter(kind__in=Artifact.SCREENSHOT_KINDS).order_by("-created_at", "-id").first()


def gallery_artifacts(*, task: Task, kind: str = "", step: str = "") -> list[Artifact]:
    """The task's artifacts in step order (run-level ones, like the recording, last).

    `kind` is an artifact kind or "screenshot" for the three screenshot kinds; `step` a step order."""
    artifacts = list_artifacts(task=task)
    if kind == "screenshot":
        artifacts = artifacts.filter(kind__in=Artifact.SCREENSHOT_KINDS)
    elif kind in Artifact.Kind.values:
        artifacts = artifacts.filter(kind=kind)
    if step.isdigit():
        artifacts = artifacts.filter(step__order=int(step))
    ordered = list(artifacts)
    # Step-less artifacts (final screenshot, recording, trace, HAR, downloads) belong after the last step.
    ordered.sort(
        key=lambda a: (
            a.step is None,
            a.step.order if a.step else 0,
            a.step.retry_index if a.step else 0,
            a.action.index if a.action else -1,
            a.created_at,
            a.pk,
        )
    )
    return ordered


def gallery_filters(*, task: Task) -> dict[str, Any]:
    """The kinds (with counts) and step orders this task has, for the gallery's filter menus."""
    counts = dict(task.artifacts.values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))
    kinds = [(value, label, counts[value]) for value, label in Artifact.Kind.choices if value in counts]
    screenshots = sum(counts.get(k, 0) for k in Artifact.SCREENSHOT_KINDS)
    steps = list(Step.objects.filter(task=task).values_list("order", flat=True).distinct().order_by("order"))
    return {"kinds": kinds, "screenshot_count": screenshots, "steps": steps}


def viewer_for(artifact: Artifact) -> str:
    """How the artifact page shows this artifact: image, video, html, json, text, or download only."""
    ctype = (artifact.content_type or "").split(";")[0].strip().lower()
    name = artifact.name.lower()
    if artifact.kind in Artifact.SCREENSHOT_KINDS or ctype.startswith("image/"):
        return "image"
    if artifact.kind == Artifact.Kind.RECORDING or ctype.startswith("video/"):
        return "video"
    if artifact.kind in (Artifact.Kind.HTML_SCRAPE, Artifact.Kind.HTML_ACTION) or ctype == "text/html":
        return "html"
    if ctype == "application/json" or name.endswith((".json", ".har")) or artifact.kind == Artifact.Kind.HAR:
        return "json"
    if ctype.startswith("text/") or artifact.kind in (Artifact.Kind.LLM_PROMPT, Artifact.Kind.ELEMENT_TREE_PROMPT):
        return "text"
    return "download"


@dataclass(frozen=True)
class Preview:
    text: str
    truncated: bool
    pretty: bool  # JSON re-indented


def artifact_preview(artifact: Artifact, *, limit: int = PREVIEW_LIMIT_BYTES) -> Preview | None:
    """The artifact's text (JSON pretty-printed when it parses), at most `limit` bytes; None if unreadable."""
    try:
        with artifact.file.open("rb") as handle:
            raw = handle.read(limit + 1)
    except (FileNotFoundError, ValueError, OSError):
        return None
    truncated = len(raw) > limit
    text = raw[:limit].decode("utf-8", errors="replace")
    if not truncated and viewer_for(artifact) == "json":
        try:
            return Preview(json.dumps(json_limits.loads(text), indent=2, ensure_ascii=False), False, True)
        except ValueError:
            pass
    return Preview(text, truncated, False)


def old_artifacts(
    *, older_than: datetime, organization: Organization | None = None, recordings: bool = False
) -> QuerySet[Artifact]:
    """Artifacts created before `older_than`: the recordings (video, trace, HAR), or everything else."""
    kinds = Artifact.objects.filter(kind__in=RECORDING_KINDS)
    artifacts = (kinds if recordings else Artifact.objects.exclude(kind__in=RECORDING_KINDS)).filter(created_at__lt=older_than)
    if organization is not None:
        artifacts = artifacts.filter(task__organization=organization)
    return artifacts.select_related("task__organization").order_by("task__organization__slug", "created_at", "id")


def run_recordings(*, task: Task) -> list[Artifact]:
    """The task's video, trace and HAR, oldest first."""
    return list(task.artifacts.filter(kind__in=RECORDING_KINDS).order_by("created_at", "id"))


def get_trace(*, task: Task, artifact_id: Any) -> Artifact | None:
    return task.artifacts.filter(pk=artifact_id, kind=Artifact.Kind.TRACE).first()
