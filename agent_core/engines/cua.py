"""The cua engine: OpenAI computer use on the Responses API: screenshot in, pixel actions out, turns chained by id."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from agent_core.computer import parse_action, perform_action, viewport_size
from agent_core.control import cancellable
from agent_core.engines.base import Engine
from agent_core.engines.steps import StepResult
from agent_core.errors import InvalidModelOutputError, LLMError, StepFailedError
from agent_core.llm import LLMReply, image_data_url
from agent_core.prompts import render_cua_goal
from agent_core.types import ArtifactKind, SafetyCheck, StepRef

__all__ = ["ComputerCall", "CuaEngine", "ModelTurn", "asks_a_question", "parse_turn"]

log = logging.getLogger(__name__)


# ---- the model's output ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputerCall:
    """One validated `computer_call`: its action (or batch of `actions`), each with the model's own keys
    (type, x, y, button, path, keys, ...)."""

    call_id: str
    actions: tuple[dict[str, Any], ...]
    checks: tuple[SafetyCheck, ...] = ()


@dataclass(frozen=True)
class ModelTurn:
    """What one Responses-API reply asks for: computer calls to run, or a final message."""

    response_id: str
    reasoning: str
    calls: tuple[ComputerCall, ...]
    message: str
    output: tuple[dict[str, Any], ...]  # the output items, cleaned for replaying as input



_CLOSERS = "\"'”’)]*_ \n\t"


def asks_a_question(message: str) -> bool:
    """Whether a final message of the model asks the user something instead of reporting: it ends with a
    question mark ("Which plan should I pick?", "Shall I submit the form?")."""
    return message.strip().rstrip(_CLOSERS).endswith("?")


def _clean(value: Any) -> Any:
    """An output item fit to send back as input: nulls dropped (the API rejects many of them as input)."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _reasoning_text(output: list[Any]) -> str:
    parts: list[str] = []
    for item in output:
        if isinstance(item, dict) and item.get("type") == "reasoning":
            for summary in item.get("summary") or []:
                if isinstance(summary, dict) and isinstance(summary.get("text"), str) and summary["text"].strip():
                    parts.append(summary["text"].strip())
    return "\n".join(parts)


def parse_turn(response: Any) -> ModelTurn:
    """Read a Responses-API reply (as a dict). Raises LLMError for a failed response or a refusal,
    InvalidModelOutputError for output the engine cannot act on."""
    if not isinstance(response, dict):
        raise InvalidModelOutputError("the model API returned something that is not a response object")
    if response.get("status") in ("failed", "cancelled"):
        error = response.get("error") or {}
        detail = error.get("message") if isinstance(error, dict) else None
        raise LLMError(f"the model's response {response.get('status')}: {detail or 'no reason given'}")
    output = response.get("output")
    if not isinstance(output, list):
        raise InvalidModelOutputError("the model's response has no output items")
    calls: list[ComputerCall] = []
    texts: list[str] = []
    refusals: list[str] = []
    for item in output:
        if not isinstance(item, dict):
            raise InvalidModelOutputError(f"output item {item!r} is not an object")
        if item.get("type") == "computer_call":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidModelOutputError("computer_call has no call_id")
            checks = tuple(
                SafetyCheck(id=str(c.get("id") or ""), code=str(c.get("code") or ""), message=str(c.get("message") or ""))
                for c in item.get("pending_safety_checks") or []
                if isinstance(c, dict)
            )
            batch = item.get("actions")
            if item.get("action") is None and isinstance(batch, list) and batch:
                actions = tuple(parse_action(action) for action in batch)
            else:
                actions = (parse_action(item.get("action")),)
            calls.append(ComputerCall(call_id=call_id, actions=actions, checks=checks))
        elif item.get("type") == "message":
            content = item.get("content")
            for part in content if isinstance(content, list) else []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    refusals.append(str(part.get("refusal") or ""))
    if not calls and refusals:
        raise LLMError(f"model refused: {' '.join(refusals)}", raw=json.dumps(response)[:4000])
    message = "\n".join(t for t in texts if t.strip()).strip()
    if not calls and not message:
        status = response.get("status")
        detail = f" (response status {status})" if status and status != "completed" else ""
        raise InvalidModelOutputError(f"the model answered with neither a computer_call nor a message{detail}")
    return ModelTurn(
        response_id=str(response.get("id") or ""),
        reasoning=_reasoning_text(output),
        calls=tuple(calls),
        message=message,
        output=tuple(_clean(item) for item in output),
    )


# ---- the engine -----------------------------------------------------------------------------------------


