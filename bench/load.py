"""Load: many runs at once on the production stack, many people watching, measured.

Starts what the README's "Production" section runs, as real processes on this machine: PostgreSQL and Redis
(already running here), a daphne ASGI server and Celery workers; plus a local test site and the fake
OpenAI-compatible model (instant, or after --model-delay). It dispatches --runs tasks at once, connects
--viewers websocket clients (half on timelines, half on live views, spread over the runs), and prints:
runs completed per minute, median and p95 run time, memory (PSS) per worker and per concurrent run, event
latency at the viewers (p50/p95), frames per second per live-view viewer, and errors (must be 0).

    .venv/bin/python bench/load.py                      # 8 runs, 2 workers x 4, 20 viewers
    .venv/bin/python bench/load.py --runs 16 --workers 2 --concurrency 8 --viewers 100 --model-delay 0.5

Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/lookout_load, created if
missing) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15, flushed first). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/lookout_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


# ---- memory -------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [int(p) for p in out.split()]


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a Celery worker, its pool children, their Playwright driver and Chromium)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def pss_mb(pids: list[int]) -> float:
    """Proportional set size of the processes, in MB: shared pages are split between their users, so the
    sum over a process tree is what that tree really costs the machine."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total / 1024


# ---- the stack ----------------------------------------------------------------------------------


def prepare_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(database_url: str, redis_url: str, queue: str, var_dir: str, model_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="project.settings.base",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOOKOUT_RUNNER="celery",
        LOOKOUT_CELERY_QUEUE=queue,
        LOOKOUT_VAR_DIR=var_dir,
        SECRET_KEY="load-bench-" + "x" * 40,
        LOOKOUT_ENCRYPTION_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        OPENAI_API_KEY="bench",
        OPENAI_BASE_URL=model_url,
        LOOKOUT_ALLOWED_NETWORKS="127.0.0.0/8",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(runs: int):
    from django.test import Client

    from tasks_app.models import Organization
    from tasks_app.services import create_organization
    from tests.factories import MembershipFactory

    slug = f"load-{uuid.uuid4().hex[:6]}"
    org = create_organization(name="Load", slug=slug)
    Organization.objects.filter(pk=org.pk).update(max_concurrent_runs=max(runs, 1))
    org.refresh_from_db()
    user = MembershipFactory(organization=org, role="operator").user
    client = Client()
    client.force_login(user)
    return org, user, f"sessionid={client.cookies['sessionid'].value}"


# ---- viewers ------------------------------------------------------------------------------------


async def timeline_viewer(port: int, task_id: str, cookie: str, latencies: list[float], errors: list[str]) -> None:
    import websockets

    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/tasks/{task_id}/?after=0", additional_headers={"Cookie": cookie},
            origin=f"http://127.0.0.1:{port}", max_queue=None,
        ) as ws:
            caught_up = False
            while True:
                event = json.loads(await ws.recv())
                now = time.time()
                if event.get("seq") is not None and caught_up:
                    latencies.append((now - datetime.fromisoformat(event["ts"]).timestamp()) * 1000)
                caught_up = True  # the first message may be a replay of what happened before we connected
                if event["type"] == "task.status" and event["data"]["status"] in ("completed", "failed", "terminated"):
                    return
    except Exception as exc:  # noqa: BLE001 - counted, not raised: the bench reports errors
        errors.append(f"timeline {task_id}: {type(exc).__name__}: {exc}")


async def frame_viewer(port: int, task_id: str, cookie: str, frames: dict[str, list[float]], stop: asyncio.Event,
                       errors: list[str]) -> None:
    import websockets

    seen = frames.setdefault(f"{task_id}-{uuid.uuid4().hex[:4]}", [])
    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/tasks/{task_id}/frames/", additional_headers={"Cookie": cookie},
            origin=f"http://127.0.0.1:{port}", max_queue=None,
        ) as ws:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), timeout=0.5)
                    seen.append(time.monotonic())
                except TimeoutError:
                    continue
    except Exception as exc:  # noqa: BLE001
        errors.append(f"frames {task_id}: {type(exc).__name__}: {exc}")


