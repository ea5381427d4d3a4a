"""The run loop's entry point: validate the spec, open a browser session, run the chosen engine, close up.

`run_task` is the one coroutine every host calls (Celery job, in-process runner, CLI, tests). It never
raises for a run that went wrong: every ending becomes a RunOutcome, and final artifacts are handed to the
hooks however the run ended.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agent_core.browser import BrowserManager, BrowserSession, image_type, validate_start_url
from agent_core.errors import AgentError, InvalidTaskError, RunTerminatedError, StepFailedError
from agent_core.llm import OpenAIClient
from agent_core.types import (
    AgentConfig,
    ArtifactKind,
    ArtifactOut,
    BrowserConfig,
    Control,
    Engine,
    LLMConfig,
    RunHooks,
    RunOutcome,
    RunStatus,
    TaskSpec,
)

logger = logging.getLogger(__name__)

RECORDING_KINDS = {
    "video": (ArtifactKind.RECORDING, "video/webm"),
    "trace": (ArtifactKind.TRACE, "application/zip"),
    "har": (ArtifactKind.HAR, "application/json"),
}


def validate_spec(spec: TaskSpec) -> None:
    validate_start_url(spec.url)
    if not (spec.navigation_goal or spec.data_extraction_goal):
        raise InvalidTaskError("a task needs a navigation goal or a data extraction goal")
    if spec.max_steps < 1:
        raise InvalidTaskError("max_steps must be at least 1")


async def run_task(
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
    except InvalidTaskError as exc:
        return RunOutcome(status=RunStatus.FAILED, failure_reason=str(exc))
    session: BrowserSession | None = None
    engine = None
    try:
        session = await browser.new_session(config=browser_config, on_frame=hooks.frame)
        await hooks.browser_ready(session)
        await control.checkpoint()
        try:
            await session.goto(spec.url)
        except StepFailedError as exc:
            return RunOutcome(status=RunStatus.FAILED, failure_reason=f"could not open {spec.url}: {exc}")
        if spec.engine == Engine.CUA:
            from agent_core.engines.cua import CuaEngine

            engine = CuaEngine(
                spec=spec, session=session, llm=llm, llm_config=llm_config, hooks=hooks, control=control, config=config
            )
        else:
            from agent_core.engines.dom import DomEngine

            engine = DomEngine(
                spec=spec, session=session, llm=llm, llm_config=llm_config, hooks=hooks, control=control, config=config
            )
        return await engine.run()
    except RunTerminatedError as exc:
        usage = engine.usage if engine is not None else RunOutcome(status=RunStatus.TERMINATED).usage
        return RunOutcome(status=RunStatus.TERMINATED, failure_reason=exc.reason, usage=usage)
    except AgentError as exc:
        return RunOutcome(status=RunStatus.FAILED, failure_reason=str(exc))
    finally:
        if session is not None:
            await _close_session(session, hooks)


async def _close_session(session: BrowserSession, hooks: RunHooks) -> None:
    """Final screenshot, then recordings. Each failure is logged and the rest still happen."""
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
    for name, path in (recordings or {}).items():
        kind, content_type = RECORDING_KINDS.get(name, (ArtifactKind.DOWNLOAD, "application/octet-stream"))
        try:
            data = Path(path).read_bytes()
            await hooks.artifact(ArtifactOut(kind=kind, data=data, content_type=content_type, name=Path(path).name))
        except Exception:  # noqa: BLE001
            logger.exception("could not store the %s recording", name)
