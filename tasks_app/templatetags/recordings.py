"""`{% task_recordings task as rec %}`: the task's recordings for the `_recordings.html` partial.

A tag rather than view context because the partial renders inside the task page, whose view belongs to
the task pages; the partial fetches what it shows itself (one query for artifacts, one for notes, the HAR).
"""

from __future__ import annotations

from django import template

from tasks_app.models import Task
from tasks_app.views.recordings import Recordings, recordings_for

register = template.Library()


@register.simple_tag
def task_recordings(task: Task) -> Recordings:
    return recordings_for(task=task)
