"""Read-only queries the dashboard pages need on top of tasks_app.selectors: filtered lists, live statuses,
gallery contents and artifact previews. Everything here is scoped by a task or organization the caller
already resolved with a membership check."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from tasks_app import json_limits
from tasks_app.models import Artifact, Organization, Step, Task
from tasks_app.selectors import list_artifacts, list_tasks

# Types that have a useful in-page viewer; everything can be downloaded.
PREVIEW_LIMIT_BYTES = 1_000_000


def filter_tasks(*, organization: Organization, status: str = "", engine: str = "", q: str = "") -> QuerySet[Task]:
    """The organization's tasks, newest first, with `step_count`; unknown filter values are ignored."""
    # Meta.ordering is not applied to GROUP BY queries, so the order is spelled out.
    tasks = list_tasks(organization=organization).annotate(step_count=Count("steps")).order_by("-created_at", "-pk")
    if status in Task.Status.values:
        tasks = tasks.filter(status=status)
    if engine in Task.Engine.values:
        tasks = tasks.filter(engine=engine)
    if q:
        tasks = tasks.filter(
            Q(url__icontains=q)
            | Q(title__icontains=q)
            | Q(navigation_goal__icontains=q)
            | Q(data_extraction_goal__icontains=q)
        )
    return tasks


def task_statuses(*, organization: Organization, ids: list[str]) -> QuerySet[Task]:
    """The listed tasks of the organization (unknown or malformed ids are skipped), for status polling."""
    valid = []
    for raw in ids[:200]:
        try:
            valid.append(uuid.UUID(raw))
        except ValueError:
            continue
    return (
        Task.objects.filter(organization=organization, pk__in=valid)
        .annotate(step_count=Count("steps"))
        .only("id", "status", "started_at", "finished_at")
    )


@dataclass(frozen=True)
class StepCounts:
    steps: int
    attempts: int

    @property
    def retries(self) -> int:
        return self.attempts - self.steps


def step_counts(*, task: Task) -> StepCounts:
    """Distinct step orders, and step rows including retried attempts."""
    row = task.steps.aggregate(attempts=Count("id"), steps=Count("order", distinct=True))
    return StepCounts(steps=row["steps"] or 0, attempts=row["attempts"] or 0)


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
