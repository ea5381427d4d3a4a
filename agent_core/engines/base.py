"""What both engines share: their inputs, token usage and extracted data, and how a run's outcome is built."""

from __future__ import annotations

from typing import Any

from agent_core.browser import BrowserSession
from agent_core.llm import OpenAIClient
from agent_core.types import AgentConfig, Control, LLMConfig, RunHooks, RunOutcome, RunStatus, TaskSpec, Usage


class Engine:
    """Base of the dom and cua engines; `run()` drives the task to a RunOutcome."""

    def __init__(
        self,
        *,
        spec: TaskSpec,
        session: BrowserSession,
        llm: OpenAIClient,
        llm_config: LLMConfig,
        hooks: RunHooks,
        control: Control,
        config: AgentConfig,
    ) -> None:
        self.spec, self.session, self.llm, self.llm_config = spec, session, llm, llm_config
        self.hooks, self.control, self.config = hooks, control, config
        self.usage = Usage()
        self.extracted: Any = None

    async def run(self) -> RunOutcome:
        raise NotImplementedError

    def _outcome(
        self, status: RunStatus, reason: str | None, steps: int, errors: list[dict[str, Any]] | None = None
    ) -> RunOutcome:
        return RunOutcome(
            status=status,
            failure_reason=reason,
            extracted_information=self.extracted,
            errors=errors or [],
            usage=self.usage,
            steps=steps,
        )
