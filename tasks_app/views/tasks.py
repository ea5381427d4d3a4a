"""Dashboard pages for tasks: the list, the new-task form, the detail page (live timeline, live view,
controls) and the artifact gallery. Reads go through selectors, writes through services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tasks_app import json_limits, services
from tasks_app.access import can_control, task_for_user
from tasks_app.errors import InvalidRequestError, LookoutError, NotFoundError, PermissionDeniedError
from tasks_app.forms import TaskForm
from tasks_app.models import Artifact, Task
from tasks_app.selectors import artifacts as artifact_selectors
from tasks_app.selectors import scripts as script_selectors
from tasks_app.selectors import tasks as task_selectors
from tasks_app.selectors.tasks import get_task
from tasks_app.templatetags.dashboard import format_duration
from tasks_app.views.base import SESSION_KEY, current_organization

PAGE_SIZE = 25
S = Task.Status


def _can_control(request: HttpRequest, organization: Any) -> bool:
    return can_control(organization=organization, actor=request.user)


def _task_or_404(request: HttpRequest, task_id: UUID | str) -> Task:
    """The task if the user is a member of its organization; 404 otherwise (other orgs' ids stay unknown).

    A member of several organizations who opens a link to another of their organizations' tasks is
    moved to that organization, so the switcher and the "New task" button match the page."""
    try:
        task_id = UUID(str(task_id))
    except ValueError as exc:
        raise Http404("task not found") from exc
    found = task_for_user(user=request.user, task_id=task_id)
    if found is None:
        raise Http404("task not found")
    if request.session.get(SESSION_KEY) != found.organization_id:
        request.session[SESSION_KEY] = found.organization_id
        request._lookout_org = found.organization  # type: ignore[attr-defined]
    return get_task(organization=found.organization, task_id=task_id)


def _is_fetch(request: HttpRequest) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


# ---- list -----------------------------------------------------------------------------------


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    org = current_organization(request)
    filters = {
        "status": request.GET.get("status", ""),
        "engine": request.GET.get("engine", ""),
        "run_with": request.GET.get("run_with", ""),
        "q": request.GET.get("q", "").strip()[:200],
    }
    page = None
    if org is not None:
        page = Paginator(task_selectors.task_page_list(organization=org, **filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "tasks_app/task_list.html",
        {
            "org": org,
            "page": page,
            "filters": filters,
            "filtered": any(filters.values()),
            "can_control": org is not None and _can_control(request, org),
            "status_choices": Task.Status.choices,
            "engine_choices": Task.Engine.choices,
            "run_with_choices": [(Task.RunWith.AGENT, "Runs of the model"), (Task.RunWith.SCRIPT, "Replays of a script")],
        },
    )


@login_required
@require_GET
def task_statuses(request: HttpRequest) -> JsonResponse:
    """`?id=<uuid>&id=…`: the current status of the listed tasks, for the list's live badges."""
    org = current_organization(request)
    tasks = task_selectors.task_statuses(organization=org, ids=request.GET.getlist("id")) if org else []
    return JsonResponse(
        {
            "tasks": [
                {
                    "id": str(t.pk),
                    "status": t.status,
                    "label": t.status.replace("_", " "),
                    "final": t.is_final,
                    "duration": format_duration(t.duration_seconds),
                    "steps": t.step_count,  # type: ignore[attr-defined]  # annotated by task_statuses
                }
                for t in tasks
            ]
        }
    )


# ---- new task -------------------------------------------------------------------------------


@login_required
def task_new(request: HttpRequest) -> HttpResponse:
    org = current_organization(request)
    if org is None:
        raise Http404("no organization")
    if not _can_control(request, org):
        return _forbidden(request, "Viewers cannot start runs; ask an organization admin for the operator role.")
    source = None
    if request.method == "POST":
        form = TaskForm(request.POST, organization=org)
        if form.is_valid():
            try:
                task = services.create_task(organization=org, created_by=request.user, **form.request_fields())
            except InvalidRequestError as exc:
                form.add_service_error(exc)
            except PermissionDeniedError as exc:
                return _forbidden(request, exc.message)
            else:
                messages.success(request, "Task created and queued.")
                return redirect("task-detail", task_id=task.pk)
        status = 400
    else:
        initial = {}
        if request.GET.get("from"):
            source = _task_or_404(request, request.GET["from"])
            org = source.organization
            initial = TaskForm.initial_from(source)
        form = TaskForm(initial=initial, organization=org)
        status = 200
    return render(request, "tasks_app/task_new.html", {"form": form, "org": org, "source": source}, status=status)


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    if _is_fetch(request):
        return JsonResponse({"ok": False, "message": message}, status=403)
    return render(request, "tasks_app/forbidden.html", {"message": message}, status=403)


# ---- detail ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    name: str
    label: str
    service: Callable[..., Task]
    when: frozenset[str]
    done: str
    style: str = ""
    confirm: str = ""


CONTROLS: dict[str, Control] = {
    c.name: c
    for c in (
        Control("pause", "Pause", services.pause_task, frozenset({S.RUNNING}), "Paused: the run stops at its next checkpoint."),
        Control("resume", "Resume", services.resume_task, frozenset({S.PAUSED}), "Resumed."),
        Control(
            "retry-step",
            "Retry step",
            services.retry_step,
            frozenset({S.PAUSED}),
            "Resumed: the model is asked again from the current page.",
        ),
        Control(
            "terminate",
            "Terminate",
            services.terminate_task,
            frozenset({S.RUNNING, S.PAUSED, S.AWAITING_APPROVAL, S.AWAITING_INPUT}),
            "Terminated: the run stops as soon as possible.",
            style="danger",
            confirm="Terminate this run? It cannot be resumed.",
        ),
        Control("cancel", "Cancel", services.cancel_task, frozenset({S.CREATED, S.QUEUED}), "Canceled.", style="danger"),
        Control("retry", "Retry", services.retry_task, Task.FINAL_STATUSES, "Started a new run with the same request."),
        Control(
            "approve",
            "Approve",
            services.approve_safety_checks,
            frozenset({S.AWAITING_APPROVAL}),
            "Approved: the held action runs now.",
            style="primary",
        ),
        Control(
            "deny",
            "Deny",
            services.deny_safety_checks,
            frozenset({S.AWAITING_APPROVAL}),
            "Denied: the action will not run, and the run ends.",
            style="danger",
        ),
        Control(
            "take-control",
            "Take control",
            services.take_control,
            frozenset({S.RUNNING, S.PAUSED, S.AWAITING_INPUT}),
            "You have control: the agent pauses at its next checkpoint; click into the browser view to drive it.",
            style="primary",
        ),
        Control(
            "release-control",
            "Release control",
            services.release_control,
            frozenset({S.RUNNING, S.PAUSED, S.AWAITING_INPUT}),
            "Control released: the agent carries on from the page as you left it.",
        ),
    )
}
# Shown in the header; approve and deny live in the approval panel.
HEADER_CONTROLS = ("pause", "resume", "retry-step", "cancel", "terminate", "retry")


def _detail_context(request: HttpRequest, task: Task) -> dict[str, Any]:
    can_control = _can_control(request, task.organization)
    return {
        "script": script_selectors.latest_script(task=task),
        "task": task,
        "can_control": can_control,
        "controls": [CONTROLS[name] for name in HEADER_CONTROLS] if can_control else [],
        "take_control": CONTROLS["take-control"] if can_control else None,
        "release_control": CONTROLS["release-control"] if can_control else None,
        "holding": bool(task.control_holder_label) and task.control_holder_id == request.user.pk and not task.is_final,
        "counts": task_selectors.step_counts(task=task),
        "screenshot": artifact_selectors.latest_screenshot(task=task),
    }


@login_required
def task_detail(request: HttpRequest, task_id: UUID) -> HttpResponse:
    task = _task_or_404(request, task_id)
    return render(request, "tasks_app/task_detail.html", _detail_context(request, task))


@login_required
def task_summary(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """The detail page's facts and result, re-fetched by the page when the timeline says they changed."""
    task = _task_or_404(request, task_id)
    return render(request, "tasks_app/_task_summary.html", _detail_context(request, task))


def _refused(request: HttpRequest, task: Task, exc: LookoutError) -> HttpResponse:
    """A control or an answer the task's state (or the input) refused: JSON to the page's fetch, or a
    redirect back with the message."""
    message = exc.message[:1].upper() + exc.message[1:] + "."
    if _is_fetch(request):
        return JsonResponse({"ok": False, "message": message}, status=exc.http_status)
    messages.error(request, message)
    return redirect("task-detail", task_id=task.pk)


@login_required
@require_POST
def task_answer(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """The answer to the agent's question (form field `answer`), like a control: JSON to the page's fetch,
    or a redirect back with a message."""
    task = _task_or_404(request, task_id)
    try:
        services.answer_question(task=task, by=request.user, answer=request.POST.get("answer", ""))
    except PermissionDeniedError as exc:
        return _forbidden(request, exc.message)
    except LookoutError as exc:  # InvalidRequestError (400), TaskStateError (409)
        return _refused(request, task, exc)
    done = "Answer sent: the agent carries on with it."
    if _is_fetch(request):
        return JsonResponse({"ok": True, "message": done, "status": S.RUNNING, "redirect": None})
    messages.success(request, done)
    return redirect("task-detail", task_id=task.pk)


@login_required
@require_POST
def task_control(request: HttpRequest, task_id: UUID, action: str) -> HttpResponse:
    """One operator control (pause, resume, …) through its service. Answers JSON to the page's fetch,
    or redirects back with a message."""
    task = _task_or_404(request, task_id)
    control = CONTROLS.get(action)
    if control is None:
        raise Http404("no such control")
    try:
        result = control.service(task=task, by=request.user)
    except PermissionDeniedError as exc:
        return _forbidden(request, exc.message)
    except LookoutError as exc:  # TaskStateError (409), NotFoundError (404)
        return _refused(request, task, exc)
    target = reverse("task-detail", args=[result.pk])
    if _is_fetch(request):
        return JsonResponse(
            {"ok": True, "message": control.done, "status": result.status, "redirect": target if result.pk != task.pk else None}
        )
    messages.success(request, control.done)
    return redirect(target)


# ---- scripts ----------------------------------------------------------------------------------


@login_required
@require_POST
def task_replay(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """"Run again without the model": a new task replaying the newest script of this task's lineage, with the
    recorded payload or the JSON given in `navigation_payload`. JSON to the page's fetch, or a redirect."""
    task = _task_or_404(request, task_id)
    changes: dict[str, Any] = {}
    text = request.POST.get("navigation_payload", "").strip()
    try:
        if text:
            try:
                changes["navigation_payload"] = json_limits.loads(text)
            except (ValueError, json_limits.JSONTooDeepError) as exc:
                raise InvalidRequestError(f"the new payload is not valid JSON: {exc}", field="navigation_payload") from exc
        replay = services.replay_task(organization=task.organization, by=request.user, replay_of=task, **changes)
    except PermissionDeniedError as exc:
        return _forbidden(request, exc.message)
    except LookoutError as exc:  # InvalidRequestError: no script, bad payload
        return _refused(request, task, exc)
    done = f"Replaying version {replay.script.version if replay.script else '?'} of the script without the model."
    target = reverse("task-detail", args=[replay.pk])
    if _is_fetch(request):
        return JsonResponse({"ok": True, "message": done, "status": replay.status, "redirect": target})
    messages.success(request, done)
    return redirect(target)


@login_required
def task_script(request: HttpRequest, task_id: UUID) -> HttpResponse:
    """The script of the task's lineage as readable JSON (`?version=N`, the newest by default), its versions."""
    task = _task_or_404(request, task_id)
    lineage_id = script_selectors.lineage_id_of(task)
    versions = list(script_selectors.script_versions(organization=task.organization, lineage_id=lineage_id))
    wanted = request.GET.get("version", "")
    script = next((v for v in versions if wanted in ("", str(v.version))), None)
    if script is None:
        raise Http404("no such script version" if versions else "this task has no script")
    return render(
        request,
        "tasks_app/task_script.html",
        {"task": task, "script": script, "document": script_selectors.readable_document(script), "versions": versions,
         "lineage_id": lineage_id, "can_control": _can_control(request, task.organization)},
    )


# ---- artifacts --------------------------------------------------------------------------------


@login_required
def task_artifacts(request: HttpRequest, task_id: UUID) -> HttpResponse:
    task = _task_or_404(request, task_id)
    kind, step = request.GET.get("kind", ""), request.GET.get("step", "")
    artifacts = artifact_selectors.gallery_artifacts(task=task, kind=kind, step=step)
    return render(
        request,
        "tasks_app/task_artifacts.html",
        {
            "task": task,
            "kind": kind,
            "step": step,
            "screenshots": [a for a in artifacts if a.kind in Artifact.SCREENSHOT_KINDS],
            "others": [a for a in artifacts if a.kind not in Artifact.SCREENSHOT_KINDS],
            **artifact_selectors.gallery_filters(task=task),
        },
    )


@login_required
def artifact_detail(request: HttpRequest, task_id: UUID, artifact_id: int) -> HttpResponse:
    task = _task_or_404(request, task_id)
    try:
        artifact = artifact_selectors.get_artifact(task=task, artifact_id=artifact_id)
    except NotFoundError as exc:
        raise Http404("artifact not found") from exc
    viewer = artifact_selectors.viewer_for(artifact)
    preview = artifact_selectors.artifact_preview(artifact) if viewer in ("json", "text") else None
    return render(
        request,
        "tasks_app/artifact_detail.html",
        {"task": task, "artifact": artifact, "viewer": viewer, "preview": preview},
    )
