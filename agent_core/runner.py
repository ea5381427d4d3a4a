"""The run loop's entry point: validate the spec, open a browser session, run the chosen engine, close up.

`run_agent` is the one coroutine every host calls (Celery job, in-process runner, CLI, tests). It never
raises for a run that went wrong: every ending becomes a RunOutcome, and final artifacts are handed to the
hooks however the run ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_core.browser.launch import BrowserManager
from agent_core.browser.session import BrowserSession, image_type, validate_start_url
from agent_core.egress import check_url
from agent_core.errors import AgentError, EgressDenied, InvalidTaskError, RunTerminatedError, StepFailedError
from agent_core.llm import OpenAIClient
from agent_core.masking import Masker
from agent_core.recording import mask_recordings, secret_strings
from agent_core.secrets import MaskingHooks, Secrets
from agent_core.types import (
    AgentConfig,
    ArtifactKind,
    ArtifactOut,
    BrowserConfig,
    Control,
    EgressBlocked,
    Engine,
    LLMConfig,
    RunHooks,
    RunOutcome,
    RunStatus,
    ScriptOut,
    TaskSpec,
)

if TYPE_CHECKING:
    from agent_core.engines import base as engines

logger = logging.getLogger(__name__)

RECORDING_KINDS = {
    "video": (ArtifactKind.RECORDING, "video/webm"),
    "trace": (ArtifactKind.TRACE, "application/zip"),
    "har": (ArtifactKind.HAR, "application/json"),
}
# Playwright names videos after the page ("page@<hash>.webm"); artifacts get plain names.
RECORDING_NAMES = {"video": "video.webm", "har": "network.har", "trace": "trace.zip"}


def validate_spec(spec: TaskSpec) -> None:
    validate_start_url(spec.url)
    if not (spec.navigation_goal or spec.data_extraction_goal):
        raise InvalidTaskError("a task needs a navigation goal or a data extraction goal")
    if spec.max_steps < 1:
        raise InvalidTaskError("max_steps must be at least 1")
    if spec.run_with not in ("agent", "script"):
        raise InvalidTaskError(f"run_with must be \"agent\" or \"script\", not {spec.run_with!r}")
    if spec.run_with == "script":
        if spec.engine != Engine.DOM:
            raise InvalidTaskError("only the dom engine replays scripts (run_with \"script\")")
        if spec.script is None:
            raise InvalidTaskError("run_with \"script\" needs the script to replay")
        from agent_core.replay.script import Script, fill_references

        script = Script.from_dict(spec.script)  # ScriptError is an InvalidTaskError
        for step in script.steps:  # every payload key it types is in this payload
            fill_references(step.params, spec.navigation_payload)


async def run_agent(
    spec: TaskSpec,
    *,
    browser: BrowserManager,
    llm: OpenAIClient,
    llm_config: LLMConfig,
    hooks: RunHooks,
    control: Control,
    config: AgentConfig | None = None,
    browser_config: BrowserConfig | None = None,
) -> RunOutcome:
    config = config or AgentConfig()
    try:
        validate_spec(spec)
        secrets = Secrets.from_spec(spec)
    except InvalidTaskError as exc:
        return RunOutcome(status=RunStatus.FAILED, failure_reason=str(exc))
    except ValueError as exc:  # a credential's TOTP secret that is not one
        return RunOutcome(status=RunStatus.FAILED, failure_reason=f"a credential cannot be used: {exc}")
    try:
        outcome = await _run(spec, secrets, browser, llm, llm_config, MaskingHooks(hooks, secrets), control, config, browser_config)
    except Exception as exc:  # noqa: BLE001 - a bug or a broken browser: the run ends with a reason, masked below
        logger.exception("the run crashed")  # the log filter masks while `secrets` is alive
        outcome = RunOutcome(status=RunStatus.FAILED, failure_reason=f"internal error: {type(exc).__name__}: {exc}")
    return _masked_outcome(outcome, secrets)


def _masked_outcome(outcome: RunOutcome, secrets: Secrets) -> RunOutcome:
    if secrets.masker() is None:
        return outcome
    return dataclasses.replace(
        outcome,
        failure_reason=secrets.mask_text(outcome.failure_reason) if outcome.failure_reason else outcome.failure_reason,
        extracted_information=secrets.mask_json(outcome.extracted_information),
        errors=secrets.mask_json(outcome.errors),
    )


async def _run(
    spec: TaskSpec,
    secrets: Secrets,
    browser: BrowserManager,
    llm: OpenAIClient,
    llm_config: LLMConfig,
    hooks: RunHooks,
    control: Control,
    config: AgentConfig,
    browser_config: BrowserConfig | None,
) -> RunOutcome:
    """run_agent's body, with `hooks` already masking and `secrets` built from the spec."""
    public = Secrets.public_spec(spec)  # what the engines (and so the model) get: placeholders only
    secrets.add_cookies(browser_config.storage_state if browser_config else None)
    session: BrowserSession | None = None
    engine: engines.Engine[Any] | None = None

    async def on_blocked(url: str, reason: str) -> None:
        await hooks.egress_blocked(EgressBlocked(url=url, reason=reason))

    try:
        # Refused before any browser is opened: "could not open http://10.0.0.5/: blocked by the egress
        # policy: 10.0.0.5 is a private address".
        await check_url(spec.url, (browser_config or browser.config).egress, purpose="browser")
    except EgressDenied as exc:
        await on_blocked(spec.url, str(exc))
        return RunOutcome(status=RunStatus.FAILED, failure_reason=f"could not open {spec.url}: {exc}")
    try:
        session = await browser.new_session(config=browser_config, on_frame=hooks.frame, on_blocked=on_blocked)
        session.secrets = secrets
        await hooks.browser_ready(session)
        await control.checkpoint()
        try:
            await session.goto(spec.url)
        except (StepFailedError, EgressDenied) as exc:  # EgressDenied: a redirect on the way was refused
            return RunOutcome(status=RunStatus.FAILED, failure_reason=f"could not open {spec.url}: {exc}")
        if spec.run_with == "script":
            from agent_core.replay.engine import ReplayEngine
            from agent_core.replay.script import Script

            engine = ReplayEngine(
                script=Script.from_dict(spec.script),
                spec=public,
                session=session,
                llm=llm,
                llm_config=llm_config,
                hooks=hooks,
                control=control,
                config=config,
            )
        elif spec.engine == Engine.CUA:
            from agent_core.engines.cua import CuaEngine

            engine = CuaEngine(
                spec=public, session=session, llm=llm, llm_config=llm_config, hooks=hooks, control=control, config=config
            )
        else:
            from agent_core.engines.dom import DomEngine
            from agent_core.replay.recorder import ScriptRecorder

            engine = DomEngine(
                spec=public, session=session, llm=llm, llm_config=llm_config, hooks=hooks, control=control, config=config
            )
            engine.recorder = ScriptRecorder(public)
        outcome = await engine.run()
        if outcome.status == RunStatus.COMPLETED and spec.run_with != "script":
            await _hand_script(engine, session, outcome, hooks)
        if outcome.status == RunStatus.COMPLETED and browser_config is not None and browser_config.save_storage_state:
            await _save_storage_state(session, hooks, secrets)
        return outcome
    except RunTerminatedError as exc:
        usage = engine.usage if engine is not None else RunOutcome(status=RunStatus.TERMINATED).usage
        return RunOutcome(status=RunStatus.TERMINATED, failure_reason=exc.reason, usage=usage)
    except AgentError as exc:
        return RunOutcome(status=RunStatus.FAILED, failure_reason=str(exc))
    finally:
        if session is not None:
            # Runs to the end even when the run is being cancelled (a worker shutting down): the recordings
            # are stored before run_agent returns or re-raises, so the host may delete their folder after.
            # Every payload string is masked out of the recordings, secret or not (see README: Recordings).
            masker = secrets.masker(*secret_strings(spec.navigation_payload))
            await _despite_cancellation(_close_session(session, hooks, masker=masker))


