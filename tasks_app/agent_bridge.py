"""The one module that touches both worlds: runs agent_core for a Task and turns what it reports into rows,
stored artifacts and live events.

- `DjangoRunHooks` persists steps, actions, artifacts (with thumbnails) and numbered TaskEvents, publishing
  each after commit; llm deltas and live frames go straight to the channel layer, unstored.
- `DbControl` makes the task row the source of truth for pause / resume / terminate / retry-step / approvals;
  a `control.wake` message on the channel layer makes it re-read the row at once, a slow poll backs it up.
- `execute_task` is the one coroutine both runners (Celery job, in-process) and `run_task` call.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import socket
import tempfile
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agent_core.browser import BrowserManager, BrowserSession
from agent_core.control import LocalControl
from agent_core.errors import RunTerminatedError
from agent_core.llm import OpenAIClient
from agent_core.recording import find_ffmpeg
from agent_core.runner import run_task
from agent_core.types import (
    ActionFinished,
    ActionStarted,
    AgentConfig,
    ArtifactOut,
    BrowserConfig,
    Engine,
    Frame,
    LLMConfig,
    LLMDelta,
    LLMResponse,
    RunHooks,
    RunOutcome,
    RunStatus,
    SafetyCheck,
    StepFinished,
    StepStarted,
    TaskSpec,
)
from tasks_app import services
from tasks_app.events import apublish, control_group, frames_group, task_group
from tasks_app.models import Action, Artifact, Organization, Step, Task
from tasks_app.pricing import cost_of

logger = logging.getLogger(__name__)


# ---- configuration ------------------------------------------------------------------------


def spec_from_task(task: Task) -> TaskSpec:
    return TaskSpec(
        url=task.url,
        navigation_goal=task.navigation_goal,
        data_extraction_goal=task.data_extraction_goal,
        navigation_payload=task.navigation_payload,
        extracted_information_schema=task.extracted_information_schema,
        error_code_mapping=task.error_code_mapping or {},
        engine=Engine(task.engine),
        max_steps=task.max_steps,
        title=task.title,
    )


def llm_config(task: Task | None = None) -> LLMConfig:
    model = (task.model if task is not None else "") or ""
    return LLMConfig(
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL,
        model=model or settings.LOOKOUT_MODEL,
        extraction_model=settings.LOOKOUT_EXTRACTION_MODEL,
        cua_model=model or settings.LOOKOUT_CUA_MODEL,
        timeout_s=settings.LOOKOUT_LLM_TIMEOUT,
    )


def records_runs(organization: Organization | None) -> bool:
    """Whether runs of `organization` are recorded (video, trace, HAR): LOOKOUT_RECORD_RUNS and the
    organization's own switch."""
    return bool(settings.LOOKOUT_RECORD_RUNS and organization is not None and organization.record_runs)


NO_FFMPEG = (
    "No video for this run: ffmpeg was not found (install Debian's ffmpeg package, e.g. `make system-deps`). "
    "The trace and the HAR were still recorded."
)


def browser_config(*, workdir: str | None = None, organization: Organization | None = None) -> BrowserConfig:
    """The process-wide browser settings; with `workdir`, a run's own downloads folder inside it, and when
    `organization` records runs, its video (if ffmpeg is there), trace and HAR under `workdir/recordings`."""
    record = workdir is not None and records_runs(organization)
    recordings = f"{workdir}/recordings"
    return BrowserConfig(
        executable_path=settings.LOOKOUT_CHROMIUM,
        headless=settings.LOOKOUT_HEADLESS,
        upload_dirs=tuple(settings.LOOKOUT_UPLOAD_DIRS),
        downloads_dir=f"{workdir}/downloads" if workdir else None,
        video_dir=recordings if record and find_ffmpeg() else None,
        har_path=f"{recordings}/network.har" if record else None,
        trace=record,
    )


def agent_config(task: Task) -> AgentConfig:
    org = task.organization
    return AgentConfig(max_steps=org.max_steps_per_run, max_retries_per_step=org.max_retries_per_step)


