"""What a person does on a page, the agent does too (issue 19): several options of a multiple select, sliders
set by value (a range input, a handle that answers only to keys, one that answers only to a drag), a menu
that opens on hover, the whole text of a long textarea, dates and times in the form the inputs take, and
honest results when the page did not take what was typed or chosen.

Each site under tests/sites/act_controls/ posts what it got; the dom-engine tests script the fake model from
its prompt only (listing and history) and check what the server received."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from agent_core.actions import (
    Hover,
    InputText,
    ReadText,
    SelectOption,
    SetSlider,
    execute_action,
)
from agent_core.browser import BrowserManager, BrowserSession
from agent_core.scraper import Element, ScrapeResult, scrape
from agent_core.secrets import Secrets
from agent_core.types import ActionResult, AgentConfig, CredentialSpec, RunStatus, TaskSpec
from tests.agent_core.running import Recorder, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, FakeRequest
from tests.scripting import act, element_id, page_url, step
from tests.sites.server import VAULT_PASSWORD, VAULT_USER, TestSite

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CONFIG = AgentConfig(max_steps=6, max_retries_per_step=3)


def history(request: FakeRequest) -> str:
    """The prompt's "Earlier actions" section."""
    text = request.user_text()
    return text.split("Earlier actions (oldest first):", 1)[1].split("# Elements on the page", 1)[0]


def listing(request: FakeRequest) -> str:
    return request.user_text().split("# Elements on the page", 1)[1]


def find(page: ScrapeResult, pattern: str) -> Element:
    matches = [e for e in page.elements if re.search(pattern, e.to_line())]
    assert len(matches) == 1, f"{pattern!r} matched {[m.to_line() for m in matches]}"
    return matches[0]


def finished(hooks: Recorder, action_type: str) -> list[ActionResult]:
    return [e.result for e in hooks.of("action_finished") if e.action.get("action_type") == action_type]


async def value_of(session: BrowserSession, selector: str) -> str:
    return str(await session.page.eval_on_selector(selector, "el => el.value"))


# ---- the dom engine on each site -------------------------------------------------------------------------


async def test_a_multiple_select_gets_exactly_the_options_asked_for(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest) -> Any:
        if page_url(req).endswith("/act_controls/choices"):
            return step(act("complete"), goal_achieved=True)
        return step(
            act("select_option", element_id(req, "name=size"), option="Large"),
            act("select_option", element_id(req, "name=toppings"), option=["Mushrooms", "Olives"]),
            act("click", element_id(req, "<button", "Order")),
        )

    fake_openai.script = script
    spec = TaskSpec(url=site.url("act_controls/choices.html"), navigation_goal="A large pizza, mushrooms and olives only")
    outcome, hooks = await run_agent(spec, fake_openai, browser_manager, config=CONFIG)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    fields = site.last("/act_controls/choices")["fields"]
    assert fields["size"] == "l"
    assert fields["toppings"] == ["mushrooms", "olives"]  # the pre-selected Cheese is no longer chosen
    [_, toppings] = finished(hooks, "select_option")
    assert toppings.data["selected"] == [
        {"label": "Mushrooms", "value": "mushrooms"},
        {"label": "Olives", "value": "olives"},
    ]


async def test_sliders_are_set_by_keys_by_drag_or_directly_and_checked(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest) -> Any:
        if page_url(req).endswith("/act_controls/sliders"):
            return step(act("complete"), goal_achieved=True)
        return step(
            act("set_slider", element_id(req, "name=volume"), value=65),
            act("set_slider", element_id(req, "role=slider", "Brightness"), value=7),
            act("set_slider", element_id(req, "role=slider", "Temperature"), value=24),
            act("click", element_id(req, "<button", "Save settings")),
        )

    fake_openai.script = script
    spec = TaskSpec(url=site.url("act_controls/sliders.html"), navigation_goal="Volume 65, brightness 7, 24 degrees")
    outcome, hooks = await run_agent(spec, fake_openai, browser_manager, config=CONFIG)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    fields = site.last("/act_controls/sliders")["fields"]
    assert (fields["volume"], fields["brightness"], fields["temperature"]) == ("65", "7", "24")
    volume, brightness, temperature = finished(hooks, "set_slider")
    assert [volume.data["by"], brightness.data["by"], temperature.data["by"]] == ["set", "keys", "drag"]
    assert 'value now "65"' in volume.data["changes"]["summary"]


