"""Who is watching a task's live view: a counter in the cache (Redis when configured) plus a wake-up
to the running agent, so the screencast runs only while somebody watches."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from tasks_app.events import apublish, control_group

TTL_SECONDS = 6 * 3600


def _key(task_id: Any) -> str:
    return f"lookout:viewers:{task_id}"


async def viewer_joined(task_id: Any) -> None:
    await cache.aadd(_key(task_id), 0, TTL_SECONDS)
    await cache.aincr(_key(task_id))
    await apublish(control_group(task_id), "control.viewers", {"task_id": str(task_id)})


async def viewer_left(task_id: Any) -> None:
    try:
        if await cache.adecr(_key(task_id)) <= 0:
            await cache.adelete(_key(task_id))
    except ValueError:
        pass
    await apublish(control_group(task_id), "control.viewers", {"task_id": str(task_id)})


async def viewer_count(task_id: Any) -> int:
    return int(await cache.aget(_key(task_id)) or 0)
