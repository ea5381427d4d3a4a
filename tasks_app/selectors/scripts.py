"""Read-only queries for scripts: a task's lineage, its versions, one version, always within an organization."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from agent_core.replay.script import Script as ScriptDocument
from agent_core.replay.script import ScriptError
from tasks_app.errors import NotFoundError
from tasks_app.models import Organization, Script, Task


def lineage_id_of(task: Task) -> Any:
    """The lineage a task belongs to: that of the version it replays, else its own (it may have recorded
    version 1). Reads no row: `task.script_id` is on the task, and the version's lineage is fetched only
    through `script` when the caller selected it (get_task does)."""
    if task.script_id is not None and task.script is not None:
        return task.script.lineage_id
    return task.pk


def script_versions(*, organization: Organization, lineage_id: Any) -> QuerySet[Script]:
    """The lineage's versions, newest first."""
    return Script.objects.filter(organization=organization, lineage_id=lineage_id).order_by("-version")


def latest_script(*, task: Task) -> Script | None:
    """The newest version of the task's lineage (what "run it again without the model" replays), or None
    when the task neither recorded a script nor replays one."""
    return script_versions(organization=task.organization, lineage_id=lineage_id_of(task)).first()


def get_script(*, organization: Organization, script_id: Any) -> Script:
    """One version by id if it belongs to the organization; NotFoundError otherwise (never reveals others')."""
    try:
        return Script.objects.select_related("lineage").get(pk=script_id, organization=organization)
    except (Script.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise NotFoundError("script not found") from exc


def script_version(*, organization: Organization, lineage_id: Any, version: int | None) -> Script | None:
    """Version `version` of the lineage (the newest when None), or None when there is no such version."""
    versions = script_versions(organization=organization, lineage_id=lineage_id)
    return versions.first() if version is None else versions.filter(version=version).first()


def find_script_for(*, organization: Organization, url: str, navigation_goal: str) -> Script | None:
    """The newest version of the newest lineage recorded for the same start URL and goal: how a client that
    names no script (Skyvern's `run_with: "code"`) finds the one its request recorded before."""
    lineage = (
        Script.objects.filter(
            organization=organization,
            version=1,
            lineage__url=url,
            lineage__navigation_goal=navigation_goal,
            lineage__engine=Task.Engine.DOM,
        )
        .order_by("-created_at", "-pk")
        .values_list("lineage_id", flat=True)
        .first()
    )
    if lineage is None:
        return None
    return script_versions(organization=organization, lineage_id=lineage).first()


def script_document(*, task_id: Any) -> dict[str, Any] | None:
    """The document of the version the task replays, None when it replays none (or it was deleted)."""
    return Script.objects.filter(replays__pk=task_id).values_list("document", flat=True).first()


def readable_document(script: Script) -> dict[str, Any]:
    """The document in its own key order (PostgreSQL's jsonb sorts keys by length): start URL and goals
    first, then each step's action, parameters, target, listing line and expectation. As stored if
    agent_core cannot read it."""
    try:
        return ScriptDocument.from_dict(script.document).to_dict()
    except ScriptError:
        return dict(script.document) if isinstance(script.document, dict) else {"document": script.document}