async def test_a_menu_that_opens_on_hover_is_walked_down_to_a_submenu_item(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest) -> Any:
        shown = listing(req)
        if "You are browsing Gaming laptops." in shown:
            return step(act("complete"), goal_achieved=True)
        if "Gaming laptops" in shown:
            return step(act("click", element_id(req, "<a", "Gaming laptops")))
        if ">Laptops<" in shown:
            return step(act("hover", element_id(req, "<a", ">Laptops<")))
        return step(act("hover", element_id(req, "<a", ">Products<")))

    fake_openai.script = script
    spec = TaskSpec(url=site.url("act_controls/menu.html"), navigation_goal="Browse gaming laptops")
    outcome, hooks = await run_agent(spec, fake_openai, browser_manager, config=CONFIG)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/act_controls/menu")["fields"] == {"item": "Gaming laptops"}
    products, laptops = finished(hooks, "hover")
    assert "new: " in products.data["changes"]["summary"] and "Laptops" in products.data["changes"]["summary"]
    assert "Gaming laptops" in laptops.data["changes"]["summary"]
    assert "overview" not in "".join(page_url(r) for r in fake_openai.requests)  # hovering never followed a link


async def test_the_whole_of_a_long_textarea_is_read_to_its_last_word(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest) -> Any:
        if page_url(req).endswith("/act_controls/text"):
            return step(act("complete"), goal_achieved=True)
        earlier = history(req)
        end = re.search(r"read_text \[e\d+\] -> ok; characters 4000 to (\d+) of its \1: (\".*\")", earlier)
        if end:
            last_word = json.loads(end.group(2)).split()[-1]
            return step(
                act("input_text", element_id(req, "name=word"), text=last_word),
                act("click", element_id(req, "<button", "Accept")),
            )
        if "read_text with offset 4000 reads on" in earlier:
            return step(act("read_text", element_id(req, "<textarea"), offset=4000))
        return step(act("read_text", element_id(req, "<textarea")))

    fake_openai.script = script
    spec = TaskSpec(url=site.url("act_controls/text.html"), navigation_goal="Accept the terms")
    outcome, hooks = await run_agent(spec, fake_openai, browser_manager, config=CONFIG)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/act_controls/text")["fields"]["word"] == "lighthouse"
    first, rest = finished(hooks, "read_text")
    assert (first.data["offset"], len(first.data["text"]), first.data["total"]) == (0, 4000, 7164)
    assert rest.data["text"].endswith("The last word is lighthouse")
    # The text shows whole only in the step right after the read; later prompts count it.
    assert "it held 7164 characters (no longer shown" in history(fake_openai.requests[-1])


async def test_dates_and_times_go_in_as_the_inputs_take_them_and_an_ambiguous_date_is_refused(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest) -> Any:
        if page_url(req).endswith("/act_controls/dates"):
            return step(act("complete"), goal_achieved=True)
        if "is ambiguous" not in history(req):
            return step(act("input_text", element_id(req, "name=departure\\b"), text="09/10/2012"))
        return step(
            act("input_text", element_id(req, "name=departure\\b"), text="2012-09-10"),
            act("input_text", element_id(req, "name=departure_time"), text="8:22 AM"),
            act("input_text", element_id(req, "name=birthday"), text="09/10/2012"),  # its label says MM/DD/YYYY
            act("input_text", element_id(req, "name=return_date"), text="09/10/2012"),  # in a part that is en-GB
            act("input_text", element_id(req, "name=card_expiry"), text="March 2027"),
            act("input_text", element_id(req, "name=week"), text="2012-09-10"),
            act("input_text", element_id(req, "name=meeting"), text="September 10, 2012 at 8:22 PM"),
            act("click", element_id(req, "<button", "Book")),
        )

    fake_openai.script = script
    spec = TaskSpec(url=site.url("act_controls/dates.html"), navigation_goal="Book the trip of September 10, 2012")
    outcome, hooks = await run_agent(spec, fake_openai, browser_manager, config=CONFIG)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/act_controls/dates")["fields"] == {
        "departure": "2012-09-10",
        "departure_time": "08:22",
        "birthday": "2012-09-10",
        "return_date": "2012-10-09",
        "card_expiry": "2027-03",
        "week": "2012-W37",
        "meeting": "2012-09-10T20:22",
    }
    refused = finished(hooks, "input_text")[0]
    assert not refused.success and "'09/10/2012' is ambiguous" in (refused.error or "")
    assert "this field takes YYYY-MM-DD: write 2012-09-10 or 2012-10-09" in (refused.error or "")
    assert "FAILED: " in history(fake_openai.requests[1]) and "is ambiguous" in history(fake_openai.requests[1])