# ---- the run ------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> int:
    from tests.fakes.openai_server import FakeOpenAIServer
    from tests.integration.processes import celery_worker, daphne, free_port, running, service_env
    from tests.scripting import act, step
    from tests.sites.server import TestSite

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DB
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    prepare_database(database_url)
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    queue = f"lookout-load-{uuid.uuid4().hex[:6]}"
    var_dir = tempfile.mkdtemp(prefix="lookout-load-")
    site = TestSite().start()
    model = FakeOpenAIServer().start()
    steps = max(1, args.steps)

    def script(req):  # scroll a few times, then done: every step a screenshot, a scrape and a model call
        goal = re.search(r"load \S+", req.user_text())
        turn = sum(1 for r in model.requests if goal and goal.group(0) in r.user_text())
        if turn > steps:
            return step(act("complete"), goal_achieved=True, delay=args.model_delay)
        return step(act("scroll", direction="down"), delay=args.model_delay)

    model.script = script
    from asgiref.sync import sync_to_async

    await sync_to_async(setup_django)(database_url, redis_url, queue, var_dir, model.base_url)

    from tasks_app import services
    from tasks_app.models import Task

    org, user, cookie = await sync_to_async(seed)(args.runs)
    env = service_env(database_url=database_url, redis_url=redis_url, queue=queue, extra={
        "OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": model.base_url, "LOOKOUT_VAR_DIR": var_dir,
        "LOOKOUT_ALLOWED_NETWORKS": "127.0.0.0/8", "LOOKOUT_RECORD_RUNS": "1" if args.record else "0",
        "LOG_LEVEL": "WARNING", "SECRET_KEY": os.environ["SECRET_KEY"],
        "LOOKOUT_ENCRYPTION_KEY": os.environ["LOOKOUT_ENCRYPTION_KEY"],
    })
    logs = Path(var_dir)
    port = free_port()
    # One process, one Chromium, a fresh context per run: the threads pool runs `concurrency` jobs that all
    # hand their run to the process's one agent loop (see tasks_app.runs.browser).
    workers = [celery_worker(f"load{n}", env, logs, queues=queue, pool="threads", concurrency=args.concurrency)
               for n in range(args.workers)]
    web = daphne(env, logs, port)
    errors: list[str] = []
    with running(*workers, web):
        # Warm up: one run per worker starts its Chromium, so "idle" below is a ready worker with its browser.
        warmups = [await sync_to_async(services.create_task)(organization=org, created_by=user, url=site.url("/table/"),
                                                             navigation_goal=f"load warmup-{n}") for n in range(args.workers)]
        while await Task.objects.filter(pk__in=[t.pk for t in warmups]).exclude(status__in=Task.FINAL_STATUSES).aexists():
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        idle = {w.name: pss_mb(tree(w.popen.pid)) for w in workers}
        peak = dict(idle)
        started = time.monotonic()
        task_ids = []
        for n in range(args.runs):
            task = await sync_to_async(services.create_task)(
                organization=org, created_by=user, url=site.url("/table/"), navigation_goal=f"load {n}"
            )
            task_ids.append(str(task.pk))
        latencies: list[float] = []
        frames: dict[str, list[float]] = {}
        stop = asyncio.Event()
        half = args.viewers // 2
        viewers = [asyncio.create_task(timeline_viewer(port, task_ids[i % len(task_ids)], cookie, latencies, errors))
                   for i in range(args.viewers - half)]
        viewers += [asyncio.create_task(frame_viewer(port, task_ids[i % len(task_ids)], cookie, frames, stop, errors))
                    for i in range(half)]
        deadline = started + args.timeout
        while True:
            for w in workers:
                peak[w.name] = max(peak[w.name], pss_mb(tree(w.popen.pid)))
            done = await Task.objects.filter(pk__in=task_ids, status__in=Task.FINAL_STATUSES).acount()
            if done == len(task_ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
        stop.set()
        await asyncio.wait(viewers, timeout=10)
        tasks = [t async for t in Task.objects.filter(pk__in=task_ids)]
    site.stop()
    model.stop()

    completed = [t for t in tasks if t.status == "completed"]
    errors += [f"task {t.pk} {t.status}: {t.failure_reason}" for t in tasks if t.status != "completed"]
    durations = [(t.finished_at - t.queued_at).total_seconds() for t in completed if t.finished_at and t.queued_at]
    concurrent = min(args.runs, args.workers * args.concurrency)
    fps = [len(ts) / (ts[-1] - ts[0]) for ts in frames.values() if len(ts) > 1 and ts[-1] > ts[0]]
    print(f"{args.runs} runs, {args.workers} worker(s) x {args.concurrency}, {args.viewers} viewers, "
          f"model delay {args.model_delay}s, {steps} step(s) per run, recording {'on' if args.record else 'off'}")
    print(f"  completed            {len(completed)}/{len(tasks)} in {elapsed:.1f} s = {len(completed) / elapsed * 60:.1f} runs/min")
    if durations:
        print(f"  run time             median {statistics.median(durations):.2f} s, p95 {percentile(durations, 0.95):.2f} s")
    for w in workers:
        print(f"  memory {w.name:12} idle (browser up) {idle[w.name]:.0f} MB PSS, peak {peak[w.name]:.0f} MB")
    extra = sum(peak.values()) - sum(idle.values())
    print(f"  memory per concurrent run  {extra / max(1, concurrent):.0f} MB PSS ({concurrent} at once; goal <= 150)")
    if latencies:
        print(f"  event latency        p50 {percentile(latencies, 0.5):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms "
              f"({len(latencies)} deliveries)")
    if fps:
        print(f"  live view            {statistics.median(fps):.1f} frames/s per viewer (median of {len(fps)})")
    print(f"  errors               {len(errors)}")
    for error in errors[:10]:
        print(f"    {error}")
    return 1 if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="runs per worker process at once")
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3, help="model steps per run before it completes")
    parser.add_argument("--model-delay", type=float, default=0.0, help="seconds the fake model takes per reply")
    parser.add_argument("--no-record", dest="record", action="store_false", help="runs without video/trace/HAR")
    parser.add_argument("--timeout", type=float, default=300.0)
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
