"""Step overhead of the dom engine outside the model call, against the floor of the same page; and whether
settling after an action waits for a debounced widget.

Runs a 20-step task (recording its replay script, as every dom run does) with an instant fake model (real OpenAI SDK against the local fake server) on a local
static page in headless Chromium, then prints the median time per step outside the model call, broken down
(scrape, screenshot, execute, hooks), next to the floor: one bare screenshot plus one bare scrape of the
same page in raw Playwright. Then types into an autocomplete that searches 300 ms after the last key
(tests/sites/autocomplete/) once per step, and prints how often the next step's listing held the widget's
suggestion (it should, every time) and the median time spent settling after typing.
Usage: .venv/bin/python bench/step_overhead.py [--steps 20] [--rounds 3] [--widget-steps 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent_core.browser import BrowserManager  # noqa: E402
from agent_core.control import LocalControl  # noqa: E402
from agent_core.egress import EgressPolicy  # noqa: E402
from agent_core.engines.dom import DomEngine  # noqa: E402
from agent_core.llm import OpenAIClient  # noqa: E402
from agent_core.replay.recorder import ScriptRecorder  # noqa: E402
from agent_core.types import ActionFinished, AgentConfig, BrowserConfig, LLMConfig, RunHooks, TaskSpec  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, reply_json  # noqa: E402
from tests.sites.server import TestSite  # noqa: E402

PAGE = "/job/"
WIDGET_PAGE = "/autocomplete/"
# what to type into the widget -> the suggestion it shows 300 ms after the last key
WIDGET_TERMS = {"Egy": "Egypt", "Est": "Estonia", "Eth": "Ethiopia", "Ecu": "Ecuador", "Fra": "France", "Gre": "Greece"}


class SettleTimes(RunHooks):
    """Keeps how long each action waited for the page to settle."""

    def __init__(self) -> None:
        self.settle_ms: list[float] = []

    async def action_finished(self, event: ActionFinished) -> None:
        self.settle_ms.append(event.result.settle_ms)


def done_reply():
    return reply_json({"thinking": "done", "goal_achieved": True, "actions": [{"action_type": "complete", "element_id": None, "reasoning": "done"}]})


def type_reply(listing: str, field: str, text: str):
    eid = next(line.split("]")[0].strip(" [") for line in listing.splitlines() if field in line)
    return reply_json({"thinking": "typing", "goal_achieved": False,
                       "actions": [{"action_type": "input_text", "element_id": eid, "reasoning": "type", "text": text}]})


def widget_model(steps: int, held: list[bool]):
    """Types a term into the autocomplete each step; notes whether the next listing shows its suggestion."""
    calls = []
    terms = list(WIDGET_TERMS)

    def script(req):
        calls.append(req)
        listing = req.user_text()
        if len(calls) > 1:
            expected = WIDGET_TERMS[terms[(len(calls) - 2) % len(terms)]]
            held.append(f"<li role=option>{expected}</li>" in listing)
        if len(calls) >= steps:
            return done_reply()
        return type_reply(listing, 'label="Country"', terms[(len(calls) - 1) % len(terms)])
    return script


def instant_model(steps: int):
    calls = []

    def script(req):
        calls.append(req)
        if len(calls) >= steps:
            return done_reply()
        # type into the name field (no navigation)
        return type_reply(req.user_text(), "name=full_name", f"Ada {len(calls)}")
    return script


async def bare_floor(manager: BrowserManager, url: str, rounds: int) -> list[float]:
    """One bare screenshot plus one bare scrape (the scraper's single page.evaluate) per sample."""
    from agent_core.scraper import scrape

    session = await manager.new_session()
    await session.goto(url)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        # raw Playwright: page.screenshot with its defaults except the format, which matches the engine's
        # (a JPEG at the configured quality; Playwright's default PNG would make this floor ~12 ms slower)
        await session.page.screenshot(type="jpeg", quality=session.config.screenshot_quality)
        await scrape(session.page)
        samples.append((time.perf_counter() - t0) * 1000)
    await session.close()
    return samples


async def engine_run(manager, fake, url, steps, script=None, hooks=None):
    fake.script = script or instant_model(steps)
    cfg = LLMConfig(api_key="bench", base_url=fake.base_url, max_retries=0)
    llm = OpenAIClient(cfg)
    session = await manager.new_session()
    await session.goto(url)
    spec = TaskSpec(url=url, navigation_goal="type", max_steps=steps)
    engine = DomEngine(spec=spec, session=session, llm=llm, llm_config=cfg, hooks=hooks or RunHooks(),
                       control=LocalControl(), config=AgentConfig(max_steps=steps))
    engine.recorder = ScriptRecorder(spec)  # as run_agent does: every dom run records its script
    outcome = await engine.run()
    await session.close()
    await llm.close()
    assert outcome.status.value == "completed", outcome.failure_reason
    return engine.timings


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--widget-steps", type=int, default=15)
    args = parser.parse_args()
    site = TestSite().start()
    fake = FakeOpenAIServer().start()
    url = site.url(PAGE)
    # The local test site is on loopback, which the default egress policy refuses.
    manager = BrowserManager(BrowserConfig(egress=EgressPolicy.from_setting("127.0.0.0/8")))
    await manager.start()
    try:
        await engine_run(manager, fake, url, 3)  # warm-up
        timings = []
        static_settle = SettleTimes()
        for _ in range(args.rounds):
            # step 1 includes the first paint
            timings += (await engine_run(manager, fake, url, args.steps, hooks=static_settle))[1:]
        floors = await bare_floor(manager, url, args.steps * args.rounds)
        held: list[bool] = []
        widget_settle = SettleTimes()
        await engine_run(manager, fake, site.url(WIDGET_PAGE), args.widget_steps,
                         script=widget_model(args.widget_steps, held), hooks=widget_settle)
    finally:
        await manager.close()
        fake.stop()
        site.stop()

    def med(values):
        return statistics.median(values)

    parts = {name: med([getattr(t, name) for t in timings]) for name in ("scrape", "screenshot", "execute", "hooks", "overlap")}
    outside = med([t.scrape + t.screenshot + t.execute + t.hooks - t.overlap for t in timings])
    model = med([t.model for t in timings])
    floor_ms = med(floors)
    print(f"dom engine step overhead, {args.steps}-step task x {args.rounds} rounds ({len(timings)} steps), page {PAGE}")
    print(f"  median per step outside the model call: {outside:7.1f} ms")
    for name, value in parts.items():
        print(f"    {name:<11} {value:7.1f} ms" + ("  (scrape and screenshot at once: taken off the total)" if name == "overlap" else ""))
    print(f"  median model call (instant fake, real SDK + HTTP): {model:6.1f} ms")
    print(f"  floor (one bare screenshot + one bare scrape):   {floor_ms:6.1f} ms")
    print(f"  ratio overhead / floor: {outside / floor_ms:.2f}x (target <= 1.5x)")
    print(f"  median settle after an action on this quiet page: {med(static_settle.settle_ms):.1f} ms")
    print(f"debounced widget ({WIDGET_PAGE}: searches 300 ms after the last key), {len(held)} typings")
    print(f"  next listing held the widget's suggestion: {sum(held)}/{len(held)} ({100 * sum(held) / max(1, len(held)):.0f}%, target 100%)")
    print(f"  median settle after typing: {med(widget_settle.settle_ms):.1f} ms "
          f"(min {min(widget_settle.settle_ms):.1f}, max {max(widget_settle.settle_ms):.1f})")


if __name__ == "__main__":
    asyncio.run(main())