async def test_what_the_page_did_not_take_fails_and_the_model_is_told(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest) -> Any:
        if page_url(req).endswith("/act_controls/rejects"):
            return step(act("complete"), goal_achieved=True)
        earlier = history(req)
        if "it takes at most 5 characters" in earlier:
            return step(
                act("input_text", element_id(req, "name=zip"), text="90210"),
                act("click", element_id(req, "<button", "Place order")),
            )
        if "did not keep 'Express'" in earlier:
            return step(act("input_text", element_id(req, "name=zip"), text="90210-1234"))
        if "did not take 'SAVE10'" in earlier:
            return step(act("select_option", element_id(req, "name=shipping"), option="Express"))
        if "did not stay checked" in earlier:
            return step(act("input_text", element_id(req, "name=promo"), text="SAVE10"))
        return step(
            act("input_text", element_id(req, "name=name"), text="Ada Lovelace"),
            act("checkbox", element_id(req, "name=gift"), checked=True),
        )

    fake_openai.script = script
    spec = TaskSpec(url=site.url("act_controls/rejects.html"), navigation_goal="Order with code SAVE10, express")
    config = AgentConfig(max_steps=4, max_retries_per_step=4)
    outcome, hooks = await run_agent(spec, fake_openai, browser_manager, config=config)
    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/act_controls/rejects")["fields"] == {
        "name": "Ada Lovelace",
        "promo": "",
        "shipping": "standard",
        "zip": "90210",
    }
    failures = [e.result.error for e in hooks.of("action_finished") if not e.result.success]
    gift_id, promo_id, shipping_id, zip_id = (re.search(r"\be\d+\b", error or "").group(0) for error in failures)  # type: ignore[union-attr]
    assert failures == [
        f"{gift_id} did not stay checked: it is unchecked now",
        f"{promo_id} did not take 'SAVE10': it holds ''",
        f"{shipping_id} did not keep 'Express': it holds 'Standard'",
        f"{zip_id} did not take '90210-1234': it holds '90210' (it takes at most 5 characters)",
    ]
    assert f"checkbox [{gift_id}] -> FAILED: {gift_id} did not stay checked" in history(fake_openai.requests[1])
    told = history(fake_openai.requests[2])
    assert f"input_text [{promo_id}] -> FAILED: {promo_id} did not take 'SAVE10': it holds ''" in told


# ---- one action at a time --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("8:22 AM", "08:22"), ("8:22pm", "20:22"), ("20:22", "20:22")],
)
async def test_a_time_typed_the_way_people_write_it_is_set(
    site: TestSite, session: BrowserSession, text: str, value: str
) -> None:
    await session.goto(site.url("act_controls/dates.html"))
    page = await scrape(session.page)
    result = await execute_action(session, page, InputText(element_id=find(page, "name=departure_time").id, text=text))
    assert result.success, result.error
    assert await value_of(session, "#departure_time") == value
    assert result.data == (None if text == value else {"value": value})


