"""`manage.py fill_history`: a realistic history (many organizations, months of tasks) for benchmarks."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tasks_app.services.history import fill_history


class Command(BaseCommand):
    help = "Fill the database with a realistic history: organizations, tasks over months, full logs on a sample."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organizations", type=int, default=20)
        parser.add_argument("--tasks", type=int, default=100_000)
        parser.add_argument("--days", type=int, default=180)
        parser.add_argument("--sample-every", type=int, default=100, help="one task in N gets steps and events")
        parser.add_argument("--steps", type=int, default=30, help="steps per sampled task")
        parser.add_argument("--events", type=int, default=200, help="timeline events per sampled task")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **opts: Any) -> None:
        filled = fill_history(
            organizations=opts["organizations"], tasks=opts["tasks"], days=opts["days"],
            sample_every=opts["sample_every"], steps_per_sample=opts["steps"], events_per_sample=opts["events"],
            seed=opts["seed"],
        )
        self.stdout.write(
            f"filled {filled.tasks} tasks in {filled.organizations} organizations; {filled.detailed} with "
            f"{filled.steps} steps and {filled.events} events"
        )
