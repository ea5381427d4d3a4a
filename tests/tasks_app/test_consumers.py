"""Websocket streams: replay after ?after=, live events in order without duplicates, org-only access."""

import json
import struct

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from project.asgi import application
from tasks_app import services
from tasks_app.events import apublish, frames_group
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(task, user, path=""):
    comm = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/{path}", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    comm.scope["user"] = user
    return comm


@pytest.fixture
def task(org):
    return TaskFactory(organization=org, status="running")


def add_events(task, n, start=0):
    for i in range(n):
        services.record_event(task_id=task.pk, type="step.started", data={"order": start + i + 1})


async def receive_all(comm, n):
    return [await comm.receive_json_from(timeout=3) for _ in range(n)]


async def test_replay_after_then_live_without_gaps_or_duplicates(task, operator):
    await sync_to_async(add_events)(task, 5)
    comm = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/?after=2", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    comm.scope["user"] = operator
    connected, _ = await comm.connect()
    assert connected
    replay = await receive_all(comm, 3)
    assert [e["seq"] for e in replay] == [3, 4, 5]
    assert set(replay[0]) == {"seq", "type", "ts", "data"}
    await sync_to_async(add_events)(task, 2, start=5)
    live = await receive_all(comm, 2)
    assert [e["seq"] for e in live] == [6, 7]
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()

    # reconnect with the last seq seen: exactly what was missed, nothing twice
    await sync_to_async(add_events)(task, 3, start=7)
    again = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/?after=7", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    again.scope["user"] = operator
    assert (await again.connect())[0]
    assert [e["seq"] for e in await receive_all(again, 3)] == [8, 9, 10]
    assert await again.receive_nothing(timeout=0.2)
    await again.disconnect()


async def test_events_are_json_round_trippable(task, operator):
    await sync_to_async(add_events)(task, 1)
    comm = communicator(task, operator)
    assert (await comm.connect())[0]
    event = await comm.receive_json_from(timeout=3)
    assert json.loads(json.dumps(event)) == event
    await comm.disconnect()


async def test_gap_in_live_stream_is_filled_from_database(task, operator):
    from tasks_app.events import task_group
    from tasks_app.services.events import event_payload

    comm = communicator(task, operator)
    assert (await comm.connect())[0]
    # store two events without publishing the first (as if its publish was lost)
    first = await sync_to_async(lambda: __import__("tasks_app.models", fromlist=["TaskEvent"]).TaskEvent.objects.create(task=task, seq=1, type="x", data={}))()
    await sync_to_async(lambda: type(task).objects.filter(pk=task.pk).update(last_event_seq=1))()
    second = await sync_to_async(services.record_event)(task_id=task.pk, type="y", data={})
    got = await receive_all(comm, 2)
    assert [e["seq"] for e in got] == [first.seq, second.seq]
    await apublish(task_group(task.pk), "timeline.event", dict(event_payload(second)))  # duplicate publish
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


@pytest.mark.parametrize("path", ["", "frames/"])
async def test_outsider_and_anonymous_are_refused(task, outsider, path):
    from django.contrib.auth.models import AnonymousUser

    for user in (outsider, AnonymousUser()):
        comm = communicator(task, user, path)
        connected, _ = await comm.connect()
        assert not connected
        await comm.disconnect()


async def test_viewer_may_watch(task, viewer):
    comm = communicator(task, viewer)
    assert (await comm.connect())[0]
    await comm.disconnect()


async def test_frames_stream_forwards_binary_and_counts_viewers(task, operator):
    from tasks_app.services.live_view import viewer_count

    comm = communicator(task, operator, "frames/")
    assert (await comm.connect())[0]
    assert await viewer_count(task.pk) == 1
    await apublish(frames_group(task.pk), "live.frame", {"jpeg": b"\xff\xd8\xffjpeg", "ts": 1700000000.5})
    message = await comm.receive_from(timeout=3)
    assert struct.unpack(">d", message[:8])[0] == 1700000000500.0 and message[8:] == b"\xff\xd8\xffjpeg"
    await comm.disconnect()
    assert await viewer_count(task.pk) == 0


async def test_cross_origin_socket_is_refused(task, operator):
    comm = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/", headers=[(b"origin", b"http://evil.test"), (b"host", b"127.0.0.1")])
    comm.scope["user"] = operator
    connected, _ = await comm.connect()
    assert not connected


