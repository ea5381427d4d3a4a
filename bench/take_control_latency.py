"""Take control: input-to-frame latency through the live view, with real Redis, daphne and Chromium.

An operator's websocket sends input events (key presses and clicks, alternating) to a page that flips
between black and white on each; the clock runs from sending the event to receiving the first screencast
frame that shows the new colour. The path is the product's: browser socket -> daphne's FramesConsumer ->
Redis -> the run's DbControl -> Playwright (CDP Input.dispatch*) -> Chromium paints -> screencast frame ->
Redis -> daphne -> the operator's socket. Prints p50/p95/max per input kind and overall.

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/6). Uses a throwaway SQLite database for rows.
Usage: .venv/bin/python bench/take_control_latency.py [--samples 100]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.event_latency import percentile, setup_django  # noqa: E402

GOAL_P95_MS = 150.0


def brightness(jpeg: bytes) -> int:
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as image:
        image.draft("L", (image.width // 8, image.height // 8))  # DCT scaling: decodes ~20x faster
        small = image.convert("L").resize((4, 4))
        return sum(small.tobytes()) // 16


async def next_frame(ws, deadline: float) -> bytes:
    while True:
        message = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(message, bytes):
            return message[8:]


async def until_control(ws, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        message = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(message, str) and json.loads(message) == {**json.loads(message), "type": "control", "you": True, "ready": True}:
            return


async def measure(port: int, org, user, cookie: str, samples: int) -> dict[str, list[float]]:
    import websockets
    from asgiref.sync import sync_to_async
    from django.conf import settings

    from agent_core.browser import BrowserManager
    from tasks_app import services
    from tasks_app.runs.config import browser_config
    from tasks_app.runs.execute import execute_task
    from tests.fakes.openai_server import FakeOpenAIServer, reply_json
    from tests.sites.server import TestSite

    site = TestSite().start()
    fake = FakeOpenAIServer().start()
    waiting = {"thinking": "waiting", "goal_achieved": False,
               "actions": [{"action_type": "wait", "element_id": None, "reasoning": "wait", "seconds": 0.1}]}
    fake.script = lambda req: reply_json(waiting, delay=0.2)
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "bench", fake.base_url
    task = await sync_to_async(services.create_task)(
        organization=org, created_by=user, dispatch=False, url=site.url("/misc/toggle.html"), navigation_goal="watch",
        max_steps=25,
    )
    browser = BrowserManager(browser_config())
    run = asyncio.create_task(execute_task(task.pk, browser=browser, worker="bench"))
    results: dict[str, list[float]] = {"key": [], "click": []}
    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/tasks/{task.pk}/frames/", additional_headers={"Cookie": cookie},
            origin=f"http://127.0.0.1:{port}", max_size=None,
        ) as ws:
            await next_frame(ws, time.monotonic() + 30)  # the screencast runs for this viewer
            task = await sync_to_async(services.take_control)(task=task, by=user)
            await until_control(ws)
            dark = True
            for i in range(samples):
                kind = "key" if i % 2 == 0 else "click"
                dark = not dark
                down = {"t": "keydown", "key": "a"} if kind == "key" else {"t": "down", "x": 0.5, "y": 0.5, "button": "left", "clicks": 1}
                up = {"t": "keyup", "key": "a"} if kind == "key" else {"t": "up", "x": 0.5, "y": 0.5, "button": "left", "clicks": 1}
                sent = time.perf_counter()
                await ws.send(json.dumps(down))
                deadline = time.monotonic() + 5
                while True:  # frames of the old colour may still be in flight: wait for the new one
                    level = brightness(await next_frame(ws, deadline))
                    if (level < 64) if dark else (level > 192):
                        break
                results[kind].append((time.perf_counter() - sent) * 1000)
                await ws.send(json.dumps(up))
                await asyncio.sleep(0.05)  # a person's pace, roughly; the screencast settles between inputs
    finally:
        # ends the run however the measurement ended (a failed wait must not leave it paused under control)
        await sync_to_async(services.terminate_task)(task=task, by=user)
        await asyncio.wait_for(run, timeout=60)
        await browser.close()
        fake.stop()
        site.stop()
    return results


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
        client = Client()
        client.force_login(user)
        return user, org, f"sessionid={client.cookies['sessionid'].value}"

    user, org, cookie = await sync_to_async(seed)()
    port = free_port()
    env = service_env(database_url=f"sqlite:///{var_dir}/lookout.sqlite3", redis_url=redis_url, queue="bench",
                      extra={"LOOKOUT_VAR_DIR": var_dir, "SECRET_KEY": settings.SECRET_KEY, "LOOKOUT_RUNNER": "inprocess",
                             "LOG_LEVEL": "WARNING"})
    server = daphne(env, Path(var_dir), port)
    try:
        results = await measure(port, org, user, cookie, args.samples)
    finally:
        server.stop()
    every = results["key"] + results["click"]
    recording = "on" if settings.LOOKOUT_RECORD_RUNS else "off (LOOKOUT_RECORD_RUNS=0)"
    print(f"take control: operator input -> first live-view frame showing its effect, real Redis ({redis_url}) +"
          f" daphne + Chromium, run recording {recording}")
    for kind, samples in (("key press", results["key"]), ("click", results["click"]), ("all", every)):
        print(f"  {kind:>9}: p50 {statistics.median(samples):6.1f} ms   p95 {percentile(samples, 0.95):6.1f} ms"
              f"   max {max(samples):6.1f} ms   ({len(samples)} inputs)")
    p95 = percentile(every, 0.95)
    print(f"goal: p95 < {GOAL_P95_MS:.0f} ms -> {'met' if p95 < GOAL_P95_MS else 'NOT met'} ({p95:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/6"
    var_dir = tempfile.mkdtemp(prefix="lookout-bench-")
    setup_django(var_dir, redis_url)
    asyncio.run(amain(args, var_dir, redis_url))


if __name__ == "__main__":
    main()
