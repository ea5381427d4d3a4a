"""Websocket consumers: the task timeline (replay after ?after=, then live) and the live browser view.

Thin by design: authenticate on connect, join the task's group, forward. Nothing here writes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from tasks_app.events import frames_group, task_group
from tasks_app.selectors import events_after, task_for_user
from tasks_app.services.events import event_payload


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
        for event in await _events(self.task_id, self.last_seq):
            await self.send_json(event)
            self.last_seq = event["seq"]

    async def disconnect(self, code: int) -> None:
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
            for missed in await _events(self.task_id, self.last_seq, until=seq):
                await self.send_json(missed)
        await self.send_json(event)
        self.last_seq = seq


class FramesConsumer(AsyncWebsocketConsumer):
    """`ws/tasks/<id>/frames/`: live JPEG frames as binary messages, lossy and latest-wins."""

    async def connect(self) -> None:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        if not await _allowed(self.scope.get("user"), self.task_id):
            await self.close(code=4403)
            return
        self.group = frames_group(self.task_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        from tasks_app import live_view

        await live_view.viewer_joined(self.task_id)
        self.counted = True
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if getattr(self, "counted", False):
            from tasks_app import live_view

            await live_view.viewer_left(self.task_id)

    async def live_frame(self, message: dict[str, Any]) -> None:
        await self.send(bytes_data=message["payload"]["jpeg"])