# ---- hooks --------------------------------------------------------------------------------


def _thumbnail(data: bytes, width: int = 320) -> bytes | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("RGB")
            img.thumbnail((width, width * 4))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=70)
            return out.getvalue()
    except Exception:  # noqa: BLE001 - a thumbnail is a nicety; the artifact itself is kept
        logger.warning("could not make a thumbnail", exc_info=True)
        return None


def artifact_data(artifact: Artifact) -> dict[str, Any]:
    from django.urls import reverse

    return {
        "id": artifact.pk,
        "kind": artifact.kind,
        "name": artifact.name,
        "content_type": artifact.content_type,
        "size": artifact.size,
        "step_id": artifact.step_id,
        "action_id": artifact.action_id,
        "url": reverse("artifact-file", args=[artifact.task_id, artifact.pk]),
        "thumbnail_url": reverse("artifact-thumbnail", args=[artifact.task_id, artifact.pk]) if artifact.thumbnail else None,
    }


class DjangoRunHooks(RunHooks):
    """Writes what the agent reports. Every DB write runs in a worker thread (database_sync_to_async)."""

    def __init__(self, task: Task) -> None:
        self.task_id = task.pk
        self.steps: dict[tuple[int, int], int] = {}
        self.actions: dict[tuple[int, int], int] = {}
        self.session: BrowserSession | None = None
        self._frame_pending: Frame | None = None
        self._frame_sender: asyncio.Task[None] | None = None
        self.layer = get_channel_layer()

    # steps
    @database_sync_to_async
    def _step_started(self, event: StepStarted) -> None:
        with transaction.atomic():
            step = Step.objects.create(
                task_id=self.task_id, order=event.step.order, retry_index=event.step.retry_index, url=event.url[:2048]
            )
            Task.objects.filter(pk=self.task_id).update(heartbeat_at=timezone.now())
            self.steps[(event.step.order, event.step.retry_index)] = step.pk
            services.record_event(
                task_id=self.task_id,
                type="step.started",
                data={"step_id": step.pk, "order": step.order, "retry_index": step.retry_index, "url": step.url},
            )

    async def step_started(self, event: StepStarted) -> None:
        await self._step_started(event)

    @database_sync_to_async
    def _step_finished(self, event: StepFinished) -> None:
        step_id = self.steps.get((event.step.order, event.step.retry_index))
        if step_id is None:
            return
        cost = cost_of(event.usage)
        with transaction.atomic():
            Step.objects.filter(pk=step_id).update(
                status=Step.Status.COMPLETED if event.success else Step.Status.FAILED,
                error=event.error or "",
                input_tokens=event.usage.input_tokens,
                output_tokens=event.usage.output_tokens,
                cost=cost,
                finished_at=timezone.now(),
            )
            Task.objects.filter(pk=self.task_id).update(
                input_tokens=F("input_tokens") + event.usage.input_tokens,
                output_tokens=F("output_tokens") + event.usage.output_tokens,
                cost=F("cost") + cost,
            )
            services.record_event(
                task_id=self.task_id,
                type="step.finished",
                data={
                    "step_id": step_id,
                    "order": event.step.order,
                    "retry_index": event.step.retry_index,
                    "success": event.success,
                    "error": event.error,
                    "input_tokens": event.usage.input_tokens,
                    "output_tokens": event.usage.output_tokens,
                    "cost": str(cost),
                    "duration_ms": round(event.duration_ms),
                },
            )

    async def step_finished(self, event: StepFinished) -> None:
        await self._step_finished(event)

    # actions
    @database_sync_to_async
    def _action_started(self, event: ActionStarted) -> None:
        step_id = self.steps[(event.step.order, event.step.retry_index)]
        params = {k: v for k, v in event.action.items() if k not in ("action_type", "element_id", "reasoning")}
        with transaction.atomic():
            action = Action.objects.create(
                task_id=self.task_id,
                step_id=step_id,
                index=event.index,
                action_type=str(event.action.get("action_type", "")),
                element_id=str(event.action.get("element_id") or ""),
                reasoning=str(event.action.get("reasoning") or ""),
                parameters=params,
            )
            self.actions[(step_id, event.index)] = action.pk
            services.record_event(
                task_id=self.task_id,
                type="action.started",
                data={"action_id": action.pk, "step_id": step_id, "index": event.index, "action": event.action},
            )

    async def action_started(self, event: ActionStarted) -> None:
        await self._action_started(event)

    @database_sync_to_async
    def _action_finished(self, event: ActionFinished) -> None:
        step_id = self.steps[(event.step.order, event.step.retry_index)]
        action_id = self.actions.get((step_id, event.index))
        result = event.result
        data = result.data if _jsonable(result.data) else str(result.data)
        with transaction.atomic():
            Action.objects.filter(pk=action_id).update(
                success=result.success,
                error=result.error or "",
                data=data,
                navigated=result.navigated,
                finished_at=timezone.now(),
            )
            services.record_event(
                task_id=self.task_id,
                type="action.finished",
                data={
                    "action_id": action_id,
                    "step_id": step_id,
                    "index": event.index,
                    "action_type": event.action.get("action_type"),
                    "success": result.success,
                    "error": result.error,
                    "navigated": result.navigated,
                    "data": data,
                    "duration_ms": round(result.duration_ms),
                },
            )

    async def action_finished(self, event: ActionFinished) -> None:
        await self._action_finished(event)

    # artifacts
    @database_sync_to_async
    def _artifact(self, event: ArtifactOut) -> None:
        step_id = self.steps.get((event.step.order, event.step.retry_index)) if event.step else None
        action_id = self.actions.get((step_id, event.action_index)) if step_id and event.action_index is not None else None
        artifact = Artifact(
            task_id=self.task_id,
            step_id=step_id,
            action_id=action_id,
            kind=event.kind.value,
            name=event.name[:200],
            content_type=event.content_type,
            size=len(event.data),
        )
        artifact.file.save(event.name, ContentFile(event.data), save=False)
        if event.kind.value in Artifact.SCREENSHOT_KINDS:
            thumb = _thumbnail(event.data)
            if thumb:
                artifact.thumbnail.save(f"thumb-{event.name.rsplit('.', 1)[0]}.jpg", ContentFile(thumb), save=False)
        with transaction.atomic():
            artifact.save()
            services.record_event(task_id=self.task_id, type="artifact.created", data=artifact_data(artifact))

    async def artifact(self, event: ArtifactOut) -> None:
        await self._artifact(event)

    # model output
    async def llm_delta(self, event: LLMDelta) -> None:
        payload = {
            "seq": None,
            "type": "llm.delta",
            "ts": timezone.now().isoformat(),
            "data": {"order": event.step.order, "retry_index": event.step.retry_index, "text": event.text},
        }
        await apublish(task_group(self.task_id), "timeline.event", payload)

    @database_sync_to_async
    def _llm_response(self, event: LLMResponse) -> None:
        services.record_event(
            task_id=self.task_id,
            type="llm.response",
            data={
                "step_id": self.steps.get((event.step.order, event.step.retry_index)),
                "order": event.step.order,
                "retry_index": event.step.retry_index,
                "parsed": event.parsed,
                "raw": None if event.parsed is not None else event.raw[:4000],
                "input_tokens": event.usage.input_tokens,
                "output_tokens": event.usage.output_tokens,
            },
        )

    async def llm_response(self, event: LLMResponse) -> None:
        await self._llm_response(event)

    # live view: latest-wins, never blocking the agent
    async def frame(self, event: Frame) -> None:
        self._frame_pending = event
        if self._frame_sender is None or self._frame_sender.done():
            self._frame_sender = asyncio.create_task(self._send_frames())

    async def _send_frames(self) -> None:
        while self._frame_pending is not None:
            frame, self._frame_pending = self._frame_pending, None
            await apublish(frames_group(self.task_id), "live.frame", {"jpeg": frame.data, "ts": frame.captured_at})

    async def browser_ready(self, session: Any) -> None:
        self.session = session


