"""Load: many runs at once on the production stack, many people watching, measured.

Starts what the README's "Production" section runs, as real processes on this machine: PostgreSQL and Redis
(already running here), a daphne ASGI server and Celery workers; plus a local test site and the fake
OpenAI-compatible model (instant, or after --model-delay). It dispatches --runs tasks at once, connects
--viewers websocket clients (half on timelines, half on live views, spread over the runs and over --asgi
daphne processes), and prints: runs completed per minute, median and p95 run time, memory (PSS) per worker
and per concurrent run (--breakdown: per component), event latency at the viewers (p50/p95 of events that
happened while the socket was open), handshake times, frames per second per live-view viewer, how loaded
the machine was, and errors (must be 0: failed runs, refused handshakes, a viewer that missed its run's end).

    make load                                           # 8 runs, 2 workers x 4, 20 viewers, one daphne
    make load ARGS="--breakdown"                        # and where the memory goes
    make load ARGS="--viewers 100 --asgi 3"             # 100 viewers over three daphne processes
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


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a Celery worker, its pool children, their Playwright driver and Chromium),
    from one pass over /proc (no `ps` per process: sampling must not slow the machine it measures)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
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


def component(pid: int) -> str:
    """What a process in a worker's tree is, by its command line: where the memory goes."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ").split()
    except OSError:
        return "gone"
    if not argv:
        return "gone"
    exe, args = Path(argv[0]).name, argv[1:]  # Chromium rewrites its argv into one space-separated string
    if "ffmpeg" in exe:
        return "ffmpeg (video)"
    if exe == "node":
        return "playwright driver (node)"
    if "chrom" in exe:
        kind = next((a.split("=", 1)[1] for a in args if a.startswith("--type=")), "browser")
        return f"chromium {kind}"
    return "worker (python)"


def breakdown(pids: list[int]) -> dict[str, tuple[float, int]]:
    """{component: (MB PSS, processes)} over `pids`."""
    found: dict[str, tuple[float, int]] = {}
    for pid in pids:
        name = component(pid)
        mb, count = found.get(name, (0.0, 0))
        found[name] = (mb + pss_mb([pid]), count + 1)
    return found


