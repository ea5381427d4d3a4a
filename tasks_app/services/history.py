"""A realistic history for benchmarks and demos: many organizations' tasks over months, a sample of them
with full step, action and event logs. Writes in bulk; meant for empty or throwaway databases."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from tasks_app.models import Action, Membership, Organization, Step, Task, TaskEvent

FINAL = [Task.Status.COMPLETED] * 7 + [Task.Status.FAILED] * 2 + [Task.Status.TERMINATED, Task.Status.TIMED_OUT]
GOALS = ["Apply for the job", "Find the price of the blue mug", "Download the March invoice", "Book a table for two",
         "Sign up for the newsletter", "Read the order status", "Fill in the contact form", "Export the report"]


@dataclass(frozen=True)
class FilledHistory:
    organizations: int
    tasks: int
    detailed: int
    steps: int
    events: int


def fill_history(
    *,
    organizations: int = 20,
    tasks: int = 100_000,
    days: int = 180,
    sample_every: int = 100,
    steps_per_sample: int = 30,
    events_per_sample: int = 200,
    seed: int = 1,
    batch: int = 5_000,
) -> FilledHistory:
    """Create `organizations` (each with an operator `history-N`), `tasks` spread over the last `days`, and
    for one task in `sample_every` a full log: `steps_per_sample` steps with one action each and
    `events_per_sample` timeline events. Deterministic for a given seed."""
    rng = random.Random(seed)
    now = timezone.now()
    with transaction.atomic():
        orgs = Organization.objects.bulk_create(
            [Organization(name=f"History {n}", slug=f"history-{seed}-{n}") for n in range(organizations)]
        )
        users = User.objects.bulk_create([User(username=f"history-{seed}-{n}") for n in range(organizations)])
        Membership.objects.bulk_create(
            [Membership(user=u, organization=o, role=Membership.Role.OPERATOR) for u, o in zip(users, orgs, strict=True)]
        )
    made = detailed = steps = events = 0
    while made < tasks:
        rows = []
        for _ in range(min(batch, tasks - made)):
            created = now - timedelta(seconds=rng.uniform(0, days * 86400))
            started = created + timedelta(seconds=rng.uniform(0.2, 5))
            org_index = rng.randrange(organizations)
            rows.append(Task(
                organization=orgs[org_index], created_by=users[org_index], url=f"https://shop{rng.randrange(50)}.example/",
                navigation_goal=rng.choice(GOALS), status=rng.choice(FINAL), engine=rng.choice(["dom"] * 9 + ["cua"]),
                max_steps=10, input_tokens=rng.randrange(2_000, 60_000), output_tokens=rng.randrange(100, 4_000),
                cost=Decimal(rng.randrange(1, 90_000)) / 1_000_000, queued_at=created, started_at=started,
                finished_at=started + timedelta(seconds=rng.uniform(5, 240)),
            ))
        with transaction.atomic():
            created_tasks = Task.objects.bulk_create(rows)
            # auto_now_add overrides created_at on insert: spread them over the months afterwards
            for task in created_tasks:
                task.created_at = task.queued_at or now
            Task.objects.bulk_update(created_tasks, ["created_at"], batch_size=1_000)
            sample = created_tasks[:: sample_every]
            s, e = _detail(sample, rng, steps_per_sample, events_per_sample)
        made += len(rows)
        detailed += len(sample)
        steps += s
        events += e
    return FilledHistory(organizations, made, detailed, steps, events)


def _detail(tasks: list[Task], rng: random.Random, step_count: int, event_count: int) -> tuple[int, int]:
    steps = [Step(task=t, order=n + 1, status=Step.Status.COMPLETED, url=t.url, input_tokens=1_500, output_tokens=120)
             for t in tasks for n in range(step_count)]
    Step.objects.bulk_create(steps, batch_size=2_000)
    Action.objects.bulk_create(
        [Action(task_id=s.task_id, step=s, index=0, action_type=rng.choice(["click", "input_text", "scroll"]),
                element_id=f"e{rng.randrange(1, 80)}", reasoning="next field", success=True) for s in steps],
        batch_size=2_000,
    )
    kinds = ["step.started", "llm.response", "action.started", "action.finished", "step.finished", "artifact.created"]
    TaskEvent.objects.bulk_create(
        [TaskEvent(task=t, seq=n + 1, type=kinds[n % len(kinds)], data={"order": n // len(kinds) + 1})
         for t in tasks for n in range(event_count)],
        batch_size=5_000,
    )
    for t in tasks:
        t.last_event_seq = event_count
    Task.objects.bulk_update(tasks, ["last_event_seq"], batch_size=1_000)
    return len(steps), len(tasks) * event_count
