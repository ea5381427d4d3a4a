"""The dom engine's hands: the actions a model may ask for, parsing its reply, and carrying actions out on a page.

Split by seam: `vocabulary` (the action models), `parsing` (the model's reply), `targets` (finding an
action's element), `execution` (performing actions), `uploads` (files for upload_file). Every public name
is importable from here.
"""

from agent_core.actions.execution import SCROLL_FRACTION, execute_action, match_option, normalise_key
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
    Action,
    AskHuman,
    Checkbox,
    Click,
    Complete,
    GoBack,
    GotoUrl,
    InputText,
    Keypress,
    Scroll,
    SelectOption,
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
    "MAX_UPLOAD_BYTES",
    "MAX_WAIT_S",
    "SCROLL_FRACTION",
    "Action",
    "ActionFailed",
    "AgentStep",
    "AskHuman",
    "Checkbox",
    "Click",
    "Complete",
    "GoBack",
    "GotoUrl",
    "InputText",
    "Keypress",
    "Scroll",
    "SelectOption",
    "Terminate",
    "TerminateError",
    "UploadFile",
    "Wait",
    "action_to_dict",
    "execute_action",
    "match_option",
    "normalise_key",
    "parse_agent_step",
]
