"""Websocket event payloads (one TypedDict per event type) and the one helper that publishes them to a
task's channel-layer group."""


import json
import logging
from typing import Any, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class TimelineEvent(TypedDict):
    """What a timeline websocket client receives. `seq` is None for unstored events (llm.delta)."""

    seq: int | None
    type: str
    ts: str
    data: dict[str, Any]


# ---- the `data` of each event type --------------------------------------------------------------


class SafetyCheckData(TypedDict):
    id: str
    code: str
    message: str


class TaskStatusData(TypedDict):
    status: str
    failure_reason: str
    by: NotRequired[str]
    control: NotRequired[bool]  # the pause or resume came from taking or releasing control
    retry_step: NotRequired[bool]
    requeued: NotRequired[bool]
    reason: NotRequired[str]


class StepStartedData(TypedDict):
    step_id: int
    order: int
    retry_index: int
    url: str
    # In a replay: "replayed" (a recorded action, no model) or "model" (the model was asked), and why it was.
    mode: NotRequired[str]
    why: NotRequired[str]


class StepFinishedData(TypedDict):
    step_id: int
    order: int
    retry_index: int
    success: bool
    error: str | None
    input_tokens: int
    output_tokens: int
    cost: str
    duration_ms: int


class LLMDeltaData(TypedDict):
    order: int
    retry_index: int
    text: str


class LLMResponseData(TypedDict):
    step_id: int | None
    order: int
    retry_index: int
    parsed: Any
    raw: str | None
    input_tokens: int
    output_tokens: int


class ActionStartedData(TypedDict):
    action_id: int
    step_id: int
    index: int
    action: dict[str, Any]
    mode: NotRequired[str]  # in a replay, as on step.started
    why: NotRequired[str]


class ActionFinishedData(TypedDict):
    action_id: int | None
    step_id: int
    index: int
    action_type: str | None
    success: bool
    error: str | None
    navigated: bool
    data: Any
    duration_ms: int


class ArtifactCreatedData(TypedDict):
    id: int
    kind: str
    name: str
    content_type: str
    size: int
    step_id: int | None
    action_id: int | None
    url: str
    thumbnail_url: str | None


class ApprovalPendingData(TypedDict):
    checks: list[SafetyCheckData]


class ApprovalResolvedData(TypedDict):
    approved: bool
    checks: list[SafetyCheckData]
    by: str


class RecordingUnavailableData(TypedDict):
    recording: str
    reason: str


class ProfileSavedData(TypedDict):
    """A completed run saved its browser's cookies and local storage as the named saved login."""

    profile: str
    sites: list[str]
    created: bool


class EgressBlockedData(TypedDict):
    """A request the egress policy refused. After the first ones of a run, one more event with `omitted`
    (url "") counts the rest."""

    url: str
    reason: str
    omitted: NotRequired[int]


class ControlTakenData(TypedDict):
    by: str
    previous: NotRequired[str]  # an organization admin took control over from this holder


class ControlReleasedData(TypedDict):
    by: str
    reason: str  # "released", "idle" (no input for LOOKOUT_CONTROL_IDLE_SECONDS), "taken over"


class ControlActionData(TypedDict):
    """One coalesced thing the person in control did (`text`: "clicked the button \"Sign in\"", ...)."""

    kind: str
    text: str
    by: str


class InputRequestedData(TypedDict):
    question: str


class InputAnsweredData(TypedDict):
    question: str
    answer: str
    by: str
    handled: bool  # they took control and handled it themselves


class ScriptRecordedData(TypedDict):
    """A new version of a script: version 1 recorded by a run of the model, or a later one repaired by a
    replay (`healed_steps`: the steps the model had to redo, as the engine numbers them)."""

    script_id: int
    lineage_id: str  # the run that recorded version 1
    version: int
    reason: str  # "recorded" | "repaired"
    steps: int
    healed_steps: list[int]


class ReplayFinishedData(TypedDict):
    """What a replay saved, against the run that recorded its script."""

    script_id: int | None
    version: int | None
    steps_replayed: int
    steps_healed: int
    model_calls: int
    model_calls_recorded: int
    tokens_saved: int


EVENT_DATA: dict[str, type] = {
    "task.status": TaskStatusData,
    "step.started": StepStartedData,
    "step.finished": StepFinishedData,
    "llm.delta": LLMDeltaData,
    "llm.response": LLMResponseData,
    "action.started": ActionStartedData,
    "action.finished": ActionFinishedData,
    "artifact.created": ArtifactCreatedData,
    "approval.pending": ApprovalPendingData,
    "approval.resolved": ApprovalResolvedData,
    "recording.unavailable": RecordingUnavailableData,
    "profile.saved": ProfileSavedData,
    "egress.blocked": EgressBlockedData,
    "control.taken": ControlTakenData,
    "control.released": ControlReleasedData,
    "control.action": ControlActionData,
    "input.requested": InputRequestedData,
    "input.answered": InputAnsweredData,
    "script.recorded": ScriptRecordedData,
    "replay.finished": ReplayFinishedData,
}
"""Every event type and the TypedDict its `data` follows (checked in tests against stored events)."""

EventData = (
    TaskStatusData
    | StepStartedData
    | StepFinishedData
    | LLMResponseData
    | ActionStartedData
    | ActionFinishedData
    | ArtifactCreatedData
    | ApprovalPendingData
    | ApprovalResolvedData
    | RecordingUnavailableData
    | ProfileSavedData
    | EgressBlockedData
    | ControlTakenData
    | ControlReleasedData
    | ControlActionData
    | InputRequestedData
    | InputAnsweredData
    | ScriptRecordedData
    | ReplayFinishedData
)


def task_group(task_id: object) -> str:
    return f"task-{task_id}"


def frames_group(task_id: object) -> str:
    return f"frames-{task_id}"


def control_group(task_id: object) -> str:
    """The group a running agent listens on, so operator requests wake it at once."""
    return f"control-{task_id}"


def encode_event(event: TimelineEvent | dict[str, Any]) -> str:
    """A timeline event as the text websocket clients receive: encoded once per event, at the publisher,
    and forwarded as is by every consumer (not re-encoded once per socket)."""
    return json.dumps(event, separators=(",", ":"))


def _message(message_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    message = {"type": message_type, "payload": payload}
    if message_type == "timeline.event":
        message["text"] = encode_event(payload)
    return message
class LiveControlData(TypedDict):
    """Who holds the live view's control, sent to its viewers (`live.control` on the frames group); `ready`
    once the agent has stopped and input is applied."""

    holder_id: int | None
    holder: str
    ready: bool


def publish(group: str, message_type: str, payload: dict[str, Any]) -> None:
    """Send to a channel-layer group from sync code. A layer failure is logged, never raised:
    the database already holds the event and clients catch up with ?after=."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, _message(message_type, payload))
    except Exception:
        logger.exception("could not publish %s to %s", message_type, group)


async def apublish(group: str, message_type: str, payload: dict[str, Any]) -> None:
    """Async twin of `publish`, for code already on an event loop."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, _message(message_type, payload))
    except Exception:
        logger.exception("could not publish %s to %s", message_type, group)
