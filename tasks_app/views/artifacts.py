"""Artifact files, served only to members of the task's organization."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.clickjacking import xframe_options_sameorigin

from tasks_app.access import task_for_user
from tasks_app.errors import NotFoundError
from tasks_app.models import Artifact
from tasks_app.selectors.artifacts import get_artifact


def _artifact_for(request: HttpRequest, task_id: UUID, artifact_id: int) -> Artifact:
    task = task_for_user(user=request.user, task_id=task_id)
    if task is None:
        raise Http404("not found")
    try:
        return get_artifact(task=task, artifact_id=artifact_id)
    except NotFoundError as exc:
        raise Http404("not found") from exc


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
UNSATISFIABLE = "unsatisfiable"


def byte_range(header: str, size: int) -> tuple[int, int] | str | None:
    """The (first, last) byte positions a `Range: bytes=...` header asks for in a file of `size` bytes,
    UNSATISFIABLE when none of them exist, or None to send the whole file (no header, a malformed one, or
    several ranges, which RFC 9110 lets a server ignore)."""
    match = _RANGE.match(header or "")
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # "bytes=-500": the last 500 bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        return UNSATISFIABLE
    return start, end


class _Slice:
    """The next `length` bytes of an open file, for FileResponse (which reads until b"")."""

    def __init__(self, handle: Any, length: int) -> None:
        self.handle = handle
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        want = self.remaining if size < 0 else min(size, self.remaining)
        data = self.handle.read(want)
        self.remaining -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


def file_response(
    artifact: Artifact, *, thumbnail: bool = False, download: bool = False, request: HttpRequest | None = None
) -> HttpResponseBase:
    """The artifact's file (or thumbnail). With `request`, a `Range: bytes=a-b` header gets a 206 with
    those bytes (a 416 when they do not exist), so videos are seekable; `If-Range` with another
    validator than our ETag gets the whole file."""
    field = artifact.thumbnail if thumbnail else artifact.file
    if not field:
        raise Http404("no such file")
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404("the file is missing from storage") from exc
    content_type = "image/jpeg" if thumbnail else artifact.content_type
    size = field.size
    etag = f'"{"t" if thumbnail else "a"}{artifact.pk}-{size}"'  # artifacts never change once stored
    wanted = None
    if request is not None and request.method in ("GET", "HEAD"):
        if_range = request.headers.get("If-Range")
        if not if_range or if_range == etag:
            wanted = byte_range(request.headers.get("Range", ""), size)
    response: HttpResponseBase
    if wanted == UNSATISFIABLE:
        handle.close()
        response = HttpResponse(status=416, content_type=content_type)
        response["Content-Range"] = f"bytes */{size}"
    elif isinstance(wanted, tuple):
        start, end = wanted
        handle.seek(start)
        response = FileResponse(
            _Slice(handle, end - start + 1), status=206, content_type=content_type, as_attachment=download, filename=artifact.name
        )
        response["Content-Length"] = str(end - start + 1)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(handle, content_type=content_type, as_attachment=download, filename=artifact.name)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    # Captured pages must never run in our origin: no scripts, no same-origin access.
    response["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; media-src 'self'; frame-ancestors 'self'"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@xframe_options_sameorigin  # the gallery shows captured HTML in a sandboxed <iframe> of our own pages
def artifact_file(request: HttpRequest, task_id: UUID, artifact_id: int) -> HttpResponseBase:
    artifact = _artifact_for(request, task_id, artifact_id)
    return file_response(artifact, download=request.GET.get("download") == "1", request=request)


@login_required
def artifact_thumbnail(request: HttpRequest, task_id: UUID, artifact_id: int) -> HttpResponseBase:
    return file_response(_artifact_for(request, task_id, artifact_id), thumbnail=True, request=request)