def _jsonable(value: Any) -> bool:
    import json

    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


# ---- control ------------------------------------------------------------------------------


class DbControl(LocalControl):
    """LocalControl kept in step with the task row. `watch()` runs beside the agent for the whole run."""

    POLL_SECONDS = 2.0

    def __init__(self, task: Task, hooks: DjangoRunHooks) -> None:
        super().__init__()
        self.task_id = task.pk
        self.hooks = hooks
        self.layer = get_channel_layer()
        self._approving = False
        self._screencasting = False

    @database_sync_to_async
    def _read(self) -> tuple[str, str, bool] | None:
        row = Task.objects.filter(pk=self.task_id).values_list("status", "failure_reason", "retry_step_requested").first()
        if row and row[2]:
            Task.objects.filter(pk=self.task_id).update(retry_step_requested=False)
        return row

    async def sync(self) -> None:
        """Re-read the row and mirror it. Called on every wake-up and poll."""
        row = await self._read()
        if row is None:
            self.terminate("the task was deleted")
            return
        status, reason, retry_step = row
        if status in (Task.Status.TERMINATED, Task.Status.CANCELED, Task.Status.FAILED, Task.Status.TIMED_OUT):
            self.terminate(reason or f"task is {status}")
        elif status == Task.Status.PAUSED:
            self.pause()
        elif status == Task.Status.RUNNING:
            if retry_step:
                self.request_retry_step()
            self.resume()
            if self._approving:
                self.decide(True)
        await self._sync_screencast()

    async def _sync_screencast(self) -> None:
        from tasks_app.live_view import viewer_count

        session = self.hooks.session
        if session is None:
            return
        watching = await viewer_count(self.task_id) > 0
        try:
            if watching and not self._screencasting:
                await session.start_screencast()
                self._screencasting = True
            elif not watching and self._screencasting:
                await session.stop_screencast()
                self._screencasting = False
        except Exception:  # noqa: BLE001 - the live view must never hurt the run
            logger.warning("screencast toggle failed", exc_info=True)

    async def watch(self) -> None:
        """Until cancelled: wake on channel-layer messages for this task, or every POLL_SECONDS."""
        channel = await self.layer.new_channel() if self.layer else None
        if channel:
            await self.layer.group_add(control_group(self.task_id), channel)
        try:
            while True:
                if channel:
                    try:
                        await asyncio.wait_for(self.layer.receive(channel), timeout=self.POLL_SECONDS)
                    except TimeoutError:
                        pass
                else:
                    await asyncio.sleep(self.POLL_SECONDS)
                await self.sync()
        finally:
            if channel:
                try:
                    await self.layer.group_discard(control_group(self.task_id), channel)
                except Exception:  # noqa: BLE001
                    pass

    async def approve(self, checks: list[SafetyCheck]) -> bool:
        payload = [{"id": c.id, "code": c.code, "message": c.message} for c in checks]
        task = await Task.objects.aget(pk=self.task_id)
        await database_sync_to_async(services.request_approval)(task=task, checks=payload)
        self._approving = True
        try:
            approved = await super().approve(checks)
        except RunTerminatedError:
            row = await self._read()
            if row and "safety checks denied" in (row[1] or ""):
                return False
            raise
        finally:
            self._approving = False
        return approved

    def terminate(self, reason: str = "terminated by operator") -> None:
        if self._approving and "safety checks denied" in reason:
            self.decide(False)
            return
        super().terminate(reason)


