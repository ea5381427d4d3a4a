"""Running an engine end to end in tests: a hooks recorder and one call that runs a spec against the fake model."""

from __future__ import annotations

from typing import Any

from agent_core import runner
from agent_core.browser import BrowserManager
from agent_core.control import LocalControl
from agent_core.llm import OpenAIClient
from agent_core.types import (
    ActionFinished,
    ActionStarted,
    AgentConfig,
    ArtifactOut,
    LLMConfig,
    LLMDelta,
    LLMResponse,
    RunHooks,
    RunOutcome,
    ScriptOut,
    StepFinished,
    StepStarted,
    TaskSpec,
)
from tests.fakes.openai_server import FakeOpenAIServer


class Recorder(RunHooks):
    """Keeps every hook call: `events` in order, `artifacts`, streamed `deltas`."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.artifacts: list[ArtifactOut] = []
        self.deltas: list[str] = []
        self.scripts: list[ScriptOut] = []  # RunHooks.script: recorded and repaired Script documents

    async def step_started(self, event: StepStarted) -> None:
        self.events.append(("step_started", event))

    async def step_finished(self, event: StepFinished) -> None:
        self.events.append(("step_finished", event))

    async def artifact(self, event: ArtifactOut) -> None:
        self.artifacts.append(event)

    async def llm_delta(self, event: LLMDelta) -> None:
        self.deltas.append(event.text)

    async def llm_response(self, event: LLMResponse) -> None:
        self.events.append(("llm_response", event))

    async def action_started(self, event: ActionStarted) -> None:
        self.events.append(("action_started", event))

    async def action_finished(self, event: ActionFinished) -> None:
        self.events.append(("action_finished", event))

    async def script(self, event: ScriptOut) -> None:
        self.scripts.append(event)

    def of(self, name: str) -> list[Any]:
        return [e for n, e in self.events if n == name]

    def steps(self) -> list[tuple[int, int, bool, str | None]]:
        return [(e.step.order, e.step.retry_index, e.success, e.error) for e in self.of("step_finished")]


async def run_agent(
    spec: TaskSpec,
    fake: FakeOpenAIServer,
    browser: BrowserManager,
    *,
    hooks: Recorder | None = None,
    control: LocalControl | None = None,
    config: AgentConfig | None = None,
    llm_timeout: float = 30.0,
) -> tuple[RunOutcome, Recorder]:
    """Run `spec` to its outcome with the real SDK against `fake`; returns the outcome and what the hooks saw."""
    llm_cfg = LLMConfig(api_key="test", base_url=fake.base_url, model="gpt-4o", timeout_s=llm_timeout, max_retries=0)
    llm = OpenAIClient(llm_cfg)
    hooks = hooks or Recorder()
    try:
        outcome = await runner.run_agent(
            spec,
            browser=browser,
            llm=llm,
            llm_config=llm_cfg,
            hooks=hooks,
            control=control or LocalControl(),
            config=config or AgentConfig(max_steps=25, max_retries_per_step=2),
        )
    finally:
        await llm.close()
    return outcome, hooks
