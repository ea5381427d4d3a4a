"""Run recordings on the dashboard: the task page's recordings section (video, trace, HAR and its request
table, sizes, notes), and Playwright's own trace viewer served from the installed playwright package.

The viewer is a static app with a service worker (`sw.bundle.js`) that fetches the trace from the
`?trace=` URL it is given: here always an org-checked artifact file URL of this origin, which the
service worker fetches with the user's session cookie. Nothing is loaded from outside Lookout.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from agent_core.recording import trace_viewer_dir
from tasks_app.access import task_for_user
from tasks_app.models import Artifact, Task
from tasks_app.security import HEADER as CSP_HEADER
from tasks_app.security import header_value, policy
from tasks_app.selectors.artifacts import get_trace, run_recordings
from tasks_app.selectors.events import event_data_of_type
from tasks_app.services.runs import RECORDING_NOTE

HAR_PARSE_LIMIT_BYTES = 25_000_000  # bigger HARs are offered for download only
HAR_ROWS = 300

_VIEWER_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ttf": "font/ttf",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
    ".map": "application/json",
}
# Entry points must always be fresh (a playwright upgrade renames the hashed files they load).
_VIEWER_UNCACHED = {"index.html", "sw.bundle.js", "snapshot.html", "uiMode.html", "manifest.webmanifest"}


# ---- what the recordings section shows --------------------------------------------------------


@dataclass(frozen=True)
class HarRow:
    method: str
    url: str
    status: int
    size: int  # response body bytes (-1 when unknown)
    time_ms: float


@dataclass
class HarSummary:
    rows: list[HarRow] = field(default_factory=list)
    total: int = 0
    error: str = ""

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


@dataclass
class Recordings:
    """A task's recordings for the dashboard: artifacts by kind, why any is missing, the HAR's requests."""

    task: Task
    videos: list[Artifact]
    traces: list[Artifact]
    hars: list[Artifact]
    notes: list[str]
    off_reason: str  # why runs of this task's organization are not recorded ("" when they are)
    har: HarSummary | None

    @property
    def artifacts(self) -> list[Artifact]:
        return [*self.videos, *self.traces, *self.hars]

    @property
    def total_size(self) -> int:
        return sum(a.size for a in self.artifacts)


def read_har(artifact: Artifact, *, limit: int = HAR_ROWS) -> HarSummary:
    """The requests a HAR artifact lists (at most `limit` rows); an `error` instead when it is unreadable."""
    if artifact.size > HAR_PARSE_LIMIT_BYTES:
        return HarSummary(error="This HAR is too large to list here; download it to open it in a HAR viewer.")
    try:
        with artifact.file.open("rb") as handle:
            har = json.load(handle)
        entries = [e for e in har["log"]["entries"] if isinstance(e, dict)]
        rows = [_har_row(entry) for entry in entries[:limit]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return HarSummary(error="The HAR could not be read.")
    return HarSummary(rows=rows, total=len(entries))


def _har_row(entry: dict[str, Any]) -> HarRow:
    request, response = entry.get("request") or {}, entry.get("response") or {}
    size = (response.get("content") or {}).get("size")
    if not isinstance(size, int) or size < 0:
        size = response.get("bodySize") if isinstance(response.get("bodySize"), int) else -1
    return HarRow(
        method=str(request.get("method") or ""),
        url=str(request.get("url") or ""),
        status=int(response.get("status") or 0),
        size=size if isinstance(size, int) else -1,
        time_ms=float(entry.get("time") or 0),
    )


def recordings_for(*, task: Task, with_har: bool = True) -> Recordings:
    """Read-only: the task's recording, trace and HAR artifacts and the notes about missing ones."""
    artifacts = run_recordings(task=task)
    hars = [a for a in artifacts if a.kind == Artifact.Kind.HAR]
    notes = [
        str(data.get("reason") or "")
        for data in event_data_of_type(task_id=task.pk, type=RECORDING_NOTE)
    ]
    return Recordings(
        task=task,
        videos=[a for a in artifacts if a.kind == Artifact.Kind.RECORDING],
        traces=[a for a in artifacts if a.kind == Artifact.Kind.TRACE],
        hars=hars,
        notes=[n for n in dict.fromkeys(notes) if n],
        off_reason=_off_reason(task),
        har=read_har(hars[-1]) if hars and with_har else None,
    )