# ---- the run ------------------------------------------------------------------------------

_STATUS = {
    RunStatus.COMPLETED: Task.Status.COMPLETED,
    RunStatus.FAILED: Task.Status.FAILED,
    RunStatus.TERMINATED: Task.Status.TERMINATED,
}


def worker_name() -> str:
    import os

    return f"{socket.gethostname()}:{os.getpid()}"


@database_sync_to_async
def _heartbeat(task_id: Any) -> None:
    Task.objects.filter(pk=task_id, status__in=Task.ACTIVE_STATUSES).update(heartbeat_at=timezone.now())


async def _heartbeats(task_id: Any) -> None:
    while True:
        await asyncio.sleep(settings.LOOKOUT_HEARTBEAT_SECONDS)
        await _heartbeat(task_id)


@database_sync_to_async
def _finish(task_id: Any, outcome: RunOutcome) -> Task:
    task = Task.objects.get(pk=task_id)
    with transaction.atomic():
        Step.objects.filter(task_id=task_id, status=Step.Status.RUNNING).update(
            status=Step.Status.CANCELED, finished_at=timezone.now(), error="the run ended during this step"
        )
        return services.finish_task(
            task=task,
            status=_STATUS[outcome.status],
            failure_reason=outcome.failure_reason or "",
            extracted_information=outcome.extracted_information,
            errors=outcome.errors,
        )


