"""What both engines share: their inputs, token usage and extracted data, and how a run's outcome is built."""

from __future__ import annotations

from typing import Any

from agent_core.browser.session import BrowserSession
from agent_core.engines.steps import StepResult, step_limit_reason, step_loop
from agent_core.llm import OpenAIClient
from agent_core.types import (
    AgentConfig,
    Control,
    LLMConfig,
    RunHooks,
    RunOutcome,
    RunStatus,
    StepRef,
    TaskSpec,
    Usage,
)


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
        """Steps until one ends the run (see engines.steps.step_loop), then the outcome that ending means."""
        end = await step_loop(
            self._step,
            max_steps=min(self.spec.max_steps, self.config.max_steps),
            max_retries=self.config.max_retries_per_step,
        )
        if end.failure:
            return self._outcome(RunStatus.FAILED, end.failure, end.steps)
        if end.result is None:
            return self._outcome(RunStatus.FAILED, step_limit_reason(end.max_steps), end.steps)
        if end.result.kind == "terminate":  # the model gave up, with error codes from the mapping
            codes = ", ".join(e.get("error_code", "") for e in end.result.errors) or "no error code"
            reason = f"the agent stopped the task ({codes}): {end.result.reasoning}".strip()
            return self._outcome(RunStatus.TERMINATED, reason, end.steps, errors=end.result.errors)
        if end.result.kind == "denied":  # an operator denied a safety check
            return self._outcome(RunStatus.TERMINATED, end.result.error, end.steps)
        return self._outcome(RunStatus.COMPLETED, None, end.steps)

    async def _step(self, step: StepRef) -> StepResult:
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
