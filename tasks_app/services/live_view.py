"""Who is watching a task's live view: a counter in the cache (Redis when configured) plus a wake-up
to the running agent, so the screencast runs only while somebody watches."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import cache

from tasks_app.events import apublish, control_group

TTL_SECONDS = 6 * 3600


def _key(task_id: Any) -> str:
    return f"lookout:viewers:{task_id}"


def _joined(task_id: Any) -> None:
    cache.add(_key(task_id), 0, TTL_SECONDS)
    cache.incr(_key(task_id))


def _left(task_id: Any) -> None:
    try:
        if cache.decr(_key(task_id)) <= 0:
            cache.delete(_key(task_id))
    except ValueError:
        pass


# The counter is a cache (Redis) round trip, not a database one: it runs on a pool thread
# (thread_sensitive=False) rather than queueing on the one sync thread behind every socket's database work.
# Django's cache handler is per thread, so no client is shared between threads.
async def viewer_joined(task_id: Any) -> None:
    await sync_to_async(_joined, thread_sensitive=False)(task_id)
    await apublish(control_group(task_id), "control.viewers", {"task_id": str(task_id)})


async def viewer_left(task_id: Any) -> None:
    await sync_to_async(_left, thread_sensitive=False)(task_id)
    await apublish(control_group(task_id), "control.viewers", {"task_id": str(task_id)})


async def viewer_count(task_id: Any) -> int:
    return int(await sync_to_async(cache.get, thread_sensitive=False)(_key(task_id)) or 0)
