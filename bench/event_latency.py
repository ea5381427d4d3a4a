"""Live streaming latency with real Redis and daphne: publish -> websocket arrival at 1, 10 and 100 clients
(p50/p95), and the live-view frame rate and frame age a client sees while a real agent's page animates.

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/6). Uses a throwaway SQLite database for rows.
Usage: .venv/bin/python bench/event_latency.py [--events 100] [--clients 1,10,100] [--rates 10,50] [--frame-seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(var_dir: str, redis_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="project.settings.base",
        LOOKOUT_VAR_DIR=var_dir,
        REDIS_URL=redis_url,
        LOOKOUT_RUNNER="inprocess",
        LOOKOUT_ALLOWED_NETWORKS="127.0.0.0/8",  # the local test site the runs browse
        DEBUG="1",
        LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    )
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def latency_round(port: int, task, cookie: str, clients: int, events: int, interval: float) -> list[float]:
    import websockets
    from channels.db import database_sync_to_async

    from tasks_app.events import apublish, task_group
    from tasks_app.models import Task, TaskEvent

    last = await Task.objects.filter(pk=task.pk).values_list("last_event_seq", flat=True).aget()
    sockets = [
        await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/tasks/{task.pk}/?after={last}",
            additional_headers={"Cookie": cookie}, origin=f"http://127.0.0.1:{port}", max_queue=None,
        )
        for _ in range(clients)
    ]
    samples: list[float] = []
    recovered: list[int] = []

    async def read(ws):
        for _ in range(events):
            event = json.loads(await ws.recv())
            if "t0" in event["data"]:
                samples.append((time.time() - event["data"]["t0"]) * 1000)
            else:  # a live message was missed and the consumer filled the gap from the database
                recovered.append(event["seq"])

    readers = [asyncio.create_task(read(ws)) for ws in sockets]

    @database_sync_to_async
    def store(seq: int) -> None:
        TaskEvent.objects.create(task_id=task.pk, seq=seq, type="bench", data={})
        Task.objects.filter(pk=task.pk).update(last_event_seq=seq)

    for i in range(1, events + 1):
        seq = last + i
        await store(seq)  # stored first, as every real event is; the clock starts at the publish
        t0 = time.time()
        # as every real event is published: encoded once here, forwarded as is by each socket's consumer
        await apublish(task_group(task.pk), "timeline.event", {"seq": seq, "type": "bench", "ts": "", "data": {"t0": t0}})
        await asyncio.sleep(interval)
    await asyncio.wait_for(asyncio.gather(*readers), timeout=60)
    for ws in sockets:
        await ws.close()
    if recovered:
        print(f"      ({len(recovered)} deliveries came from the database gap-fill, not the live publish)")
    return samples


async def frames_round(port: int, org, user, cookie: str, seconds: float) -> tuple[float, list[float], int]:
    import websockets
    from django.conf import settings

    from agent_core.browser import BrowserManager
    from tasks_app import services
    from tasks_app.runs.config import browser_config
    from tasks_app.runs.execute import execute_task
    from tests.fakes.openai_server import FakeOpenAIServer, reply_json
    from tests.sites.server import TestSite

    site = TestSite().start()
    fake = FakeOpenAIServer().start()
    fake.script = lambda req: reply_json(
        {"thinking": "watching", "goal_achieved": True, "actions": [{"action_type": "complete", "element_id": None, "reasoning": "done"}]},
        delay=seconds + 4,
    )
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "bench", fake.base_url
    from asgiref.sync import sync_to_async

    task = await sync_to_async(services.create_task)(
        organization=org, created_by=user, dispatch=False, url=site.url("/misc/animate.html"), navigation_goal="watch"
    )
    browser = BrowserManager(browser_config())
    run = asyncio.create_task(execute_task(task.pk, browser=browser, worker="bench"))
    ages: list[float] = []
    frames = 0
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/tasks/{task.pk}/frames/", additional_headers={"Cookie": cookie},
        origin=f"http://127.0.0.1:{port}", max_size=None,
    ) as ws:
        first = await asyncio.wait_for(ws.recv(), timeout=20)  # screencast started for this viewer
        start = time.time()
        ages.append(start * 1000 - struct.unpack(">d", first[:8])[0])
        while time.time() - start < seconds:
            message = await asyncio.wait_for(ws.recv(), timeout=5)
            frames += 1
            ages.append(time.time() * 1000 - struct.unpack(">d", message[:8])[0])
        elapsed = time.time() - start
    await run
    await browser.close()
    fake.stop()
    site.stop()
    return frames / elapsed, ages, frames


async def amain(args: argparse.Namespace, var_dir: str, redis_url: str) -> None:
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tasks_app import services
    from tests.integration.processes import daphne, free_port, service_env

    def seed():
        user = get_user_model().objects.create_user(username="bench", password="bench-password-1")
        org = services.create_organization(name="Bench", slug="bench", admin=user)
        task = services.create_task(organization=org, created_by=user, start=False, url="https://example.test/", navigation_goal="x")
        client = Client()
        client.force_login(user)
        return user, org, task, f"sessionid={client.cookies['sessionid'].value}"

    user, org, task, cookie = await sync_to_async(seed)()
    port = free_port()
    env = service_env(database_url=f"sqlite:///{var_dir}/lookout.sqlite3", redis_url=redis_url, queue="bench",
                      extra={"LOOKOUT_VAR_DIR": var_dir, "SECRET_KEY": settings.SECRET_KEY,
                             "LOOKOUT_ENCRYPTION_KEY": settings.LOOKOUT_ENCRYPTION_KEY, "LOOKOUT_RUNNER": "inprocess",
                             "LOG_LEVEL": "WARNING"})
    server = daphne(env, Path(var_dir), port)
    try:
        print(f"event latency, publish -> websocket client, real Redis ({redis_url}) + daphne, {args.events} events per round")
        for rate in [float(r) for r in args.rates.split(",")]:
            print(f" at {rate:g} events/s (every client gets every event):")
            for n in [int(c) for c in args.clients.split(",")]:
                samples = await latency_round(port, task, cookie, n, args.events, 1 / rate)
                print(f"  {n:>3} clients: p50 {statistics.median(samples):6.2f} ms   p95 {percentile(samples, 0.95):6.2f} ms"
                      f"   max {max(samples):6.2f} ms   ({len(samples)} deliveries)")
        fps, ages, count = await frames_round(port, org, user, cookie, args.frame_seconds)
        recording = "on" if settings.LOOKOUT_RECORD_RUNS else "off (LOOKOUT_RECORD_RUNS=0)"
        print(f"live view while the page animates ({args.frame_seconds:.0f} s, 1 client, run recording {recording}):"
              f" {fps:5.1f} frames/s ({count} frames),"
              f" frame age p50 {statistics.median(ages):5.1f} ms p95 {percentile(ages, 0.95):5.1f} ms")
        print("targets: p95 < 50 ms at 100 clients; >= 10 frames/s")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--clients", default="1,10,100")
    parser.add_argument("--rates", default="10,50", help="events per second to publish, comma-separated")
    parser.add_argument("--frame-seconds", type=float, default=5.0)
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/6"
    var_dir = tempfile.mkdtemp(prefix="lookout-bench-")
    setup_django(var_dir, redis_url)
    asyncio.run(amain(args, var_dir, redis_url))


if __name__ == "__main__":
    main()
