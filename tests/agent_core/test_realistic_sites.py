"""The agent sees what each action changed and acts the way the page expects: the dom engine against sites that
behave like real ones (keys-only autocomplete, labels from the layout, validation after an XHR, a dead button,
content after an animation), the fake model scripted only from what the prompt shows."""

from __future__ import annotations

import re

import pytest

from agent_core.actions import InputText, execute_action
from agent_core.browser import BrowserManager
from agent_core.scraper import scrape
from agent_core.types import AgentConfig, RunStatus, TaskSpec
from tests.agent_core.running import run_agent
from tests.fakes.openai_server import FakeOpenAIServer, FakeRequest
from tests.scripting import act, element_id, step
from tests.sites.server import TestSite

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CONFIG = AgentConfig(max_steps=8, max_retries_per_step=1)


def history(request: FakeRequest) -> str:
    """The prompt's "Earlier actions" section."""
    text = request.user_text()
    return text.split("Earlier actions (oldest first):", 1)[1].split("# Elements on the page", 1)[0]


def listing(request: FakeRequest) -> str:
    return request.user_text().split("# Elements on the page", 1)[1]


def all_steps_succeeded(hooks) -> bool:  # type: ignore[no-untyped-def]
    return all(success for _, _, success, _ in hooks.steps())