async def _hand_script(engine: engines.Engine[Any], session: BrowserSession, outcome: RunOutcome, hooks: RunHooks) -> None:
    """Give the host the Script a completed dom run recorded (agent_core.replay). A failure is logged; the
    run keeps its outcome."""
    recorder = getattr(engine, "recorder", None)
    if recorder is None or not recorder.steps:
        return
    from agent_core.replay.recorder import recorded_cost
    from agent_core.replay.script import Script

    try:
        document = await recorder.document(
            session.page, extracted=outcome.extracted_information, recorded=recorded_cost(outcome, engine.spec)
        )
        Script.from_dict(document)  # what a replay will read
    except Exception:  # noqa: BLE001 - the run did its work; only its script is lost
        logger.exception("could not record the run's script")
        return
    await hooks.script(ScriptOut(document=document, reason="recorded"))


async def _save_storage_state(session: BrowserSession, hooks: RunHooks, secrets: Secrets) -> None:
    """Hand the context's cookies and local storage to the host (a saved login), and mask its session
    tokens out of the recordings. A failure is logged; the run keeps its outcome."""
    try:
        state = await session.context.storage_state()
    except Exception:  # noqa: BLE001 - the run did its work; only the saved login is lost
        logger.exception("could not read the browser's storage state to save it")
        return
    secrets.add_cookies(dict(state))
    await hooks.storage_state(dict(state))


async def _despite_cancellation(work: Awaitable[None]) -> None:
    """Await `work` to completion even if this task is cancelled meanwhile (once or repeatedly); then
    re-raise the cancellation."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


async def _close_session(session: BrowserSession, hooks: RunHooks, *, masker: Masker | None = None) -> None:
    """Final screenshot, then recordings (the task's secrets masked out of HAR and trace first).
    Each failure is logged and the rest still happen."""
    try:
        shot = await session.screenshot()
        await hooks.artifact(
            ArtifactOut(
                kind=ArtifactKind.SCREENSHOT_FINAL,
                data=shot,
                content_type=image_type(shot),
                name="final." + image_type(shot).split("/")[1],
            )
        )
    except Exception:  # noqa: BLE001 - a dead page must not cost the recordings
        logger.warning("no final screenshot", exc_info=True)
    try:
        recordings = await session.close()
    except Exception:  # noqa: BLE001
        logger.exception("closing the browser session failed")
        return
    if recordings and masker is not None:
        # Off the event loop: a long run's trace takes a while to rewrite, and other runs share the loop.
        try:
            recordings = await asyncio.to_thread(mask_recordings, recordings, masker)
        except Exception:  # noqa: BLE001 - keep what holds no page text rather than lose everything
            logger.exception("masking the recordings failed; keeping only the video")
            recordings = {name: path for name, path in recordings.items() if name.startswith("video")}
    for name, path in (recordings or {}).items():
        kind, content_type = RECORDING_KINDS.get(name, (ArtifactKind.DOWNLOAD, "application/octet-stream"))
        try:
            data = Path(path).read_bytes()
            filename = RECORDING_NAMES.get(name) or Path(path).name
            await hooks.artifact(ArtifactOut(kind=kind, data=data, content_type=content_type, name=filename))
        except Exception:  # noqa: BLE001
            logger.exception("could not store the %s recording", name)