def connect_probe(url: str) -> float:
    """Milliseconds to open a PostgreSQL connection and run one query: what every database hop of a
    process without a connection pool pays, and a gauge of how saturated the machine is."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1").fetchone()
    return (time.perf_counter() - started) * 1000


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


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


def connect(port: int, path: str, cookie: str):  # noqa: ANN201 - websockets' connect context
    import websockets

    return websockets.connect(f"ws://127.0.0.1:{port}{path}", additional_headers={"Cookie": cookie},
                              origin=f"http://127.0.0.1:{port}", max_queue=None, open_timeout=30)


async def timeline_viewer(port: int, task_id: str, cookie: str, latencies: list[float], handshakes: list[float],
                          errors: list[str]) -> None:
    try:
        started = time.time()
        async with connect(port, f"/ws/tasks/{task_id}/?after=0", cookie) as ws:
            # Only events that happened once the socket was open are live deliveries; older ones are the
            # replay of what the viewer missed (?after=0), as old as the handshake was slow.
            opened = time.time()
            handshakes.append((opened - started) * 1000)
            while True:
                event = json.loads(await ws.recv())
                now = time.time()
                created = datetime.fromisoformat(event["ts"]).timestamp()
                if event.get("seq") is not None and created >= opened:
                    latencies.append((now - created) * 1000)
                if event["type"] == "task.status" and event["data"]["status"] in ("completed", "failed", "terminated"):
                    return
    except Exception as exc:  # noqa: BLE001 - counted, not raised: the bench reports errors
        errors.append(f"timeline {task_id}: {type(exc).__name__}: {exc}")


async def frame_viewer(port: int, task_id: str, cookie: str, frames: dict[str, list[float]], handshakes: list[float],
                       stop: asyncio.Event, errors: list[str]) -> None:
    seen = frames.setdefault(f"{task_id}-{uuid.uuid4().hex[:4]}", [])
    try:
        started = time.time()
        async with connect(port, f"/ws/tasks/{task_id}/frames/", cookie) as ws:
            handshakes.append((time.time() - started) * 1000)
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
    ports = [free_port() for _ in range(max(1, args.asgi))]
    # One process, one Chromium, a fresh context per run: the threads pool runs `concurrency` jobs that all
    # hand their run to the process's one agent loop (see tasks_app.runs.browser).
    workers = [celery_worker(f"load{n}", env, logs, queues=queue, pool="threads", concurrency=args.concurrency)
               for n in range(args.workers)]
    # Several ASGI processes as a load balancer would use them: viewers are spread over them round-robin, and
    # each must see every event of its run (the Redis channel layer carries them between processes).
    webs = [daphne(env, logs, port, name=f"daphne{n}" if len(ports) > 1 else "daphne") for n, port in enumerate(ports)]
    errors: list[str] = []
    with running(*workers, *webs):
        # Warm up: one run per worker starts its Chromium, so "idle" below is a ready worker with its browser; a
        # viewer of each kind on each daphne makes it a running server too (its first sockets open the database
        # pool and the Redis subscription: a cold daphne's first burst of handshakes is ~1 s slower).
        warmups = [await sync_to_async(services.create_task)(organization=org, created_by=user, url=site.url("/table/"),
                                                             navigation_goal=f"load warmup-{n}") for n in range(args.workers)]
        warm_stop, warm_errors = asyncio.Event(), []
        warm_viewers = [asyncio.create_task(viewer(port, str(warmups[0].pk), cookie, [], [], warm_errors))
                        for port in ports for viewer in (timeline_viewer,)]
        warm_viewers += [asyncio.create_task(frame_viewer(port, str(warmups[0].pk), cookie, {}, [], warm_stop, warm_errors))
                         for port in ports]
        while await Task.objects.filter(pk__in=[t.pk for t in warmups]).exclude(status__in=Task.FINAL_STATUSES).aexists():
            await asyncio.sleep(0.2)
        warm_stop.set()
        await asyncio.wait(warm_viewers, timeout=10)
        errors += [f"warm-up {error}" for error in warm_errors]
        await asyncio.sleep(1.0)
        idle_parts = {w.name: breakdown(tree(w.popen.pid)) for w in workers}
        idle = {name: sum(mb for mb, _ in parts.values()) for name, parts in idle_parts.items()}
        peak, peak_parts = dict(idle), dict(idle_parts)
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
        handshakes: list[float] = []
        timelines = [asyncio.create_task(timeline_viewer(ports[i % len(ports)], task_ids[i % len(task_ids)], cookie,
                                                         latencies, handshakes, errors))
                     for i in range(args.viewers - half)]
        viewers = timelines + [asyncio.create_task(frame_viewer(ports[i % len(ports)], task_ids[i % len(task_ids)],
                                                                cookie, frames, handshakes, stop, errors))
                               for i in range(half)]
        deadline = started + args.timeout
        load_start, probes = loadavg(), []
        while True:
            probes.append(await asyncio.to_thread(connect_probe, database_url))
            for w in workers:  # off the event loop: the viewers' timestamps must not wait for the sampling
                parts = await asyncio.to_thread(lambda pid=w.popen.pid: breakdown(tree(pid)))
                total = sum(mb for mb, _ in parts.values())
                if total > peak[w.name]:
                    peak[w.name], peak_parts[w.name] = total, parts
            done = await Task.objects.filter(pk__in=task_ids, status__in=Task.FINAL_STATUSES).acount()
            if done == len(task_ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
        load_end = loadavg()
        stop.set()
        await asyncio.wait(viewers, timeout=10)
        # A timeline viewer returns when it has seen its run end: one still waiting missed events.
        errors += [f"timeline viewer {n} did not see its run end" for n, t in enumerate(timelines) if not t.done()]
        for t in viewers:
            t.cancel()
        tasks = [t async for t in Task.objects.filter(pk__in=task_ids)]
    site.stop()
    model.stop()

    completed = [t for t in tasks if t.status == "completed"]
    errors += [f"task {t.pk} {t.status}: {t.failure_reason}" for t in tasks if t.status != "completed"]
    durations = [(t.finished_at - t.queued_at).total_seconds() for t in completed if t.finished_at and t.queued_at]
    concurrent = min(args.runs, args.workers * args.concurrency)
    fps = [len(ts) / (ts[-1] - ts[0]) for ts in frames.values() if len(ts) > 1 and ts[-1] > ts[0]]
    print(f"{args.runs} runs, {args.workers} worker(s) x {args.concurrency}, {args.viewers} viewers on "
          f"{len(ports)} ASGI process(es), "
          f"model delay {args.model_delay}s, {steps} step(s) per run, recording {'on' if args.record else 'off'}")
    print(f"  completed            {len(completed)}/{len(tasks)} in {elapsed:.1f} s = {len(completed) / elapsed * 60:.1f} runs/min")
    if durations:
        print(f"  run time             median {statistics.median(durations):.2f} s, p95 {percentile(durations, 0.95):.2f} s")
    for w in workers:
        print(f"  memory {w.name:12} idle (browser up) {idle[w.name]:.0f} MB PSS, peak {peak[w.name]:.0f} MB")
    extra = sum(peak.values()) - sum(idle.values())
    print(f"  memory per concurrent run  {extra / max(1, concurrent):.0f} MB PSS ({concurrent} at once; goal <= 150)")
    if args.breakdown:
        print("  where it goes (all workers: idle -> at each worker's peak, MB PSS [processes]; per run = growth / runs at once)")
        for name in sorted({n for parts in [*idle_parts.values(), *peak_parts.values()] for n in parts}):
            before = [parts.get(name, (0.0, 0)) for parts in idle_parts.values()]
            after = [parts.get(name, (0.0, 0)) for parts in peak_parts.values()]
            mb0, n0 = sum(mb for mb, _ in before), sum(n for _, n in before)
            mb1, n1 = sum(mb for mb, _ in after), sum(n for _, n in after)
            print(f"    {name:28} {mb0:6.0f} [{n0:2}] -> {mb1:6.0f} [{n1:2}]   per run {(mb1 - mb0) / max(1, concurrent):5.0f}")
    if latencies:
        print(f"  event latency        p50 {percentile(latencies, 0.5):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms "
              f"({len(latencies)} deliveries)")
    if handshakes:
        print(f"  websocket handshake  p50 {percentile(handshakes, 0.5):.0f} ms, p95 {percentile(handshakes, 0.95):.0f} ms, "
              f"max {max(handshakes):.0f} ms ({len(handshakes)} of {args.viewers})")
    if fps:
        print(f"  live view            {statistics.median(fps):.1f} frames/s per viewer (median of {len(fps)})")
    print(f"  machine              load average {load_start} at start, {load_end} at the end ({os.cpu_count()} cores); "
          f"PostgreSQL connect+query p50 {percentile(probes, 0.5):.0f} ms, p95 {percentile(probes, 0.95):.0f} ms")
    print(f"  logs                 {var_dir} (daphne*.log, one log per worker)")
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
    parser.add_argument("--asgi", type=int, default=1, help="daphne processes; viewers are spread over them")
    parser.add_argument("--steps", type=int, default=3, help="model steps per run before it completes")
    parser.add_argument("--model-delay", type=float, default=0.0, help="seconds the fake model takes per reply")
    parser.add_argument("--no-record", dest="record", action="store_false", help="runs without video/trace/HAR")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--breakdown", action="store_true", help="also print memory per component (browser, renderers, ffmpeg...)")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