async def test_event_lost_in_transit_still_arrives(task, operator):
    """Stored but never published (as when Pub/Sub drops a message): the consumer's tail check sends it."""
    from tasks_app.models import Task, TaskEvent

    comm = communicator(task, operator)
    assert (await comm.connect())[0]
    await sync_to_async(lambda: (TaskEvent.objects.create(task=task, seq=1, type="task.status", data={"status": "completed"}),
                                 Task.objects.filter(pk=task.pk).update(last_event_seq=1)))()
    event = await comm.receive_json_from(timeout=5)
    assert event["seq"] == 1 and event["data"]["status"] == "completed"
    await comm.disconnect()


# ---- access for the life of the socket -------------------------------------------------------------


async def until_closed(comm, timeout=3.0):
    """The close message the server sends, skipping whatever events come before it."""
    while True:
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output


@pytest.mark.parametrize("path", ["", "frames/"])
async def test_removed_member_is_disconnected(task, operator, settings, path):
    from tasks_app.models import Membership

    settings.LOOKOUT_WS_RECHECK_SECONDS = 0.1
    comm = communicator(task, operator, path)
    assert (await comm.connect())[0]
    assert await comm.receive_nothing(timeout=0.35)  # re-checked a few times: still a member
    await sync_to_async(Membership.objects.filter(user=operator).delete)()
    assert (await until_closed(comm))["code"] == 4403
    await comm.wait()


async def test_logged_out_session_is_disconnected(task, operator, settings):
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import Client

    settings.LOOKOUT_WS_RECHECK_SECONDS = 0.1
    client = Client()
    await sync_to_async(client.force_login)(operator)
    key = client.cookies["sessionid"].value
    comm = WebsocketCommunicator(
        application, f"/ws/tasks/{task.pk}/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", f"sessionid={key}".encode())],
    )
    assert (await comm.connect())[0]  # authenticated by the session cookie alone
    assert await comm.receive_nothing(timeout=0.35)
    await sync_to_async(SessionStore(key).delete)()  # what logging out does
    assert (await until_closed(comm))["code"] == 4403
    await comm.wait()


def origin_comm(task, user, origin, host, **scope):
    comm = WebsocketCommunicator(application, f"/ws/tasks/{task.pk}/", headers=[(b"origin", origin.encode()), (b"host", host.encode())])
    comm.scope.update(user=user, **scope)
    return comm


@pytest.mark.parametrize(
    ("origin", "host", "accepted"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://localhost:8000", "localhost:8000", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("http://127.0.0.1:3000", "127.0.0.1:8000", False),  # another port of the same host
        ("http://127.0.0.1", "127.0.0.1:8000", False),
        ("https://127.0.0.1:8000", "127.0.0.1:8000", False),  # another scheme
        ("http://localhost:8000", "127.0.0.1:8000", False),  # another host name
        ("null", "127.0.0.1:8000", False),
    ],
)
async def test_origin_must_match_scheme_host_and_port(task, operator, origin, host, accepted):
    comm = origin_comm(task, operator, origin, host)
    connected, _ = await comm.connect()
    assert connected is accepted
    await comm.disconnect()