async def test_an_ambiguous_date_is_refused_and_the_field_left_alone(site: TestSite, session: BrowserSession) -> None:
    await session.goto(site.url("act_controls/dates.html"))
    page = await scrape(session.page)
    departure = find(page, "name=departure\\b")
    result = await execute_action(session, page, InputText(element_id=departure.id, text="09/10/2012"))
    assert result.error == (
        f"{departure.id}: '09/10/2012' is ambiguous (September 10, 2012 or 9 October 2012; the page does not say "
        "which order it uses); this field takes YYYY-MM-DD: write 2012-09-10 or 2012-10-09"
    )
    assert await value_of(session, "#departure") == ""
    birthday = await execute_action(
        session, page, InputText(element_id=find(page, "name=birthday").id, text="09/10/2012")
    )
    assert birthday.success and birthday.data == {
        "value": "2012-09-10",
        "order": "month first, as the field's hint says",
    }
    back = await execute_action(session, page, InputText(element_id=find(page, "name=return_date").id, text="09/10/2012"))
    assert back.data == {"value": "2012-10-09", "order": "day first, as the page's locale en-GB says"}


async def test_select_option_lists_need_a_multiple_select(site: TestSite, session: BrowserSession) -> None:
    await session.goto(site.url("act_controls/choices.html"))
    page = await scrape(session.page)
    size, toppings = find(page, "name=size"), find(page, "name=toppings")
    two = await execute_action(session, page, SelectOption(element_id=size.id, option=["Small", "Large"]))
    assert two.error == (
        f'{size.id} takes one option, not 2: give "option" as a string (only a <select multiple> takes a list)'
    )
    one = await execute_action(session, page, SelectOption(element_id=size.id, option=["Large"]))
    assert one.success and await value_of(session, "#size") == "l"
    sold_out = await execute_action(session, page, SelectOption(element_id=toppings.id, option=["Olives", "Pineapple"]))
    assert sold_out.error == f"option 'Pineapple (sold out)' of {toppings.id} is disabled"
    single = await execute_action(session, page, SelectOption(element_id=toppings.id, option="Peppers"))
    assert single.success and single.data == {"selected": [{"label": "Peppers", "value": "peppers"}]}
    chosen = await session.page.eval_on_selector("#toppings", "s => Array.from(s.selectedOptions, o => o.value)")
    assert chosen == ["peppers"]


async def test_a_slider_refuses_what_it_cannot_hold(site: TestSite, session: BrowserSession) -> None:
    await session.goto(site.url("act_controls/sliders.html"))
    page = await scrape(session.page)
    volume, brightness = find(page, "name=volume"), find(page, "Brightness")
    between = await execute_action(session, page, SetSlider(element_id=volume.id, value=33))
    assert between.error == (
        f"33 is not a value {volume.id} can hold: it goes from 0 to 100 in steps of 5 (nearest: 30 or 35)"
    )
    too_far = await execute_action(session, page, SetSlider(element_id=brightness.id, value=11))
    assert too_far.error == f"11 is outside {brightness.id}'s range, 0 to 10"
    half = await execute_action(session, page, SetSlider(element_id=brightness.id, value=4.5))
    assert half.error == (
        f"{brightness.id} holds 4, not 4.5: its arrow keys move it in steps of 1"
    )
    home = await execute_action(session, page, SetSlider(element_id=brightness.id, value=0))
    assert home.success and await value_of(session, "#brightness-value") == "0"
    typed = await execute_action(session, page, InputText(element_id=volume.id, text="40"))
    assert typed.success and await value_of(session, "#volume") == "40"
    assert await session.page.text_content("#volume-shown") == "40"  # the page heard the input event
    guests = find(page, "role=spinbutton")
    typed_guests = await execute_action(session, page, InputText(element_id=guests.id, text="5"))
    assert typed_guests.success and typed_guests.data["by"] == "keys" and await value_of(session, "#guests-value") == "5"
    fewer = await execute_action(session, page, SetSlider(element_id=guests.id, value=1))
    assert fewer.success and await session.page.text_content("#guests") == "1"
    not_a_slider = await execute_action(session, page, SetSlider(element_id=find(page, "Save settings").id, value=1))
    assert "is not a slider" in (not_a_slider.error or "")


