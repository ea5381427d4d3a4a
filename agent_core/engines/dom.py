"""The dom engine: scrape -> screenshot -> ask the chat model -> execute actions by element id, step by step."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from agent_core.actions.execution import execute_action
from agent_core.actions.parsing import AGENT_STEP_SCHEMA, parse_agent_step
from agent_core.actions.vocabulary import Action, AskHuman, Complete, ReadText, Terminate, action_to_dict
from agent_core.changes import measure_change
from agent_core.control import cancellable
from agent_core.engines.base import Engine, StepTimings
from agent_core.engines.steps import StepResult
from agent_core.errors import BrowserError, StepFailedError
from agent_core.llm import LLMReply
from agent_core.prompts import render_step_prompt
from agent_core.replay.recorder import ScriptRecorder
from agent_core.scraper import ScrapeResult, scrape
from agent_core.types import ActionResult, ArtifactKind, LLMDelta, StepRef

__all__ = ["DomEngine", "StepTimings"]

# The page read after a step's last action stands in for the next step's observation (it matches the
# screenshot taken then) unless this much time went by meanwhile (a pause, slow hooks): then look again.
_FRESH_S = 1.0


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
        # The screenshot and the page read after the last action of a step show the page the next step
        # starts on; `_next_at` is when (time.monotonic()).
        self._next_screenshot: bytes | None = None
        self._next_page: ScrapeResult | None = None
        self._next_at = 0.0
        self._last_seen: ScrapeResult | None = None  # the previous step's observation (what is new since)
        self._done: Counter[tuple[str, str]] = Counter()  # (page state, action) -> times performed
        self._measured: ScrapeResult | None = None  # the page read after the action just performed
        # Set by the runner: records the run's Script (agent_core.replay) as its actions succeed.
        self.recorder: ScriptRecorder | None = None

    async def observe(self, step: StepRef) -> PageView:
        fresh = time.monotonic() - self._next_at <= _FRESH_S
        if self._next_page is None or self._next_screenshot is None or not fresh:
            self._next_page = self._next_screenshot = None
        with self._timed("scrape"):
            page_state = self._next_page or await scrape(self.session.page)
            self._next_page = None
        with self._timed("screenshot"):
            shot = await self.current_screenshot()
            self._next_screenshot = None
        listing = page_state.marked_listing(page_state.new_since(self._last_seen))
        self._last_seen = page_state
        system, user = render_step_prompt(
            spec=self.spec,
            current_url=page_state.url,
            element_listing=listing,
            history=self.history[-self.config.history_window :],
            notes=self.human_notes(),
            warnings=self._loop_notes(page_state),
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
            await self._artifact(step, ArtifactKind.ELEMENT_TREE_PROMPT, listing.encode(), "text/plain", "elements.txt")
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
        self._next_page = None

    async def current_screenshot(self) -> bytes:
        return self._next_screenshot or await self.session.screenshot()

    async def _execute_plan(self, step: StepRef, actions: list[Action], page_state: ScrapeResult) -> StepResult:
        state = page_state  # the page as the next action finds it
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
            repeat = (_fingerprint(state), _action_key(as_dict))
            if self._done[repeat] >= self.config.loop_limit:
                raise StepFailedError(
                    f"loop: {_action_text(as_dict)} was already done {self._done[repeat]} times on this same "
                    "page state; not doing it again"
                )
            self._done[repeat] += 1
            # Only the plan's last action needs the page's HTML: its read becomes the next observation.
            last = index == len(actions) - 1 or isinstance(actions[index + 1], Complete | Terminate)
            before = _Before(page=state, tab=self.session.page, dialogs=len(self.session.dialogs), action=as_dict)
            self._measured = None
            captured = await self.recorder.before(self.session.page, page_state, as_dict) if self.recorder else None
            result, self._next_screenshot = await self._perform_action(
                step,
                index,
                as_dict,
                functools.partial(execute_action, self.session, page_state, action),
                functools.partial(self._measure, before, last),
            )
            self._next_at = time.monotonic()
            if self.recorder is not None:
                self.recorder.after(captured, result, self.session.page.url)
            changes = result.data.get("changes") if isinstance(result.data, dict) else None
            item: dict[str, Any] = {
                "step": step.order,
                "action_type": as_dict.get("action_type"),
                "element_id": as_dict.get("element_id"),
                "reasoning": as_dict.get("reasoning", ""),
                "success": result.success,
                "error": result.error,
                "changes": changes.get("summary") if changes else None,
            }
            if isinstance(action, ReadText) and result.success and isinstance(result.data, dict):
                # what the model asked to read: the answer is in its next prompt's history
                item["read"] = {key: result.data.get(key) for key in ("text", "offset", "total")}
            self.history.append(item)
            if not result.success:
                raise StepFailedError(f"{as_dict.get('action_type')} failed: {result.error}")
            if self._measured is not None:
                state = self._measured
                if last:
                    self._next_page = state
            if result.navigated and index < len(actions) - 1:
                # later actions aim at ids of the page we left: stop here, the next step scrapes anew
                self._next_page = None
                remaining = actions[index + 1 :]
                if remaining and isinstance(remaining[0], Complete):
                    return StepResult(kind="complete", reasoning=remaining[0].reasoning)
                break
        return StepResult(kind="next")

    async def _measure(self, before: _Before, with_html: bool, result: ActionResult) -> ActionResult:
        """Read the settled page after a successful action (kept as `_measured`) and add what changed to the
        result's data: `data["changes"]`, agent_core.changes.ChangeReport.to_data()."""
        if not result.success:
            return result
        try:
            after = self._measured = await scrape(self.session.page, include_html=with_html)
        except BrowserError:
            # The action is done whatever happened to the page since: say so; the next step looks again
            # (and fails there if the page crashed or closed).
            return result
        data = result.data if isinstance(result.data, dict) else {}
        report = measure_change(
            action=before.action,
            before=before.page,
            after=after,
            new_tab=self.session.page is not before.tab,
            dialogs=self.session.dialogs[before.dialogs :],
            downloads=[PurePath(path).name for path in data.get("downloads", [])],
            busy=not result.settled,
        )
        return dataclasses.replace(result, data={**data, "changes": report.to_data()})

    def _loop_notes(self, page: ScrapeResult) -> list[str]:
        """What the model is told about actions it keeps repeating on the page as it is now."""
        state = _fingerprint(page)
        notes = []
        for (seen, key), count in self._done.items():
            if seen == state and count >= self.config.loop_warning:
                notes.append(
                    f"You have already done {_action_text(json.loads(key))} {count} times on this page as it is "
                    "now, and it is still the same: doing it again will not help. Try something else, or "
                    "terminate if the goal cannot be reached."
                )
        return notes


@dataclass(frozen=True)
class _Before:
    """What an action's change report compares with: the page read, the active tab, dialogs seen so far."""

    page: ScrapeResult
    tab: object
    dialogs: int
    action: dict[str, Any]


def _fingerprint(page: ScrapeResult) -> str:
    """The page state an action is repeated on: its URL and listing (values and states included)."""
    return hashlib.sha1(f"{page.url}\n{page.listing}".encode(), usedforsecurity=False).hexdigest()


def _action_key(action: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in action.items() if k != "reasoning"}, sort_keys=True, default=str)


def _action_text(action: dict[str, Any]) -> str:
    """`click [e4]`, `input_text [e2] "Egy"`: how a repeated action is named to the model."""
    text = str(action.get("action_type"))
    if action.get("element_id"):
        text += f" [{action['element_id']}]"
    params = [
        json.dumps(v, ensure_ascii=False, default=str)
        for k, v in action.items()
        if k not in ("action_type", "element_id", "reasoning")
    ]
    return text + (" " + " ".join(params) if params else "")