async def test_origin_behind_a_tls_proxy(task, operator, settings):
    settings.ALLOWED_HOSTS = ["lookout.example.test"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    comm = WebsocketCommunicator(
        application, f"/ws/tasks/{task.pk}/",
        headers=[(b"origin", b"https://lookout.example.test"), (b"host", b"lookout.example.test"), (b"x-forwarded-proto", b"https")],
    )
    comm.scope["user"] = operator
    assert (await comm.connect())[0]
    await comm.disconnect()
    plain = origin_comm(task, operator, "https://lookout.example.test", "lookout.example.test")  # no proxy header
    assert not (await plain.connect())[0]
    settings.CSRF_TRUSTED_ORIGINS = ["https://lookout.example.test"]
    trusted = origin_comm(task, operator, "https://lookout.example.test", "lookout.example.test")
    assert (await trusted.connect())[0]
    await trusted.disconnect()


async def test_what_a_client_sends_is_ignored_even_when_hostile(task, operator):
    comm = communicator(task, operator)
    assert (await comm.connect())[0]
    await comm.send_to(text_data="[" * 100_000)  # never parsed: no RecursionError, the socket stays up
    await comm.send_to(bytes_data=b"\x00" * 10)
    await sync_to_async(add_events)(task, 1)
    assert (await comm.receive_json_from(timeout=3))["seq"] == 1
    await comm.disconnect()


async def test_live_events_are_forwarded_as_encoded_once_by_the_publisher(task, operator):
    """Consumers send the publisher's text as is: one encoding per event, however many sockets watch."""
    from channels.layers import get_channel_layer

    from tasks_app.events import task_group

    comms = [communicator(task, operator) for _ in range(3)]
    for comm in comms:
        assert (await comm.connect())[0]
    event = {"seq": 1, "type": "step.started", "ts": "t", "data": {"order": 1}}
    marked = '{"seq":1,"type":"step.started","ts":"t","data":{"order":1},"encoded":"by the publisher"}'
    await get_channel_layer().group_send(task_group(task.pk), {"type": "timeline.event", "payload": event, "text": marked})
    for comm in comms:
        assert await comm.receive_from(timeout=3) == marked
        await comm.disconnect()


async def test_live_messages_skip_the_per_message_hop_to_the_sync_thread(task, operator, monkeypatch):
    """Forwarding a live message never waits for the sync thread (Channels closes stale database connections
    there before every handler: 5,000 hops a second with 100 viewers at 50 events/s)."""
    import channels.consumer
    from channels.layers import get_channel_layer

    from tasks_app.events import task_group

    timeline, frames = communicator(task, operator), communicator(task, operator, "frames/")
    assert (await timeline.connect())[0] and (await frames.connect())[0]

    async def no_hop() -> None:
        raise AssertionError("a live message went through the sync thread")

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", no_hop)
    event = {"seq": 1, "type": "step.started", "ts": "t", "data": {"order": 1}}
    await get_channel_layer().group_send(task_group(task.pk), {"type": "timeline.event", "payload": event})
    assert (await timeline.receive_json_from(timeout=3))["seq"] == 1
    await apublish(frames_group(task.pk), "live.frame", {"jpeg": b"\xff\xd8jpeg", "ts": 1.0})
    assert (await frames.receive_from(timeout=3))[8:] == b"\xff\xd8jpeg"
    monkeypatch.undo()  # disconnecting goes through Channels' own dispatch, hop included
    await timeline.disconnect()
    await frames.disconnect()


async def next_of(layer, channel, kind):
    """The next message of type `kind` on `channel` (others, such as viewer counts, are skipped)."""
    import asyncio

    while True:
        message = await asyncio.wait_for(layer.receive(channel), timeout=3)
        if message["type"] == kind:
            return message


async def test_live_view_input_is_refused_unless_sent_by_the_holder(task, operator, viewer):
    from channels.layers import get_channel_layer

    from tasks_app.events import control_group

    layer = get_channel_layer()
    agent = await layer.new_channel()
    await layer.group_add(control_group(task.pk), agent)
    watcher = communicator(task, viewer, "frames/")
    assert (await watcher.connect())[0]
    await watcher.send_to(text_data=json.dumps({"t": "keydown", "key": "a"}))
    assert await watcher.receive_json_from(timeout=3) == {"type": "refused", "message": "Viewers cannot control runs."}
    comm = communicator(task, operator, "frames/")
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"t": "keydown", "key": "a"}))
    assert (await comm.receive_json_from(timeout=3))["message"] == "Take control first."
    await comm.send_to(text_data="[" * 100_000)  # hostile: dropped, the socket stays up
    await comm.disconnect()

    await sync_to_async(services.take_control)(task=task, by=operator)
    await next_of(layer, agent, "control.wake")
    holder = communicator(task, operator, "frames/")
    assert (await holder.connect())[0]  # a reload keeps control
    assert await holder.receive_json_from(timeout=3) == {"type": "control", "holder": operator.username, "you": True, "ready": False}
    await holder.send_to(text_data=json.dumps({"t": "down", "x": 0.5, "y": 0.5, "button": "left", "clicks": 1}))
    forwarded = await next_of(layer, agent, "control.input")
    assert forwarded["payload"]["event"] == {"t": "down", "x": 0.5, "y": 0.5, "button": "left", "clicks": 1}
    assert forwarded["payload"]["user_id"] == operator.pk
    await holder.disconnect()
    await watcher.disconnect()


async def test_the_agent_refuses_input_until_it_has_paused(task, operator):
    from channels.layers import get_channel_layer

    from tasks_app.runs.control import NOT_PAUSED_YET, DbControl
    from tasks_app.runs.hooks import RecordingHooks

    await sync_to_async(services.take_control)(task=task, by=operator)
    control = DbControl(task.pk, RecordingHooks(task.pk))
    await control.sync()
    layer = get_channel_layer()
    viewer = await layer.new_channel()
    event = {"t": "keydown", "key": "a"}
    await control._apply_one({"event": event, "user_id": operator.pk, "reply_to": viewer})
    refused = await layer.receive(viewer)
    assert refused == {"type": "live.refused", "payload": {"message": NOT_PAUSED_YET}}
    control._refused_at.clear()
    await control._apply_one({"event": event, "user_id": operator.pk + 1000, "reply_to": viewer})
    assert (await layer.receive(viewer))["payload"]["message"] == f"{operator.username} has control of this browser."
