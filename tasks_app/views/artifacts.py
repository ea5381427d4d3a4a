"""Artifact files, served only to members of the task's organization."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.clickjacking import xframe_options_sameorigin

from tasks_app.models import Artifact
from tasks_app.selectors import task_for_user


def _artifact_for(request: HttpRequest, task_id: UUID, artifact_id: int) -> Artifact:
    task = task_for_user(user=request.user, task_id=task_id)
    if task is None:
        raise Http404("not found")
    artifact = Artifact.objects.filter(task=task, pk=artifact_id).first()
    if artifact is None:
        raise Http404("not found")
    return artifact


def file_response(artifact: Artifact, *, thumbnail: bool = False, download: bool = False) -> FileResponse:
    field = artifact.thumbnail if thumbnail else artifact.file
    if not field:
        raise Http404("no such file")
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404("the file is missing from storage") from exc
    response = FileResponse(
        handle,
        content_type="image/jpeg" if thumbnail else artifact.content_type,
        as_attachment=download,
        filename=artifact.name,
    )
    # Captured pages must never run in our origin: no scripts, no same-origin access.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; media-src 'self'"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@xframe_options_sameorigin  # the gallery shows captured HTML in a sandboxed <iframe> of our own pages
def artifact_file(request: HttpRequest, task_id: UUID, artifact_id: int) -> FileResponse:
    return file_response(_artifact_for(request, task_id, artifact_id), download=request.GET.get("download") == "1")


@login_required
def artifact_thumbnail(request: HttpRequest, task_id: UUID, artifact_id: int) -> FileResponse:
    return file_response(_artifact_for(request, task_id, artifact_id), thumbnail=True)
