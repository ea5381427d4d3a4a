"""The dom engine on the issue-19 sites, the fake model scripted only from the listing it was sent: icon buttons
under delegated listeners (feed/: on the feed, through jQuery, on the whole document), widgets built from spans (spans/), submenus (menus/), date and time
formats (formats/). Outcomes are checked on the server side."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from agent_core.browser import BrowserManager
from agent_core.types import AgentConfig, RunStatus, TaskSpec
from tests.agent_core.running import run_agent
from tests.fakes.openai_server import FakeOpenAIServer, FakeRequest
from tests.scripting import act, element_id, step
from tests.sites.server import TestSite

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CONFIG = AgentConfig(max_steps=10, max_retries_per_step=1)


def listing(request: FakeRequest) -> str:
    return request.user_text().split("# Elements on the page", 1)[1]


def after(request: FakeRequest, anchor: str, *patterns: str) -> str:
    """The id of the first element line after the first line matching `anchor` that matches every pattern: what
    a reader finds by looking below a heading ("the like button of @kenda's post")."""
    lines = listing(request).splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(anchor, line))
    for line in lines[start:]:
        match = re.match(r"\[(e\d+)\] ", line)
        if match and all(re.search(p, line) for p in patterns):
            return match.group(1)
    raise AssertionError(f"nothing matching {patterns} after {anchor!r} in:\n{listing(request)}")


def number(request: FakeRequest, pattern: str) -> int:
    match = re.search(pattern, listing(request))
    assert match, f"{pattern!r} not in:\n{listing(request)}"
    return int(match.group(1))


async def test_icon_buttons_of_a_feed_with_delegated_handlers(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        shown = listing(req)
        if "Done: bookmark @dune" in shown:
            return step(act("complete"), goal_achieved=True)
        if "Done: follow @noor" in shown:
            return step(act("click", after(req, "#dune", 'label="bookmark"')))
        if "Done: mute @omar" in shown:
            return step(act("click", after(req, "@noor", r"<span>Follow</span>")))
        if "Mute @omar" in shown:
            return step(act("click", element_id(req, r"\(new\) <li", "Mute @omar")))
        if "Done: like @kenda" in shown:
            return step(act("click", after(req, "@omar", 'label="more"')))
        return step(act("click", after(req, "@kenda", 'label="like"')))

    fake_openai.script = script
    goal = "Like @kenda's post, mute @omar, follow @noor, bookmark #dune"
    outcome, _ = await run_agent(TaskSpec(url=site.url("/feed/"), navigation_goal=goal), fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert [(s["fields"]["user"], s["fields"]["action"]) for s in site.posts("/feed/act")] == [
        ("kenda", "like"), ("omar", "mute"), ("noor", "follow"), ("dune", "bookmark"),
    ]
    assert re.search(r'<span label="like">13</span>', listing(fake_openai.requests[1]))  # the count went up


async def test_slider_and_spinner_built_from_spans(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        shown = listing(req)
        if "Saved." in shown:
            return step(act("complete"), goal_achieved=True)
        actions = []
        # The plugin slider shows no value on its handle; the page says it in words next to it.
        volume = number(req, r"Volume is at (\d+)%")
        if volume != 70:
            actions.append(act("keypress", element_id(req, 'label="Volume"'), keys=["ArrowRight" if volume < 70 else "ArrowLeft"]))
        brightness = number(req, r'role=slider label="Brightness" value="(\d+)" min=0 max=100')
        if brightness != 60:
            actions.append(act("keypress", element_id(req, "role=slider"), keys=["ArrowRight" if brightness < 60 else "ArrowLeft"]))
        guests = number(req, r'role=spinbutton label="Guests" value="(\d+)" min=1 max=8')
        if guests != 4:
            actions.append(act("click", element_id(req, r"<a role=button", 'label="up"' if guests < 4 else 'label="down"')))
        if not actions:
            actions.append(act("click", element_id(req, r"<button", "Save settings")))
        return step(*actions)

    fake_openai.script = script
    goal = "Set the volume to 70, the brightness to 60 and the guests to 4, then save"
    outcome, _ = await run_agent(TaskSpec(url=site.url("/spans/"), navigation_goal=goal), fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/spans/save")["fields"] == {"volume": "70", "brightness": "60", "guests": "4"}


async def test_an_item_in_a_submenu(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        shown = listing(req)
        if "Ran open:notes.txt" in shown:
            return step(act("complete"), goal_achieved=True)
        if ">notes.txt</li>" in shown:
            return step(act("click", element_id(req, r"<li role=menuitem>notes\.txt</li>")))
        if "haspopup=menu collapsed>Open recent<" in shown:
            return step(act("click", element_id(req, r"haspopup=menu collapsed>Open recent<")))
        return step(act("click", element_id(req, r"haspopup=menu collapsed>File<")))

    fake_openai.script = script
    outcome, _ = await run_agent(TaskSpec(url=site.url("/menus/"), navigation_goal="Open notes.txt from the recent files"),
                                 fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/menus/choose")["fields"] == {"command": "open:notes.txt"}
    assert len(fake_openai.requests) == 4


# What the fake model does with a format word it reads in the listing: write the moment in that format.
FORMATS = {
    "YYYY-MM-DD": "%Y-%m-%d",
    "HH:MM": "%H:%M",
    "YYYY-MM": "%Y-%m",
    "YYYY-Www": "%G-W%V",
    "YYYY-MM-DDTHH:MM": "%Y-%m-%dT%H:%M",
}


async def test_dates_and_times_typed_in_the_format_the_listing_names(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    when = datetime(2012, 9, 10, 8, 22)  # "September 10, 2012 at 8:22 AM"

    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        if "/formats/submit" in req.user_text():
            return step(act("complete"), goal_achieved=True)
        actions = []
        for line in listing(req).splitlines():
            match = re.match(r'\[(e\d+)\] <input type=[\w-]+ name=(\w+) .*format="([^"]+)"', line)
            if match:
                actions.append(act("input_text", match.group(1), text=when.strftime(FORMATS[match.group(3)])))
        assert re.search(r"name=extras .* multiple>", listing(req))
        actions.append(act("select_option", element_id(req, "name=extras"), option="Flowers"))
        actions.append(act("click", element_id(req, r"<button", "Book")))
        return step(*actions)

    fake_openai.script = script
    goal = "Book a table for September 10, 2012 at 8:22 AM with flowers; remind me then; bill that month and week"
    outcome, _ = await run_agent(TaskSpec(url=site.url("/formats/"), navigation_goal=goal), fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    fields = site.last("/formats/submit")["fields"]
    assert {key: fields[key] for key in ("day", "arrival", "month", "week", "reminder", "extras")} == {
        "day": "2012-09-10", "arrival": "08:22", "month": "2012-09", "week": "2012-W37",
        "reminder": "2012-09-10T08:22", "extras": "flowers",
    }
    assert fields["letter"].endswith("albatross")  # the long text went through whole
