"""The dom engine: scrape -> screenshot -> ask the chat model -> execute actions by element id, step by step."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from agent_core.actions.execution import execute_action
from agent_core.actions.parsing import AGENT_STEP_SCHEMA, parse_agent_step
from agent_core.actions.vocabulary import Action, AskHuman, Complete, Terminate, action_to_dict
from agent_core.control import cancellable
from agent_core.engines.base import Engine, StepTimings
from agent_core.engines.steps import StepResult
from agent_core.errors import StepFailedError
from agent_core.llm import LLMReply
from agent_core.prompts import render_step_prompt
from agent_core.scraper import ScrapeResult, scrape
from agent_core.types import ActionResult, ArtifactKind, LLMDelta, StepRef

__all__ = ["DomEngine", "StepTimings"]


@dataclass(frozen=True)
class PageView:
    """What one dom step saw: the scraped page, its screenshot, and the prompt made from them."""

    page: ScrapeResult
    screenshot: bytes
    system: str
    user: str


class DomEngine(Engine[PageView]):
    """One run of the dom loop: each step scrapes the page, asks the chat model for actions by element id
    and performs them; the history of earlier actions goes into every prompt."""

    keep_raw_after_reply = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[dict[str, Any]] = []
        # The screenshot taken after the last action of a step shows the page the next step starts on.
        self._next_screenshot: bytes | None = None

    async def observe(self, step: StepRef) -> PageView:
        with self._timed("scrape"):
            page_state = await scrape(self.session.page)
        with self._timed("screenshot"):
            shot = await self.current_screenshot()
            self._next_screenshot = None
        system, user = render_step_prompt(
            spec=self.spec,
            current_url=page_state.url,
            element_listing=page_state.listing,
            history=self.history[-self.config.history_window :],
            notes=self.human_notes(),
        )
        # The page may show a secret the agent typed (a username in its field): the model never gets it.
        system, user = self.session.secrets.mask_text(system), self.session.secrets.mask_text(user)
        with self._timed("hooks"):
            await self._screenshot_artifact(step, ArtifactKind.SCREENSHOT_LLM, shot, f"step-{step.order}")
            await self._artifact(step, ArtifactKind.HTML_SCRAPE, page_state.html.encode(), "text/html", "scrape.html")
            await self._artifact(
                step,
                ArtifactKind.ELEMENT_TREE_FULL,
                json.dumps(page_state.tree).encode(),
                "application/json",
                "element_tree.json",
            )
            await self._artifact(
                step, ArtifactKind.ELEMENT_TREE_PROMPT, page_state.listing.encode(), "text/plain", "elements.txt"
            )
            await self._artifact(
                step, ArtifactKind.LLM_PROMPT, f"{system}\n\n---\n\n{user}".encode(), "text/plain", "prompt.txt"
            )
        return PageView(page=page_state, screenshot=shot, system=system, user=user)

    async def ask(self, step: StepRef, observation: PageView) -> LLMReply:
        async def on_delta(text: str) -> None:
            await self.hooks.llm_delta(LLMDelta(step=step, text=text))

        return await cancellable(
            self.control,
            self.llm.complete_json(
                system=observation.system,
                user=observation.user,
                images=[observation.screenshot],
                schema_name="agent_step",
                schema=AGENT_STEP_SCHEMA,
                on_delta=on_delta,
            ),
        )

    async def act(self, step: StepRef, observation: PageView, reply: LLMReply) -> StepResult:
        plan = parse_agent_step(reply.parsed)
        self.notes_delivered()  # the model has read them
        result = await self._execute_plan(step, plan.actions, observation.page)
        if result.kind == "next" and plan.goal_achieved and not plan.actions:
            return StepResult(kind="complete")
        return result

    async def _ask(self, question: str) -> ActionResult:
        try:
            reply = await self.ask_human(question)
        except StepFailedError as exc:
            return ActionResult(success=False, error=str(exc))
        answer = "(they took over the browser and handled it themselves)" if reply.handled else reply.answer
        return ActionResult(success=True, data={"answer": answer, "by": reply.by, "handled": reply.handled})

    def forget_step(self) -> None:
        self._next_screenshot = None

    async def current_screenshot(self) -> bytes:
        return self._next_screenshot or await self.session.screenshot()

    async def _execute_plan(self, step: StepRef, actions: list[Action], page_state: ScrapeResult) -> StepResult:
        for index, action in enumerate(actions):
            if isinstance(action, Complete):
                return StepResult(kind="complete", reasoning=action.reasoning)
            if isinstance(action, Terminate):
                errors = [error.model_dump() for error in action.errors]
                return StepResult(kind="terminate", errors=errors, reasoning=action.reasoning)
            as_dict = action_to_dict(action)
            if isinstance(action, AskHuman):
                result, self._next_screenshot = await self._perform_action(
                    step, index, as_dict, functools.partial(self._ask, action.question)
                )
                answer = (result.data or {}).get("answer") if result.success else None
                self.history.append(
                    {"step": step.order, "action_type": "ask_human", "element_id": None,
                     "reasoning": as_dict.get("reasoning", ""), "success": result.success, "error": result.error,
                     "question": action.question, "answer": answer}
                )  # fmt: skip
                if not result.success:
                    raise StepFailedError(f"ask_human failed: {result.error}")
                return StepResult(kind="next")  # the page may have changed meanwhile: look again
            result, self._next_screenshot = await self._perform_action(
                step, index, as_dict, functools.partial(execute_action, self.session, page_state, action)
            )
            self.history.append(
                {
                    "step": step.order,
                    "action_type": as_dict.get("action_type"),
                    "element_id": as_dict.get("element_id"),
                    "reasoning": as_dict.get("reasoning", ""),
                    "success": result.success,
                    "error": result.error,
                }
            )
            if not result.success:
                raise StepFailedError(f"{as_dict.get('action_type')} failed: {result.error}")
            if result.navigated and index < len(actions) - 1:
                # later actions aim at ids of the page we left: stop here, the next step scrapes anew
                remaining = actions[index + 1 :]
                if remaining and isinstance(remaining[0], Complete):
                    return StepResult(kind="complete", reasoning=remaining[0].reasoning)
                break
        return StepResult(kind="next")