async def execute_task(task_id: Any, *, browser: BrowserManager, worker: str | None = None) -> Task | None:
    """Claim the task and run it to a final status. Returns None if the task was not claimable (already
    running elsewhere, canceled, gone): a redelivered message or a double dispatch does nothing."""
    task = await database_sync_to_async(services.claim_task)(task_id=task_id, worker=worker or worker_name())
    if task is None:
        logger.info("task %s not claimable; leaving it alone", task_id)
        return None
    hooks = DjangoRunHooks(task)
    control = DbControl(task, hooks)
    cfg = llm_config(task)
    llm = OpenAIClient(cfg)
    watcher = asyncio.create_task(control.watch())
    beats = asyncio.create_task(_heartbeats(task.pk))
    outcome = RunOutcome(status=RunStatus.FAILED, failure_reason="the run did not start")
    workdir = tempfile.mkdtemp(prefix="lookout-run-")
    run_browser_config = browser_config(workdir=workdir, organization=task.organization)
    try:
        if run_browser_config.trace and not run_browser_config.video_dir:
            await _recording_note(task.pk, "video", NO_FFMPEG)
        outcome = await run_task(
            spec_from_task(task),
            browser=browser,
            llm=llm,
            llm_config=cfg,
            hooks=hooks,
            control=control,
            config=agent_config(task),
            browser_config=run_browser_config,
        )
    except asyncio.CancelledError:
        outcome = RunOutcome(status=RunStatus.FAILED, failure_reason="the worker stopped during the run")
        raise
    except Exception as exc:  # noqa: BLE001 - whatever broke, the task must end with a reason
        logger.exception("run of task %s crashed", task_id)
        outcome = RunOutcome(status=RunStatus.FAILED, failure_reason=f"internal error: {type(exc).__name__}: {exc}")
    finally:
        watcher.cancel()
        beats.cancel()
        # run_task stores downloads and recordings before it returns or re-raises (also when cancelled),
        # so they are artifacts by now.
        shutil.rmtree(workdir, ignore_errors=True)
        await llm.close()
        if run_browser_config.video_dir and hooks.session is not None:
            await _check_video(task.pk)
        finished = await _finish(task.pk, outcome)
    return finished


RECORDING_NOTE = "recording.unavailable"


@database_sync_to_async
def _recording_note(task_id: Any, recording: str, reason: str) -> None:
    """A timeline event saying why a recording is missing; the task page's recordings section shows it."""
    services.record_event(task_id=task_id, type=RECORDING_NOTE, data={"recording": recording, "reason": reason})


@database_sync_to_async
def _check_video(task_id: Any) -> None:
    """A video was asked for and a browser opened: say so on the task page when none was stored."""
    if not Artifact.objects.filter(task_id=task_id, kind=Artifact.Kind.RECORDING).exists():
        services.record_event(
            task_id=task_id,
            type=RECORDING_NOTE,
            data={"recording": "video", "reason": "No video for this run: recording it failed (see the worker log)."},
        )
