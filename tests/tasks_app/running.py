"""Helpers for tests that execute tasks in this process."""

from __future__ import annotations

import asyncio
from typing import Any

from agent_core.browser import BrowserManager
from tasks_app import services
from tasks_app.runs.execute import execute_task


def make_task(org, user, **request):
    """A queued task that nothing dispatches: the test executes it."""
    return services.create_task(organization=org, created_by=user, dispatch=False, **request)


async def run_until_model_asked(task_id: Any, *, browser: BrowserManager, model: Any, timeout: float = 10.0) -> asyncio.Task[Any]:
    """Start executing the task and return once its first model request has reached the fake server
    (script a slow reply to hold the run there). The returned asyncio task finishes with the run."""
    run = asyncio.create_task(execute_task(task_id, browser=browser))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not model.requests:
        assert not run.done(), f"the run ended before asking the model: {run.result()}"
        assert loop.time() < deadline, "the run never asked the model"
        await asyncio.sleep(0.05)
    return run


def assert_events_typed(events) -> None:
    """Every stored event has a known type whose TypedDict (tasks_app.events) its data follows, and
    survives a JSON round trip unchanged."""
    import json

    from tasks_app.events import EVENT_DATA

    for event in events:
        shape = EVENT_DATA.get(event.type)
        assert shape is not None, f"event {event.seq} has an unknown type {event.type!r}"
        keys = set(event.data)
        required, optional = set(shape.__required_keys__), set(shape.__optional_keys__)
        assert required <= keys <= required | optional, (event.type, sorted(keys ^ required))
        assert json.loads(json.dumps(event.data)) == event.data
