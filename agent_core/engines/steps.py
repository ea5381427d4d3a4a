"""The step loop both engines share: numbered steps, retries of a failed step, operator retries, the limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent_core.types import StepRef


@dataclass
class StepResult:
    """How one step ended. kind: "next" (go on), "complete", "terminate" (the model gave up with error
    codes), "denied" (an operator denied a safety check), "failed" (retry it), "operator_retry"."""

    kind: str
    error: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    reasoning: str = ""
    answer: str | None = None  # "complete": the model's final answer, when it gave one (cua)


@dataclass(frozen=True)
class LoopEnd:
    result: StepResult | None  # the step that ended the run; None when the step limit was reached
    steps: int  # step attempts made, retries included
    failure: str | None = None  # set when a step kept failing past its retries
    max_steps: int = 0


async def step_loop(
    step: Callable[[StepRef], Awaitable[StepResult]], *, max_steps: int, max_retries: int
) -> LoopEnd:
    """Run `step` for orders 1..max_steps, each through `one_step` (its retries). Stops at the first step
    whose result is not "next"."""
    max_steps = max(1, max_steps)
    attempts = 0
    for order in range(1, max_steps + 1):
        result, tries, failures = await one_step(step, order, max_retries=max_retries)
        attempts += tries
        if result.kind == "failed":
            return LoopEnd(
                result=result,
                steps=attempts,
                failure=f"step {order} failed {failures} times; last error: {result.error}",
                max_steps=max_steps,
            )
        if result.kind != "next":
            return LoopEnd(result=result, steps=attempts, max_steps=max_steps)
    return LoopEnd(result=None, steps=attempts, max_steps=max_steps)


async def one_step(
    step: Callable[[StepRef], Awaitable[StepResult]], order: int, *, max_retries: int
) -> tuple[StepResult, int, int]:
    """Step `order` until it does not fail: a failed step is retried (same order, next retry_index) up to
    `max_retries` times; an operator's retry does not count against that. Returns the last result (kind
    "failed" when the retries ran out), the attempts made and the failures among them."""
    retry, attempts, failures = 0, 0, 0
    while True:
        attempts += 1
        result = await step(StepRef(order, retry))
        if result.kind == "operator_retry":
            retry += 1
            continue
        if result.kind == "failed":
            failures += 1
            retry += 1
            if failures > max_retries:
                return result, attempts, failures
            continue
        return result, attempts, failures


def step_limit_reason(max_steps: int) -> str:
    return f"reached the step limit ({max_steps}) without completing the goal"
