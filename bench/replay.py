"""A replay against a hand-written Playwright script doing the same 10 actions, and their model calls.

The flow is tests/sites/replay/ (sign-up: 5 fields, a plan, 2 checkboxes, Continue; review: Create account;
then the account's username, plan and number read off the welcome page). One dom run with the fake model
(instant replies, real OpenAI SDK over HTTP) records the Script; then, alternating, a replay of it with another
payload (`run_agent` with run_with "script": a fresh browser context, the start page, every step's locators,
executor, settling, change report and screenshot, the final screenshot) and the hand-written script (a fresh
context, the start page, Playwright's fill/select/check/click by label and role, waiting for each page,
reading the three values). Prints the median time of each, their ratio (goal <= 1.5x) and model calls (goal 0).
Usage: .venv/bin/python bench/replay.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.async_api import Browser, Page  # noqa: E402

from agent_core import runner  # noqa: E402
from agent_core.browser import BrowserManager  # noqa: E402
from agent_core.control import LocalControl  # noqa: E402
from agent_core.egress import EgressPolicy  # noqa: E402
from agent_core.llm import OpenAIClient  # noqa: E402
from agent_core.types import AgentConfig, BrowserConfig, LLMConfig, RunHooks, RunStatus, ScriptOut  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402
from tests.replay_flow import ADA, GRACE, expected_extraction, signup_model, signup_spec  # noqa: E402
from tests.sites.server import TestSite  # noqa: E402

ACTIONS = 10


class Keep(RunHooks):
    def __init__(self) -> None:
        self.scripts: list[ScriptOut] = []

    async def script(self, event: ScriptOut) -> None:
        self.scripts.append(event)


async def run(manager: BrowserManager, fake: FakeOpenAIServer, spec, hooks: RunHooks):  # type: ignore[no-untyped-def]
    cfg = LLMConfig(api_key="bench", base_url=fake.base_url, max_retries=0)
    llm = OpenAIClient(cfg)
    try:
        return await runner.run_agent(
            spec, browser=manager, llm=llm, llm_config=cfg, hooks=hooks, control=LocalControl(),
            config=AgentConfig(max_steps=10),
        )  # fmt: skip
    finally:
        await llm.close()


async def hand_written(browser: Browser, url: str, payload: dict[str, str]) -> dict[str, str]:
    """What a person would write for this flow in plain Playwright, in a plain context."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        return await flow(await context.new_page(), url, payload)
    finally:
        await context.close()


async def hand_written_in_session(manager: BrowserManager, url: str, payload: dict[str, str]) -> dict[str, str]:
    """The same script in the browser session a run gets (its egress proxy and guard, its init scripts)."""
    session = await manager.new_session()
    try:
        return await flow(session.page, url, payload)
    finally:
        await session.close()


async def flow(page: Page, url: str, payload: dict[str, str]) -> dict[str, str]:
    """The 10 actions by label and role, waiting for each page, then the three values."""
    if True:  # noqa: SIM108 - keeps the flow's lines as they were written
        await page.goto(url)
        await page.get_by_label("Full name").fill(payload["full_name"])
        await page.get_by_label("Email").fill(payload["email"])
        await page.get_by_label("Username").fill(payload["username"])
        await page.get_by_label("Password").fill(payload["password"])
        await page.get_by_label("Phone").fill(payload["phone"])
        await page.get_by_label("Plan").select_option(label=payload["plan"])
        await page.get_by_label("Send me the newsletter").check()
        await page.get_by_label("I accept the terms").check()
        await page.get_by_role("button", name="Continue").click()
        await page.wait_for_url("**/replay/signup")
        await page.get_by_role("button", name="Create account").click()
        await page.wait_for_url("**/replay/confirm")
        values = await page.locator("dl.account dd").all_inner_texts()
        return dict(zip(("username", "plan", "account_number"), values, strict=True))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    site = TestSite().start()
    fake = FakeOpenAIServer().start()
    manager = BrowserManager(BrowserConfig(egress=EgressPolicy.from_setting("127.0.0.0/8")))
    await manager.start()
    url = site.url("/replay/")
    times: dict[str, list[float]] = {"replay": [], "plain": [], "session": []}
    replay_calls: list[int] = []
    try:
        fake.script = signup_model(ADA)
        hooks = Keep()
        started = time.perf_counter()
        outcome = await run(manager, fake, signup_spec(site, ADA), hooks)
        recorded_ms = (time.perf_counter() - started) * 1000
        assert outcome.status == RunStatus.COMPLETED and hooks.scripts, outcome.failure_reason
        recorded_calls = len(fake.requests)
        document = hooks.scripts[0].document
        assert len(document["steps"]) == ACTIONS, len(document["steps"])
        spec = signup_spec(site, GRACE, run_with="script", script=document)

        async def replay() -> dict[str, str]:
            before = len(fake.requests)
            outcome = await run(manager, fake, spec, RunHooks())
            assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
            replay_calls.append(len(fake.requests) - before)
            return outcome.extracted_information  # type: ignore[no-any-return]

        contenders = {
            "replay": replay,
            "plain": lambda: hand_written(manager.browser, url, GRACE),
            "session": lambda: hand_written_in_session(manager, url, GRACE),
        }
        for contender in contenders.values():  # warm-up
            await contender()
        for _ in range(args.rounds):  # interleaved, so load on the machine hits all alike
            for name, contender in contenders.items():
                started = time.perf_counter()
                values = await contender()
                times[name].append((time.perf_counter() - started) * 1000)
                assert values == expected_extraction(GRACE), (name, values)
    finally:
        await manager.close()
        fake.stop()
        site.stop()
    med = {name: statistics.median(values) for name, values in times.items()}

    def line(name: str) -> str:
        return f"{med[name]:7.1f} ms (min {min(times[name]):.1f}, max {max(times[name]):.1f})"

    print(f"replay vs hand-written Playwright, {ACTIONS}-action sign-up flow on tests/sites/replay/, {args.rounds} rounds")
    print(f"  recorded run (instant fake model):                 {recorded_ms:7.1f} ms, {recorded_calls} model calls")
    print(f"  replay (run_with \"script\"), median:               {line('replay')}, model calls {max(replay_calls)}")
    print(f"  hand-written, in a run's browser session, median:  {line('session')}, model calls 0")
    print(f"  hand-written, in a plain context, median:          {line('plain')}, model calls 0")
    print(f"  ratio replay / hand-written in a run's session: {med['replay'] / med['session']:.2f}x (goal <= 1.5x)")
    print(f"  ratio replay / hand-written in a plain context: {med['replay'] / med['plain']:.2f}x")
    print(f"  model calls: replay {max(replay_calls)} (goal 0), recorded run {recorded_calls}")


if __name__ == "__main__":
    asyncio.run(main())
