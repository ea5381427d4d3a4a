"""Months of history: how fast the pages an operator opens every day answer on PostgreSQL with a large,
realistic database (`manage.py fill_history`: 100,000 tasks over 20 organizations by default).

    createdb lookout_bench   # once; then:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lookout_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lookout_bench .venv/bin/python manage.py fill_history
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lookout_bench .venv/bin/python bench/history.py

Requests go through Django's full stack in this process (middleware, views, templates, DRF), not over a
socket, so the figures are server time. Prints p50 / p95 per page, the queries per request, and whether
p95 is under the 200 ms goal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings.base")
os.environ.setdefault("LOOKOUT_PRODUCTION", "0")
os.environ.setdefault("LOOKOUT_API_RATE", "")  # the bench times pages, not the throttle (120 requests a minute per key)

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tasks_app.models import Membership, Organization, Task  # noqa: E402

GOAL_MS = 200.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30, help="requests per page")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/history.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    total = Task.objects.count()
    if total < 1000:
        sys.exit("the database is nearly empty: run `manage.py fill_history` first")
    org = Organization.objects.annotate(n=Count("tasks")).order_by("-n").first()
    assert org is not None
    member = Membership.objects.filter(organization=org).select_related("user").first()
    assert member is not None
    detailed = Task.objects.filter(organization=org, last_event_seq__gt=0).order_by("-last_event_seq").first()
    assert detailed is not None
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(member.user)
    session = client.session
    session["lookout_org_id"] = org.pk
    session.save()
    pages = org.tasks.count() // 25
    cursor = _deep_cursor(client, hops=40)
    cases = [
        ("task list, first page", "/tasks/"),
        ("task list, filtered (failed)", "/tasks/?status=failed"),
        ("task list, searched", "/tasks/?q=invoice"),
        (f"task list, page {pages // 2} of {pages}", f"/tasks/?page={pages // 2}"),
        ("task page (30 steps, 200 events)", f"/tasks/{detailed.pk}/"),
        ("API task list, first page", "/api/v1/tasks/"),
        ("API task list, deep cursor (40 pages in)", f"/api/v1/tasks/?cursor={cursor}"),
        ("API task events (200)", f"/api/v1/tasks/{detailed.pk}/events/"),
    ]
    print(f"{total:,} tasks in the database; organization {org.slug!r} has {org.tasks.count():,}")
    print(f"{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}  goal p95 < {GOAL_MS:.0f} ms")
    for name, url in cases:
        times, queries = [], set()
        for _ in range(args.rounds):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries.add(len(captured.captured_queries))
        times.sort()
        p50, p95 = statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]
        shown = "/".join(str(q) for q in sorted(queries))
        print(f"{name:44} {p50:8.1f} {p95:8.1f} {shown:>8}  {'met' if p95 < GOAL_MS else 'NOT MET'}")


def _deep_cursor(client: Client, *, hops: int) -> str:
    from urllib.parse import parse_qs, urlparse

    url = "/api/v1/tasks/"
    for _ in range(hops):
        body = client.get(url).json()
        nxt = body.get("next")
        if not nxt:
            break
        url = nxt
    return parse_qs(urlparse(url).query).get("cursor", [""])[0]


if __name__ == "__main__":
    main()
