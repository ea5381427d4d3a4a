"""Websocket consumers: the task timeline (replay after ?after=, then live) and the live browser view.

Thin by design: authenticate on connect, join the task's group, forward. Nothing here writes. Access is
checked again every LOOKOUT_WS_RECHECK_SECONDS for the life of the socket: a member removed from the
organization, or a session that was logged out, expired or invalidated, is disconnected with ACCESS_REVOKED.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings

from tasks_app.access import can_control, task_for_user
from tasks_app.events import control_group, encode_event, frames_group, task_group
from tasks_app.json_limits import loads as loads_bounded
from tasks_app.selectors.events import events_after
from tasks_app.selectors.tasks import control_holder
from tasks_app.services import live_view
from tasks_app.services.events import event_payload

TAIL_SECONDS = 3.0
ACCESS_REVOKED = 4403  # close code: the dashboard says "You no longer have access to this task"


@database_sync_to_async
def _allowed(user: Any, task_id: Any) -> bool:
    return task_for_user(user=user, task_id=task_id) is not None


def _session_user(session_key: str) -> Any:
    """The user the session store holds for this key now (AnonymousUser once logged out, expired, or
    invalidated by a password change), read afresh rather than from the socket's cached scope."""
    from importlib import import_module

    from django.contrib import auth
    from django.http import HttpRequest

    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return auth.get_user(request)


@database_sync_to_async
def _still_allowed(scope: dict[str, Any], task_id: Any) -> bool:
    """Whether the socket's user may still read the task. A socket opened with a session cookie is
    re-authenticated from the session store; otherwise the scope's user is checked again."""
    user = scope.get("user")
    session = scope.get("session")
    session_key = getattr(session, "session_key", None) if session is not None else None
    if session_key:
        user = _session_user(session_key)
    return user is not None and task_for_user(user=user, task_id=task_id) is not None


class AccessRecheck:
    """Mixin for task sockets: re-check access every LOOKOUT_WS_RECHECK_SECONDS, close when it is gone."""

    task_id: Any
    scope: Any

    def start_access_recheck(self) -> None:
        self.recheck = asyncio.ensure_future(self._recheck_access())

    def stop_access_recheck(self) -> None:
        recheck = getattr(self, "recheck", None)
        if recheck is not None and recheck is not asyncio.current_task():
            recheck.cancel()

    async def _recheck_access(self) -> None:
        while True:
            await asyncio.sleep(settings.LOOKOUT_WS_RECHECK_SECONDS)
            if not await _still_allowed(self.scope, self.task_id):
                await self.close(code=ACCESS_REVOKED)  # type: ignore[attr-defined]
                return


class Forwarding:
    """Mixin: the channel-layer messages in FORWARDED, and the socket's own connect, receive and disconnect,
    are handled on the event loop at once. Channels' dispatch first hops to the sync thread to close stale
    database connections, for every message of every socket: with 100 viewers at 50 events/s that is 5,000
    hops a second through one thread, the whole cost of the fan-out; and a handshake queued one more trip
    behind every other socket's (20 viewers connecting at once on a busy machine went past daphne's 5 s
    handshake limit). These handlers use no database connection, or one through database_sync_to_async,
    which closes stale connections itself."""

    FORWARDED: frozenset[str] = frozenset()
    SOCKET_MESSAGES = frozenset({"websocket.connect", "websocket.receive", "websocket.disconnect"})

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") in self.FORWARDED or message.get("type") in self.SOCKET_MESSAGES:
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)  # type: ignore[misc]


@database_sync_to_async
def _live_view_access(user: Any, task_id: Any) -> tuple[bool, int | None, str] | None:
    """None if the user may not watch the task; else (may control it, holder id, holder label). One trip
    to the sync thread (and one database connection) for the whole handshake: under load every trip
    waits its turn behind every other socket's, and daphne drops a handshake not accepted in 5 s."""
    task = task_for_user(user=user, task_id=task_id)
    if task is None:
        return None
    holder_id, holder = control_holder(task_id=task_id)
    return can_control(organization=task.organization, actor=user), holder_id, holder


@database_sync_to_async
def _holder(task_id: Any) -> tuple[int | None, str]:
    return control_holder(task_id=task_id)


MAX_INPUT_CHARS = 16_384  # one input event (a paste is the largest)
HOLDER_RECHECK_S = 1.0  # a non-holder's input re-reads who holds control at most this often


@database_sync_to_async
def _events(task_id: Any, after: int, until: int | None = None) -> list[dict[str, Any]]:
    return [dict(event_payload(e)) for e in events_after(task_id=task_id, after=after, until=until)]