@dataclass
class _Answer:
    """What the next request tells the model about one computer_call of the last good response."""

    call_id: str
    acknowledged: list[dict[str, str]] = field(default_factory=list)
    note: str | None = "This action was not carried out."
    screenshot: bytes | None = None  # None: the fresh screenshot taken for the next turn


class CuaEngine(Engine[list[dict[str, Any]]]):
    """One run of the computer-use loop. Each model turn is a step.

    Turns chain with `previous_response_id`; only the newest input (the first turn's goal and screenshot,
    then one `computer_call_output` per call) is sent. A step that fails (model error, malformed output,
    failed action) is retried from the last good response with a fresh screenshot. When the endpoint does
    not know a response id (no `store`, a proxy without chaining), the engine switches for the rest of the
    run to replaying the conversation itself, keeping only the newest `config.image_retention` screenshots.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.final_answer: str = ""
        self.replaying = False
        self._previous_id: str | None = None
        self._first_input: list[dict[str, Any]] | None = None  # the goal message that opened the conversation
        self._turns: list[list[dict[str, Any]]] = []  # per good response: its output items, then our answers
        self._pending: list[_Answer] = []

    # ---- one step: observe, ask, act (Engine._step runs them) ------------------------------------------

    async def observe(self, step: StepRef) -> list[dict[str, Any]]:
        """A fresh screenshot, and the items this turn adds to the conversation."""
        with self._timed("screenshot"):
            shot = await self.session.screenshot()
        url = self.session.page.url
        await self._screenshot_artifact(step, ArtifactKind.SCREENSHOT_LLM, shot, f"step-{step.order}")
        return self._new_input(shot, url)

    async def ask(self, step: StepRef, observation: list[dict[str, Any]]) -> LLMReply:
        body = self._request(observation)
        try:
            return await cancellable(self.control, self.llm.responses_create(**body))
        except LLMError as exc:
            if "previous_response_id" not in body or "previous_response_id" not in str(exc):
                raise
            # The endpoint keeps no responses (or never did): carry the conversation ourselves from now on.
            log.warning("model endpoint does not know response %s; replaying the conversation instead", self._previous_id)
            self.replaying = True
            return await cancellable(self.control, self.llm.responses_create(**self._request(observation)))

    async def act(self, step: StepRef, observation: list[dict[str, Any]], reply: LLMReply) -> StepResult:
        turn = parse_turn(reply.parsed)
        if not turn.calls and asks_a_question(turn.message):
            # The model asks the user instead of acting: a person answers (or acts), and the answer is the
            # next turn's input. The question is a good response: the conversation goes on from it.
            self._commit(observation, turn)
            await self.ask_human(turn.message)
            return StepResult(kind="next")
        if not turn.calls:
            # Not committed: if extraction fails, the retry asks again from the last good input.
            self.final_answer = turn.message
            return StepResult(kind="complete", answer=turn.message)
        self._commit(observation, turn)
        return await self._run_calls(step, turn)

    def reply_reasoning(self, reply: LLMReply) -> str:
        parsed = reply.parsed if isinstance(reply.parsed, dict) else None
        output = parsed.get("output") if parsed is not None else None
        return _reasoning_text(output if isinstance(output, list) else [])

    # ---- the conversation -------------------------------------------------------------------------------

    def _new_input(self, shot: bytes, url: str) -> list[dict[str, Any]]:
        """The items this turn adds to the conversation: the goal message first, then call outputs."""
        image = image_data_url(shot)
        url = self.session.secrets.mask_text(url)  # a secret in a query string stays with us
        if self._first_input is None:
            return [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": render_cua_goal(spec=self.spec, current_url=url)},
                        {"type": "input_image", "image_url": image},
                    ],
                }
            ]
        items: list[dict[str, Any]] = []
        notes: list[str] = list(self.human_notes())
        for answer in self._pending:
            # `current_url` sits inside `output`, where OpenAI's reference computer-use loop puts it.
            output = {
                "type": "input_image",
                "image_url": image if answer.screenshot is None else image_data_url(answer.screenshot),
                "current_url": url,
            }
            item: dict[str, Any] = {"type": "computer_call_output", "call_id": answer.call_id, "output": output}
            if answer.acknowledged:
                item["acknowledged_safety_checks"] = answer.acknowledged
            items.append(item)
            if answer.note:
                notes.append(answer.note)
        if notes:
            text = "\n".join(notes) + "\nThe screenshot shows the page as it is now."
            text = self.session.secrets.mask_text(text)
            content: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
            if not self._pending:  # no call output carries the screenshot: the message does
                content.append({"type": "input_image", "image_url": image})
            items.append({"role": "user", "content": content})
        return items

    def _request(self, new_items: list[dict[str, Any]]) -> dict[str, Any]:
        width, height = viewport_size(self.session, self.session.page)
        body: dict[str, Any] = {
            "model": self.llm_config.cua_model,
            "tools": [
                {
                    "type": "computer_use_preview",
                    "display_width": width,
                    "display_height": height,
                    "environment": "browser",
                }
            ],
            "truncation": "auto",
            "reasoning": {"summary": "concise"},
        }
        if self.replaying:
            body["input"] = self._replay_input(new_items)
        else:
            body["input"] = new_items
            if self._previous_id is not None:
                body["previous_response_id"] = self._previous_id
        return body

    def _replay_input(self, new_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The whole conversation, minus the oldest turns beyond `config.image_retention` screenshots.

        A turn (a response's reasoning and calls plus our outputs for those calls) is kept or dropped whole,
        since the API refuses a call without its output; the goal message stays, its screenshot only if the
        budget allows.
        """
        turns = [list(turn) for turn in self._turns]
        if turns:
            turns[-1].extend(new_items)
            first = self._first_input or []
        else:
            first = new_items
        budget = max(1, self.config.image_retention)
        kept: list[list[dict[str, Any]]] = []
        for turn in reversed(turns):
            images = _count_images(turn)
            if kept and images > budget:
                break
            kept.insert(0, turn)
            budget -= images
        goal = [_without_images(item) if budget <= 0 else item for item in first]
        return [*goal, *(item for turn in kept for item in turn)]

    def _commit(self, new_items: list[dict[str, Any]], turn: ModelTurn) -> None:
        """Make `turn` the last good response: the next request answers its calls."""
        if self._first_input is None:
            self._first_input = new_items
        elif self._turns:
            self._turns[-1].extend(new_items)
        self._turns.append(list(turn.output))
        self._previous_id = turn.response_id
        self.notes_delivered()
        self._pending = [_Answer(call_id=call.call_id) for call in turn.calls]

    # ---- actions ----------------------------------------------------------------------------------------

    async def _run_calls(self, step: StepRef, turn: ModelTurn) -> StepResult:
        index = 0  # actions are numbered across the step's calls
        for number, call in enumerate(turn.calls):
            answer = self._pending[number]
            if call.checks:
                # The call is held until an operator decides; terminate raises out of approve().
                if not await self.control.approve(list(call.checks)):
                    listed = "; ".join(f"{c.code}: {c.message}" if c.message else c.code for c in call.checks)
                    kinds = ", ".join(str(action["type"]) for action in call.actions)
                    return StepResult(
                        kind="denied", error=f"an operator denied the safety checks on {kinds} ({listed})"
                    )
                answer.acknowledged = [{"id": c.id, "code": c.code, "message": c.message} for c in call.checks]
            shot = b""
            for action in call.actions:
                as_dict = _action_dict(call, action, turn.reasoning)
                result, shot = await self._perform_action(
                    step, index, as_dict, functools.partial(perform_action, self.session, action, self.control)
                )
                index += 1
                if not result.success:
                    answer.note = f"Your {action['type']} action failed: {result.error}"
                    for later in self._pending[number + 1 :]:
                        later.note = "This action was not carried out because an earlier one failed."
                    if number < len(turn.calls) - 1:
                        answer.screenshot = shot
                    raise StepFailedError(f"{action['type']} failed: {result.error}")
            if number < len(turn.calls) - 1:
                answer.screenshot = shot  # the last call's output gets the next turn's fresh screenshot
            answer.note = None
        return StepResult(kind="next")


def _action_dict(call: ComputerCall, action: dict[str, Any], reasoning: str) -> dict[str, Any]:
    """The action as hooks and the dashboard see it: action_type, element_id (none here), reasoning, params."""
    params = {key: value for key, value in action.items() if key != "type"}
    out: dict[str, Any] = {"action_type": action["type"], "element_id": None, "reasoning": reasoning, **params}
    out["call_id"] = call.call_id
    if call.checks:
        out["safety_checks"] = [check.code for check in call.checks]
    return out


def _count_images(items: list[dict[str, Any]]) -> int:
    count = 0
    for item in items:
        if item.get("type") == "computer_call_output":
            count += 1
        content = item.get("content")
        if isinstance(content, list):
            count += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "input_image")
    return count


def _without_images(item: dict[str, Any]) -> dict[str, Any]:
    content = item.get("content")
    if not isinstance(content, list):
        return item
    return {**item, "content": [p for p in content if not (isinstance(p, dict) and p.get("type") == "input_image")]}
