"""The actions a dom-engine model may ask for, as pydantic models (DESIGN.md, "Contract with the model")."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_WAIT_S = 30.0


class _Action(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    element_id: str | None = None
    reasoning: str = ""

    @field_validator("element_id", mode="before")
    @classmethod
    def _normalise_id(cls, value: Any) -> Any:
        """Models write "[e12]", "E12" or 12 for e12: accept them all."""
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().strip("[]").strip()
        if not text or text.lower() in ("null", "none"):
            return None
        if text.isdigit():
            return f"e{text}"
        if re.fullmatch(r"[eE]\d+", text):
            return text.lower()
        return text

    @field_validator("reasoning", mode="before")
    @classmethod
    def _reasoning_text(cls, value: Any) -> Any:
        return "" if value is None else value


class _ElementAction(_Action):
    @model_validator(mode="after")
    def _needs_element(self) -> _ElementAction:
        if not self.element_id:
            raise ValueError(f"{getattr(self, 'action_type', 'this action')} needs an element_id")
        return self


class Click(_ElementAction):
    action_type: Literal["click"] = "click"


class InputText(_ElementAction):
    action_type: Literal["input_text"] = "input_text"
    text: str

    @field_validator("text", mode="before")
    @classmethod
    def _scalar_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _option_text(value: Any) -> Any:
    if isinstance(value, dict):  # {"label": "France"} or {"value": "fr"}
        value = value.get("label") or value.get("value")
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class SelectOption(_ElementAction):
    """One option of a select, or a list of options: on a <select multiple>, exactly those are chosen."""

    action_type: Literal["select_option"] = "select_option"
    option: str | list[str]

    @field_validator("option", mode="before")
    @classmethod
    def _option_text(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [_option_text(item) for item in value]
        return _option_text(value)

    @property
    def options(self) -> list[str]:
        """The options asked for, in order, each once."""
        wanted = self.option if isinstance(self.option, list) else [self.option]
        return list(dict.fromkeys(wanted))


class Checkbox(_ElementAction):
    action_type: Literal["checkbox"] = "checkbox"
    checked: bool


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?", re.IGNORECASE)


class SetSlider(_ElementAction):
    """Move a slider (input type=range, role=slider) or a spin button to `value`, checked afterwards."""

    action_type: Literal["set_slider"] = "set_slider"
    value: int | float

    @field_validator("value", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        """50, 50.0, "50" and "50%" are 50; anything else is a clear error."""
        if isinstance(value, bool):
            raise ValueError("value must be a number")
        if isinstance(value, str):
            text = value.strip().rstrip("%").strip().replace(",", "")
            if not _NUMBER.fullmatch(text):
                raise ValueError(f"value must be a number, not {value!r}")
            value = float(text)
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)  # 50, not 50.0, in the history and the timeline
        return value

    @field_validator("value", mode="after")
    @classmethod
    def _finite(cls, value: int | float) -> int | float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("value must be a finite number")
        return value


class Hover(_ElementAction):
    """Rest the mouse on an element: what opens on hover (a menu, a tooltip) opens."""

    action_type: Literal["hover"] = "hover"


READ_TEXT_LIMIT = 4000  # characters of an element's text that read_text returns at once


class ReadText(_ElementAction):
    """The whole text (or value) of one element, READ_TEXT_LIMIT characters at a time from `offset`."""

    action_type: Literal["read_text"] = "read_text"
    offset: int = Field(default=0, ge=0)

    @field_validator("offset", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> Any:
        return 0 if value is None else value


class UploadFile(_ElementAction):
    action_type: Literal["upload_file"] = "upload_file"
    file_url: str


class Scroll(_Action):
    action_type: Literal["scroll"] = "scroll"
    direction: Literal["up", "down"] = "down"

    @field_validator("direction", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class Keypress(_Action):
    action_type: Literal["keypress"] = "keypress"
    keys: list[str] = Field(min_length=1)

    @field_validator("keys", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Wait(_Action):
    action_type: Literal["wait"] = "wait"
    seconds: float = 1.0

    @field_validator("seconds", mode="after")
    @classmethod
    def _cap(cls, value: float) -> float:
        return min(max(value, 0.0), MAX_WAIT_S)


class GotoUrl(_Action):
    action_type: Literal["goto_url"] = "goto_url"
    url: str


class GoBack(_Action):
    action_type: Literal["go_back"] = "go_back"


class Complete(_Action):
    action_type: Literal["complete"] = "complete"


class AskHuman(_Action):
    """Ask the person overseeing the run a question, and wait for the answer (or for them to act)."""

    action_type: Literal["ask_human"] = "ask_human"
    question: str = Field(min_length=1)


class TerminateError(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    error_code: str
    reasoning: str = ""


class Terminate(_Action):
    action_type: Literal["terminate"] = "terminate"
    errors: list[TerminateError] = Field(default_factory=list)


Action = Annotated[
    Click
    | InputText
    | SelectOption
    | Checkbox
    | SetSlider
    | Hover
    | ReadText
    | UploadFile
    | Scroll
    | Keypress
    | Wait
    | GotoUrl
    | GoBack
    | Complete
    | Terminate
    | AskHuman,
    Field(discriminator="action_type"),
]
ACTION_TYPES: tuple[str, ...] = (
    "click",
    "input_text",
    "select_option",
    "checkbox",
    "set_slider",
    "hover",
    "read_text",
    "upload_file",
    "scroll",
    "keypress",
    "wait",
    "goto_url",
    "go_back",
    "complete",
    "terminate",
    "ask_human",
)
# Names models reach for instead of ours.


def action_to_dict(action: Action) -> dict[str, Any]:
    """action_type, element_id, reasoning and the type's own parameters, JSON-ready."""
    return action.model_dump(mode="json")
