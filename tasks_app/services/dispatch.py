"""The one seam between services and whatever executes work (Celery workers or the in-process runner).

Services never import a runner: `tasks_app.runs` registers a `Dispatcher` when the app starts
(`TasksAppConfig.ready`), and services call `dispatch_run` / `dispatch_webhook` after their transaction
commits. Layers so point one way: runs -> services, never back.
"""

from __future__ import annotations

from typing import Any, Protocol


class Dispatcher(Protocol):
    def run(self, task_id: Any) -> None:
        """Start executing a queued task (it claims the task itself, so a double dispatch is harmless)."""

    def webhook(self, task_id: Any, *, attempt: int, countdown: float, event: str = "task.finished") -> None:
        """Make delivery attempt `attempt` of the task's webhook for `event` after `countdown` seconds."""


_dispatcher: Dispatcher | None = None


def register_dispatcher(dispatcher: Dispatcher) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def _current() -> Dispatcher:
    if _dispatcher is None:
        raise RuntimeError("no dispatcher registered: is tasks_app in INSTALLED_APPS and the app registry ready?")
    return _dispatcher


def dispatch_run(task_id: Any) -> None:
    """Hand a queued task to the configured runner. Call after the transaction that queued it commits."""
    _current().run(task_id)


def dispatch_webhook(task_id: Any, *, attempt: int, countdown: float = 0, event: str = "task.finished") -> None:
    if event == "task.finished":  # the original call, kept for dispatchers that know only that event
        _current().webhook(task_id, attempt=attempt, countdown=countdown)
    else:
        _current().webhook(task_id, attempt=attempt, countdown=countdown, event=event)
