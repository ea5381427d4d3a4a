"""Websocket consumers: the task timeline (replay after ?after=, then live) and the live browser view.

Thin by design: authenticate on connect, join the task's group, forward. Nothing here writes.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from tasks_app.access import task_for_user
from tasks_app.events import frames_group, task_group
from tasks_app.selectors.events import events_after
from tasks_app.services import live_view
from tasks_app.services.events import event_payload

TAIL_SECONDS = 3.0


@database_sync_to_async
def _allowed(user: Any, task_id: Any) -> bool:
    return task_for_user(user=user, task_id=task_id) is not None


@database_sync_to_async
def _events(task_id: Any, after: int, until: int | None = None) -> list[dict[str, Any]]:
    return [dict(event_payload(e)) for e in events_after(task_id=task_id, after=after, until=until)]


class TimelineConsumer(AsyncJsonWebsocketConsumer):
    """`ws/tasks/<id>/?after=<seq>`: first what the client missed, then live events, in seq order, once each."""

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
        if getattr(self, "tail", None) is not None:
            self.tail.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def timeline_event(self, message: dict[str, Any]) -> None:
        event = message["payload"]
        seq = event.get("seq")
        if seq is None:  # unstored (llm.delta): forward as is
            await self.send_json(event)
            return
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:  # a publish was lost or overtaken: fill the gap from the database
            await self._catch_up(until=seq)
        if seq > self.last_seq:
            await self.send_json(event)
            self.last_seq = seq


class FramesConsumer(AsyncWebsocketConsumer):
    """`ws/tasks/<id>/frames/`: live frames as binary messages, lossy and latest-wins. Each message is an
    8-byte big-endian float64 (capture time, ms since the epoch) followed by the JPEG."""

    async def connect(self) -> None:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        if not await _allowed(self.scope.get("user"), self.task_id):
            await self.close(code=4403)
            return
        self.group = frames_group(self.task_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await live_view.viewer_joined(self.task_id)
        self.counted = True
        await self.accept()

    async def disconnect(self, code: int) -> None:
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