class TimelineConsumer(Forwarding, AccessRecheck, AsyncJsonWebsocketConsumer):
    """`ws/tasks/<id>/?after=<seq>`: first what the client missed, then live events, in seq order, once each."""

    FORWARDED = frozenset({"timeline.event"})

    async def connect(self) -> None:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        if not await _allowed(self.scope.get("user"), self.task_id):
            await self.close(code=4403)  # before accept: the handshake is refused
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.last_seq = max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            self.last_seq = 0
        self.group = task_group(self.task_id)
        # Join first, then replay: anything published meanwhile waits in our queue and is de-duplicated by seq.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._catch_up()
        self.tail = asyncio.ensure_future(self._tail())
        self.start_access_recheck()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """The timeline only streams out; what a client sends is ignored (never parsed, so never a
        RecursionError from a deeply nested message)."""

    async def _catch_up(self, until: int | None = None) -> None:
        for event in await _events(self.task_id, self.last_seq, until=until):
            if event["seq"] > self.last_seq:
                await self.send_json(event)
                self.last_seq = event["seq"]

    async def _tail(self) -> None:
        """Safety net under the live stream: Pub/Sub delivery is fire-and-forget (a message published while
        our subscription is being set up, or while Redis reconnects, is gone), so every few seconds look
        for stored events we have not sent. Gaps are also filled at once when a later event arrives."""
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            delay = TAIL_SECONDS
            await self._catch_up()

    async def disconnect(self, code: int) -> None:
        self.stop_access_recheck()
        if getattr(self, "tail", None) is not None:
            self.tail.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def timeline_event(self, message: dict[str, Any]) -> None:
        event = message["payload"]
        seq = event.get("seq")
        text = message.get("text") or encode_event(event)  # encoded once, by the publisher
        if seq is None:  # unstored (llm.delta): forward as is
            await self.send(text_data=text)
            return
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:  # a publish was lost or overtaken: fill the gap from the database
            await self._catch_up(until=seq)
        if seq > self.last_seq:
            await self.send(text_data=text)
            self.last_seq = seq


class FramesConsumer(Forwarding, AccessRecheck, AsyncWebsocketConsumer):
    """`ws/tasks/<id>/frames/`: live frames as binary messages, lossy and latest-wins. Each message is an
    8-byte big-endian float64 (capture time, ms since the epoch) followed by the JPEG.

    Take control rides the same socket. Text messages down: `{"type": "control", "holder", "you", "ready"}`
    whenever control changes hands or the agent parks, and `{"type": "refused", "message"}` when input was
    not applied. Text messages up: the holder's input events (agent_core.browser.remote_input), forwarded
    to the running agent, which applies them only while it is paused. A viewer who is not the holder is
    refused here; the agent checks again."""

    FORWARDED = frozenset({"live.frame", "live.control", "live.refused"})

    async def connect(self) -> None:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        user = self.scope.get("user")
        access = await _live_view_access(user, self.task_id)
        if access is None:
            await self.close(code=4403)
            return
        self.may_control, self.holder_id, holder = access
        self.holder_checked = time.monotonic()
        self.user_id = getattr(user, "pk", None)
        self.group = frames_group(self.task_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await live_view.viewer_joined(self.task_id)
        self.counted = True
        await self.accept()
        if holder:  # a viewer who reloads keeps the control they hold (the agent says when it is ready)
            await self._send_control(holder_id=self.holder_id, holder=holder, ready=False)
        self.start_access_recheck()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """An input event of the person in control: checked (size, shape, sender) and forwarded."""
        if text_data is None or len(text_data) > MAX_INPUT_CHARS:
            return
        try:
            event = loads_bounded(text_data, limit=2)
        except ValueError:
            return
        if not isinstance(event, dict) or not isinstance(event.get("t"), str):
            return
        if not self.may_control:
            await self._refuse("Viewers cannot control runs.")
            return
        if self.holder_id is None or self.holder_id != self.user_id:
            if time.monotonic() - self.holder_checked > HOLDER_RECHECK_S:
                self.holder_id, holder = await _holder(self.task_id)
                self.holder_checked = time.monotonic()
            if self.holder_id is None or self.holder_id != self.user_id:
                await self._refuse("Someone else has control of this browser." if self.holder_id else "Take control first.")
                return
        payload = {"event": event, "user_id": self.user_id, "reply_to": self.channel_name}
        await self.channel_layer.group_send(control_group(self.task_id), {"type": "control.input", "payload": payload})

    async def _refuse(self, message: str) -> None:
        await self.send(text_data=json.dumps({"type": "refused", "message": message}))

    async def _send_control(self, *, holder_id: int | None, holder: str, ready: bool) -> None:
        you = bool(holder) and holder_id is not None and holder_id == self.user_id
        await self.send(text_data=json.dumps({"type": "control", "holder": holder, "you": you, "ready": ready}))

    async def live_control(self, message: dict[str, Any]) -> None:
        data = message["payload"]
        self.holder_id, self.holder_checked = data.get("holder_id"), time.monotonic()
        await self._send_control(holder_id=self.holder_id, holder=str(data.get("holder") or ""), ready=bool(data.get("ready")))

    async def live_refused(self, message: dict[str, Any]) -> None:
        await self._refuse(str(message["payload"].get("message") or "Input not applied."))

    async def disconnect(self, code: int) -> None:
        self.stop_access_recheck()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if getattr(self, "counted", False):
            await live_view.viewer_left(self.task_id)

    async def live_frame(self, message: dict[str, Any]) -> None:
        # Latest wins here too: never queue frames behind a slow socket, keep only the newest.
        payload = message["payload"]
        self.pending = struct.pack(">d", float(payload.get("ts") or 0) * 1000) + payload["jpeg"]
        sender = getattr(self, "sender", None)
        if sender is None or sender.done():
            self.sender = asyncio.ensure_future(self._send_latest())

    async def _send_latest(self) -> None:
        while self.pending is not None:
            frame, self.pending = self.pending, None
            await self.send(bytes_data=frame)
