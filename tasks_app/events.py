"""Websocket event payloads and the one helper that publishes them to a task's channel-layer group."""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

EventType = Literal[
    "task.status",
    "step.started",
    "step.finished",
    "llm.delta",
    "llm.response",
    "action.started",
    "action.finished",
    "artifact.created",
    "approval.pending",
    "approval.resolved",
    "recording.unavailable",
]


class TimelineEvent(TypedDict):
    """What a timeline websocket client receives. `seq` is None for unstored events (llm.delta)."""

    seq: int | None
    type: str
    ts: str
    data: dict[str, Any]


def task_group(task_id: object) -> str:
    return f"task-{task_id}"


def frames_group(task_id: object) -> str:
    return f"frames-{task_id}"


def control_group(task_id: object) -> str:
    """The group a running agent listens on, so operator requests wake it at once."""
    return f"control-{task_id}"


def org_group(org_id: object) -> str:
    return f"org-{org_id}"


def publish(group: str, message_type: str, payload: dict[str, Any]) -> None:
    """Send to a channel-layer group from sync code. A layer failure is logged, never raised:
    the database already holds the event and clients catch up with ?after=."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": message_type, "payload": payload})
    except Exception:
        logger.exception("could not publish %s to %s", message_type, group)


async def apublish(group: str, message_type: str, payload: dict[str, Any]) -> None:
    """Async twin of `publish`, for code already on an event loop."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, {"type": message_type, "payload": payload})
    except Exception:
        logger.exception("could not publish %s to %s", message_type, group)