def _off_reason(task: Task) -> str:
    """The same rule runs.config.records_runs applies to runs, worded for the page."""
    if not settings.LOOKOUT_RECORD_RUNS:
        return "Recording is off on this server (LOOKOUT_RECORD_RUNS)."
    if not task.organization.record_runs:
        return "Recording is off for this organization."
    return ""


def _task_or_404(request: HttpRequest, task_id: UUID | str) -> Task:
    task = task_for_user(user=request.user, task_id=task_id)
    if task is None:
        raise Http404("task not found")
    return task


@login_required
@require_GET
def task_recordings(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """The task page's recordings section alone, fetched again by the page when a run ends."""
    task = _task_or_404(request, task_id)
    return render(request, "tasks_app/_recordings.html", {"task": task})


# ---- the trace viewer ---------------------------------------------------------------------------


def viewer_url(artifact: Artifact) -> str:
    """Where "Open trace" goes: the viewer, told to load this artifact's org-checked file URL."""
    trace = reverse("artifact-file", args=[artifact.task_id, artifact.pk])
    return reverse("trace-viewer-index") + "?" + urlencode({"trace": trace})


def _trace_from_query(request: HttpRequest) -> Artifact:
    """The trace artifact the viewer's `?trace=` names: a same-origin artifact file URL of a trace that the
    user's organization owns. Anything else is a 404, so the viewer never loads other sites' traces here."""
    parts = urlsplit(request.GET.get("trace", ""))
    if parts.scheme or parts.netloc or not parts.path:
        raise Http404("no trace")
    try:
        match = resolve(parts.path)
    except Resolver404 as exc:
        raise Http404("no trace") from exc
    if match.url_name != "artifact-file":
        raise Http404("no trace")
    task = _task_or_404(request, match.kwargs["task_id"])
    artifact = get_trace(task=task, artifact_id=match.kwargs["artifact_id"])
    if artifact is None:
        raise Http404("no trace")
    return artifact


@login_required
@require_GET
def trace_open(request: HttpRequest, task_id: UUID, artifact_id: int) -> HttpResponse:
    """"Open trace": to Playwright's viewer with this trace, for members of the task's organization."""
    task = _task_or_404(request, task_id)
    artifact = get_trace(task=task, artifact_id=artifact_id)
    if artifact is None:
        raise Http404("no such trace")
    return HttpResponseRedirect(viewer_url(artifact))


@login_required
@require_GET
@xframe_options_sameorigin  # the viewer shows snapshots in iframes of its own pages
def trace_viewer(request: HttpRequest, path: str = "") -> HttpResponseBase:
    """Playwright's trace viewer files, from the installed playwright package. The page itself (index)
    opens only with a `?trace=` the user may read; the other files are Playwright's code, the same for all."""
    root = trace_viewer_dir()
    if root is None:
        raise Http404("this playwright package ships no trace viewer")
    path = path or "index.html"
    if path == "index.html":
        _trace_from_query(request)
    target = (root / path).resolve()
    if root.resolve() not in target.parents or not target.is_file():
        raise Http404("no such file")
    response = FileResponse(target.open("rb"), content_type=_content_type(target))
    if target.name in _VIEWER_UNCACHED:
        response["Cache-Control"] = "no-cache"
    else:
        response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    # Playwright's app: same-origin only, but it needs inline scripts and styles, blob: workers and frames
    # (its snapshots render in iframes of its own pages).
    response[CSP_HEADER] = header_value(policy(
        request,
        script_src=["'self'", "'unsafe-inline'"],
        style_src=["'self'", "'unsafe-inline'"],
        connect_src=["'self'", "data:", "blob:"],
        worker_src=["'self'", "blob:"],
        frame_src=["'self'", "blob:", "data:"],
        frame_ancestors=["'self'"],
    ))
    if target.name == "index.html":
        response["Referrer-Policy"] = "same-origin"
    return response


def _content_type(path: Path) -> str:
    return _VIEWER_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
