"""The dom engine's hands: the actions a model may ask for, parsing its reply, and carrying actions out on a page.

Split by seam: `vocabulary` (the action models), `parsing` (the model's reply), `targets` (finding an
action's element), `execution` (performing actions), `fields` (typing, and checking what a field holds),
`formats` (dates and times as inputs take them), `choices` (select_option), `sliders` (set_slider),
`uploads` (files for upload_file). Every public name is importable from here.
"""

from agent_core.actions.choices import match_option
from agent_core.actions.execution import SCROLL_FRACTION, execute_action, normalise_key
from agent_core.actions.formats import FORMATS, FormatRefused, normalise_value
from agent_core.actions.parsing import (
    AGENT_STEP_RESPONSE_FORMAT,
    AGENT_STEP_SCHEMA,
    AgentStep,
    parse_agent_step,
)
from agent_core.actions.targets import ActionFailed
from agent_core.actions.uploads import MAX_UPLOAD_BYTES
from agent_core.actions.vocabulary import (
    ACTION_TYPES,
    MAX_WAIT_S,
    READ_TEXT_LIMIT,
    Action,
    AskHuman,
    Checkbox,
    Click,
    Complete,
    GoBack,
    GotoUrl,
    Hover,
    InputText,
    Keypress,
    ReadText,
    Scroll,
    SelectOption,
    SetSlider,
    Terminate,
    TerminateError,
    UploadFile,
    Wait,
    action_to_dict,
)

__all__ = [
    "ACTION_TYPES",
    "AGENT_STEP_RESPONSE_FORMAT",
    "AGENT_STEP_SCHEMA",
    "FORMATS",
    "MAX_UPLOAD_BYTES",
    "MAX_WAIT_S",
    "READ_TEXT_LIMIT",
    "SCROLL_FRACTION",
    "Action",
    "ActionFailed",
    "AgentStep",
    "AskHuman",
    "Checkbox",
    "Click",
    "Complete",
    "FormatRefused",
    "GoBack",
    "GotoUrl",
    "Hover",
    "InputText",
    "Keypress",
    "ReadText",
    "Scroll",
    "SelectOption",
    "SetSlider",
    "Terminate",
    "TerminateError",
    "UploadFile",
    "Wait",
    "action_to_dict",
    "execute_action",
    "match_option",
    "normalise_key",
    "normalise_value",
    "parse_agent_step",
]
