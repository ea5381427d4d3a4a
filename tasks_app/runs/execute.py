"""`execute_task`: the one coroutine every runner (Celery job, in-process runner, `run_task` command) calls
to take a queued task to a final status: claim it, run the agent with recording hooks and database-backed
control beside a heartbeat, and record how it ended, whatever happened."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import replace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from agent_core.browser import BrowserManager
from agent_core.llm import OpenAIClient
from agent_core.runner import run_agent
from agent_core.types import RunOutcome, RunStatus, TaskSpec
from tasks_app.crypto import DecryptionError
from tasks_app.errors import NotFoundError
from tasks_app.models import Artifact, Task
from tasks_app.runs.config import (
    NO_FFMPEG,
    agent_config,
    browser_config,
    llm_config,
    spec_from_task,
    start_state,
)
from tasks_app.runs.control import DbControl
from tasks_app.runs.hooks import RecordingHooks
from tasks_app.selectors.artifacts import has_artifact
from tasks_app.services import runs as run_services
from tasks_app.services.tasks import claim_task

logger = logging.getLogger(__name__)

FINAL_STATUS = {
    RunStatus.COMPLETED: Task.Status.COMPLETED,
    RunStatus.FAILED: Task.Status.FAILED,
    RunStatus.TERMINATED: Task.Status.TERMINATED,
}
NO_VIDEO = "No video for this run: recording it failed (see the worker log)."


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _heartbeats(task_id: Any) -> None:
    while True:
        await asyncio.sleep(settings.LOOKOUT_HEARTBEAT_SECONDS)
        await database_sync_to_async(run_services.beat)(task_id=task_id)


async def execute_task(task_id: Any, *, browser: BrowserManager, worker: str | None = None) -> Task | None:
    """Claim the task and run it to a final status. Returns None if the task was not claimable (already
    running elsewhere, canceled, gone): a redelivered message or a double dispatch does nothing."""
    task = await database_sync_to_async(claim_task)(task_id=task_id, worker=worker or worker_name())
    if task is None:
        logger.info("task %s not claimable; leaving it alone", task_id)
        return None
    hooks = RecordingHooks(task.pk)
    control = DbControl(task.pk, hooks)
    cfg = llm_config(task)
    llm = OpenAIClient(cfg)
    watcher = asyncio.create_task(control.watch())
    beats = asyncio.create_task(_heartbeats(task.pk))
    outcome = RunOutcome(status=RunStatus.FAILED, failure_reason="the run did not start")
    workdir = tempfile.mkdtemp(prefix="lookout-run-")
    run_browser_config = browser_config(workdir=workdir, organization=task.organization)
    try:
        try:
            spec, state = await database_sync_to_async(_secrets_of)(task)
        except (NotFoundError, DecryptionError) as exc:
            outcome = RunOutcome(status=RunStatus.FAILED, failure_reason=f"cannot start: {exc}")
        else:
            run_browser_config = replace(run_browser_config, storage_state=state, save_storage_state=task.save_profile)
            if run_browser_config.trace and not run_browser_config.video_dir:
                await _note_recording(task.pk, "video", NO_FFMPEG)
            outcome = await run_agent(
                spec,
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
        # run_agent stores downloads and recordings before it returns or re-raises (also when cancelled),
        # so they are artifacts by now.
        shutil.rmtree(workdir, ignore_errors=True)
        await llm.close()
        try:
            await hooks.finish()
        except Exception:  # noqa: BLE001 - a missing summary line must not keep the task from ending
            logger.exception("could not record the end of task %s's egress refusals", task_id)
        if run_browser_config.video_dir and hooks.session is not None:
            if not await database_sync_to_async(has_artifact)(task_id=task.pk, kind=Artifact.Kind.RECORDING):
                await _note_recording(task.pk, "video", NO_VIDEO)
        finished = await database_sync_to_async(run_services.end_run)(
            task_id=task.pk,
            status=FINAL_STATUS[outcome.status],
            failure_reason=outcome.failure_reason or "",
            extracted_information=outcome.extracted_information,
            errors=outcome.errors,
            replay=outcome.replay,
        )
    return finished


def _secrets_of(task: Task) -> tuple[TaskSpec, dict[str, Any] | None]:
    """The spec with its secrets, and the saved login to start from; their "last used" becomes now."""
    spec, state = spec_from_task(task), start_state(task)
    run_services.mark_secrets_used(task=task)
    return spec, state


async def _note_recording(task_id: Any, recording: str, reason: str) -> None:
    await database_sync_to_async(run_services.note_recording_unavailable)(
        task_id=task_id, recording=recording, reason=reason
    )
