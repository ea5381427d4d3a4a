"""Helpers for tests that execute tasks in this process."""

from __future__ import annotations

from tasks_app import services


def make_task(org, user, **request):
    """A queued task that nothing dispatches: the test executes it."""
    return services.create_task(organization=org, created_by=user, dispatch=False, **request)