async def test_read_text_reads_on_from_an_offset_but_never_a_password(site: TestSite, session: BrowserSession) -> None:
    await session.goto(site.url("act_controls/text.html"))
    page = await scrape(session.page)
    terms = find(page, "<textarea")
    rest = await execute_action(session, page, ReadText(element_id=terms.id, offset=7000))
    assert rest.success and rest.data["text"].endswith("lighthouse") and rest.data["total"] == 7164
    past = await execute_action(session, page, ReadText(element_id=terms.id, offset=9000))
    assert past.error == f"{terms.id} holds 7164 characters: offset 9000 is past its end"
    await session.goto(site.url("login/"))
    page = await scrape(session.page)
    password = find(page, "name=password")
    await execute_action(session, page, InputText(element_id=password.id, text="lovelace"))
    refused = await execute_action(session, page, ReadText(element_id=password.id))
    assert refused.error == f"{password.id} is a password field: its value is not read"


async def test_hover_opens_a_submenu_without_following_the_link(site: TestSite, session: BrowserSession) -> None:
    await session.goto(site.url("act_controls/menu.html"))
    page = await scrape(session.page)
    assert "Laptops" not in page.listing
    result = await execute_action(session, page, Hover(element_id=find(page, "<a .*>Products<").id))
    assert result.success and not result.navigated
    assert "Laptops" in (await scrape(session.page)).listing


async def test_a_secret_the_field_did_not_take_is_never_repeated(site: TestSite, session: BrowserSession) -> None:
    session.secrets = Secrets([
        CredentialSpec(name="vault", username=VAULT_USER, password=VAULT_PASSWORD, sites=(f"127.0.0.1:{site.port}",))
    ])
    await session.goto(site.url("act_controls/rejects.html"))
    page = await scrape(session.page)
    zip_code = find(page, "name=zip")  # keeps 5 characters of the 20 of the username
    result = await execute_action(session, page, InputText(element_id=zip_code.id, text="{{vault.username}}"))
    assert result.error == f"{zip_code.id} did not take the text typed: it holds 5 characters, not {len(VAULT_USER)}"
    assert await value_of(session, "#zip") == VAULT_USER[:5]


async def test_a_field_replaced_after_typing_is_not_waited_for(site: TestSite, session: BrowserSession) -> None:
    # A framework that renders a new input on each change: the typed field is gone, nothing is left to check.
    await session.goto(site.url("act_controls/rejects.html"))
    await session.page.evaluate(
        """() => { const name = document.getElementById('name');
        name.addEventListener('input', () => { const fresh = document.createElement('input');
          fresh.value = name.value; fresh.id = 'fresh'; name.replaceWith(fresh); }); }"""
    )
    page = await scrape(session.page)
    result = await execute_action(session, page, InputText(element_id=find(page, "name=name").id, text="Ada"))
    assert result.success and result.duration_ms < 1000
    assert await value_of(session, "#fresh") == "Ada"


async def test_hover_on_a_covered_element_tells_it_by_its_mouse_events(site: TestSite, session: BrowserSession) -> None:
    await session.goto(site.url("act_controls/menu.html"))
    page = await scrape(session.page)
    await session.page.evaluate(  # a cookie banner slides over the menu after the scrape; the menu listens itself
        """() => { const top = document.querySelector('nav > ul > li');
        top.addEventListener('mouseenter', () => { document.getElementById('chosen').textContent = 'menu heard the mouse'; });
        const r = top.getBoundingClientRect(); const o = document.createElement('div');
        Object.assign(o.style, {position: 'fixed', left: r.left + 'px', top: r.top + 'px', width: r.width + 'px',
          height: r.height + 'px', background: 'white'}); document.body.appendChild(o); }"""
    )
    result = await execute_action(session, page, Hover(element_id=find(page, "<a .*>Products<").id), timeout_ms=600)
    assert result.success and result.data["fallback"] == "events"
    assert await session.page.text_content("#chosen") == "menu heard the mouse"