async def test_autocomplete_listening_for_keys_shows_its_suggestions_in_the_next_listing(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        if "/autocomplete/submit" in req.user_text():
            return step(act("complete"), goal_achieved=True)
        if 'value="Egypt"' in listing(req):
            return step(act("click", element_id(req, r"<button", "Continue")))
        if 'value="Egy"' in listing(req):
            # Searching happened on the keys, 300 ms later: the suggestion is listed, marked new.
            return step(act("click", element_id(req, r"\(new\) <li role=option>Egypt</li>")))
        return step(act("input_text", element_id(req, 'label="Country"'), text="Egy"))

    fake_openai.script = script
    spec = TaskSpec(url=site.url("/autocomplete/"), navigation_goal="Ship to Egypt")
    outcome, hooks = await run_agent(spec, fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/autocomplete/submit")["fields"]["country"] == "Egypt"
    assert all_steps_succeeded(hooks) and len(fake_openai.requests) == 4
    typed = hooks.of("action_finished")[0].result
    assert typed.data["typed_keys"] == 3
    suggestion = re.search(r"\[(e\d+)\] \(new\) <li role=option>Egypt", listing(fake_openai.requests[1])).group(1)  # type: ignore[union-attr]
    assert typed.data["changes"]["appeared"] == [f'[{suggestion}] option "Egypt"']
    assert f'1 new: [{suggestion}] option "Egypt"' in history(fake_openai.requests[1])
    assert 'value now "Egy"' in history(fake_openai.requests[1])


async def test_typing_gives_keys_to_the_fields_that_listen_and_keeps_masks_and_plain_fields_working(
    site: TestSite, browser_manager: BrowserManager
) -> None:
    session = await browser_manager.new_session()
    try:
        await session.goto(site.url("/autocomplete/"))
        page = await scrape(session.page)
        by_label = {element.label: element for element in page.elements if element.label}
        assert by_label["Country"].keys == "own" and by_label["Delivery notes"].keys == "none"
        country = await execute_action(session, page, InputText(element_id=by_label["Country"].id, text="Est"))
        # settling waited for the debounce (300 ms after the last key) and the list it filled
        assert await session.page.locator("#suggestions li").all_text_contents() == ["Estonia"]
        assert country.settle_ms > 100
        phone = await execute_action(session, page, InputText(element_id=by_label["Phone"].id, text="5551234567"))
        notes = await execute_action(session, page, InputText(element_id=by_label["Delivery notes"].id, text="Back door"))
        assert country.data == {"typed_keys": 3} and phone.data is None and notes.data is None
        assert await session.page.input_value("#phone") == "(555) 123-4567"  # the mask formatted what was filled
        assert await session.page.input_value("#notes") == "Back door"
        assert await session.page.text_content("#count") == "4"  # clearing it (a Delete), then three letters
    finally:
        await session.close()


async def test_fields_labelled_only_by_nearby_text_get_those_labels(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    values = {"Genre": "Fiction", "Title": "Dune", "Year": "1965", "Pages": "412", "Author": "Frank Herbert", "Publisher": "Chilton"}

    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        if "/nearby/submit" in req.user_text():
            return step(act("complete"), goal_achieved=True)
        actions = [act("input_text", element_id(req, f'label="{label}"'), text=text) for label, text in values.items()]
        actions.append(act("checkbox", element_id(req, r"type=checkbox", 'label="Signed copy"'), checked=True))
        actions.append(act("click", element_id(req, r"<button", "Save book")))
        return step(*actions)

    fake_openai.script = script
    outcome, _ = await run_agent(TaskSpec(url=site.url("/nearby/"), navigation_goal="Add Dune"), fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    fields = site.last("/nearby/submit")["fields"]
    assert [fields[f"f{n}"] for n in range(1, 7)] == list(values.values()) and fields["f7"] == "yes"


async def test_validation_message_after_a_slow_xhr_is_reported_and_acted_on(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        if "Welcome, ada2!" in listing(req):
            return step(act("complete"), goal_achieved=True)
        name = "ada2" if "already taken" in req.user_text() else "ada"
        return step(
            act("input_text", element_id(req, 'label="Username"'), text=name),
            act("click", element_id(req, r"<button", "Create account")),
        )

    fake_openai.script = script
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/signup/"), navigation_goal="Sign up"), fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert [s["fields"]["username"] for s in site.posts("/signup/check")] == ["ada", "ada2"]
    assert all_steps_succeeded(hooks) and len(fake_openai.requests) == 3
    # The click's report says what appeared, though it came 0.4 s (server) + 0.3 s (fade) after the click.
    assert 'text: "This username is already taken."' in history(fake_openai.requests[1])
    assert "This username is already taken." in listing(fake_openai.requests[1])
    welcome = hooks.of("action_finished")[3].result.data["changes"]
    assert "Welcome, ada2!" in welcome["text"] and len(welcome["disappeared"]) == 2


async def test_a_dead_button_is_reported_as_no_visible_change_and_the_agent_moves_on(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        if "Coupon applied: SAVE10" in listing(req):
            return step(act("complete"), goal_achieved=True)
        if 'label="Coupon code"' in listing(req):
            return step(
                act("input_text", element_id(req, 'label="Coupon code"'), text="SAVE10"),
                act("click", element_id(req, r"<button", "Redeem")),
            )
        if "-> ok; no visible change" in history(req):
            return step(act("click", element_id(req, r"<button", "Enter a coupon code")))
        return step(act("click", element_id(req, r"<button", "Apply discount")))

    fake_openai.script = script
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/dead/"), navigation_goal="Get a discount"), fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert site.last("/dead/redeem")["fields"]["code"] == "SAVE10"
    dead = hooks.of("action_finished")[0].result
    assert dead.data["changes"] == {"summary": "no visible change"}
    assert dead.settle_ms < 500  # nothing happened, so nothing was waited for
    assert "(new) <input type=text name=code label=\"Coupon code\"" in listing(fake_openai.requests[2])


async def test_the_same_action_on_the_same_page_is_called_a_loop_then_stopped(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    fake_openai.script = lambda req: step(act("click", element_id(req, r"<button", "Apply discount")))
    config = AgentConfig(max_steps=25, max_retries_per_step=2, loop_warning=3, loop_limit=5)
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/dead/"), navigation_goal="Get a discount"), fake_openai, browser_manager, config=config)

    assert outcome.status == RunStatus.FAILED
    assert "loop: click [" in (outcome.failure_reason or "") and "already done 5 times" in (outcome.failure_reason or "")
    requests = fake_openai.requests
    assert len(requests) == 5 + 3  # five clicks, then the sixth ask fails its step, retried twice
    assert "Notice:" not in requests[2].user_text()
    assert re.search(r"You have already done click \[e\d+\] 3 times on this page", requests[3].user_text())
    assert len(hooks.of("action_finished")) == 5


async def test_tab_and_accordion_content_that_arrives_after_an_animation_is_in_the_next_listing(
    site: TestSite, fake_openai: FakeOpenAIServer, browser_manager: BrowserManager
) -> None:
    def script(req: FakeRequest):  # type: ignore[no-untyped-def]
        shown = listing(req)
        if "Chosen: return" in shown:
            return step(act("complete"), goal_achieved=True)
        if "Start a return" in shown:
            return step(act("click", element_id(req, r"\(new\) <button", "Start a return")))
        if "Chosen: express" in shown:
            return step(act("click", element_id(req, r"<button", "Returns")))
        if "Choose express shipping" in shown:
            return step(act("click", element_id(req, r"\(new\) <button", "Choose express shipping")))
        return step(act("click", element_id(req, r"role=tab", "Shipping")))

    fake_openai.script = script
    outcome, hooks = await run_agent(TaskSpec(url=site.url("/panels/"), navigation_goal="Express, then a return"), fake_openai, browser_manager, config=CONFIG)

    assert outcome.status == RunStatus.COMPLETED, outcome.failure_reason
    assert [s["fields"]["what"] for s in site.posts("/panels/choose")] == ["express", "return"]
    assert all_steps_succeeded(hooks) and len(fake_openai.requests) == 5
    tab = hooks.of("action_finished")[0].result.data["changes"]
    assert "Ships within 3 days." in tab["text"] and "now selected" in " ".join(tab["changed"])
    accordion = hooks.of("action_finished")[2].result.data["changes"]
    assert "expanded" in " ".join(accordion["changed"]) and "Start a return" in accordion["appeared"][0]
