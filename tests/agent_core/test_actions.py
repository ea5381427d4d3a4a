"""Parsing the model's actions, and executing each action type on the local sites (checked on the server side)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import jsonschema
import pytest

from agent_core.actions import (
    AGENT_STEP_SCHEMA,
    Checkbox,
    Click,
    Complete,
    GoBack,
    GotoUrl,
    InputText,
    Keypress,
    Scroll,
    SelectOption,
    Terminate,
    UploadFile,
    Wait,
    action_to_dict,
    execute_action,
    match_option,
    normalise_key,
    parse_agent_step,
)
from agent_core.browser import BrowserSession
from agent_core.errors import InvalidModelOutputError
from agent_core.scraper import Element, ScrapeResult, scrape
from tests.sites.server import REPORT_CSV, TestSite

# ---- parsing (no browser) ---------------------------------------------------------------------------------
GOOD_REPLY = {
    "thinking": "Fill the form.",
    "goal_achieved": False,
    "actions": [
        {"action_type": "input_text", "element_id": "e2", "reasoning": "name", "text": "Ada"},
        {"action_type": "select_option", "element_id": "[e4]", "reasoning": "country", "option": "France"},
        {"action_type": "checkbox", "element_id": 9, "reasoning": "terms", "checked": True},
        {"action_type": "click", "element_id": "E10", "reasoning": "submit"},
        {"action_type": "keypress", "element_id": None, "reasoning": "", "keys": "ENTER"},
        {"action_type": "wait", "element_id": None, "reasoning": "slow", "seconds": 600},
        {"action_type": "scroll", "element_id": None, "reasoning": "", "direction": "Down"},
        {
            "action_type": "terminate",
            "element_id": None,
            "reasoning": "x",
            "errors": [{"error_code": "NO_JOBS", "reasoning": "none listed"}],
        },
    ],
}


def test_parse_agent_step_accepts_the_contract_and_what_models_really_write() -> None:
    step = parse_agent_step("```json\n" + json.dumps(GOOD_REPLY) + "\n```")
    assert step.thinking == "Fill the form." and step.goal_achieved is False
    kinds = [type(a) for a in step.actions]
    assert kinds == [InputText, SelectOption, Checkbox, Click, Keypress, Wait, Scroll, Terminate]
    assert [a.element_id for a in step.actions[:4]] == ["e2", "e4", "e9", "e10"]
    assert step.actions[4].keys == ["ENTER"]
    assert step.actions[5].seconds == 30.0  # capped
    assert step.actions[6].direction == "down"
    assert step.actions[7].errors[0].error_code == "NO_JOBS"
    assert parse_agent_step(GOOD_REPLY) == step


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("not json at all", r"^the reply is not JSON: "),
        ([], r"^the reply must be a JSON object"),
        ({"thinking": "x"}, r"^the reply has no 'actions' list$"),
        (
            {"actions": [{"action_type": "jump", "element_id": "e1"}]},
            r"^action 1: unknown action type 'jump'; expected one of click, ",
        ),
        ({"actions": [{"element_id": "e1"}]}, r"^action 1 has no action_type$"),
        (
            {"actions": [{"action_type": "input_text", "element_id": "e1"}]},
            r"^action 1: missing 'text' for input_text$",
        ),
        ({"actions": [{"action_type": "click"}]}, r"^action 1: click needs an element_id$"),
        (
            {"actions": [{"action_type": "complete"}, {"action_type": "select_option", "element_id": "e1"}]},
            r"^action 2: missing 'option' for select_option$",
        ),
        (
            {"actions": [{"action_type": "scroll", "direction": "sideways"}]},
            r"^action 1: 'direction' for scroll: ",
        ),
        ({"actions": [], "goal_achieved": "maybe"}, r"^'goal_achieved': "),
    ],
)
def test_parse_agent_step_errors_are_clear(reply: object, reason: str) -> None:
    with pytest.raises(InvalidModelOutputError, match=reason):
        parse_agent_step(reply)


def test_action_to_dict_and_schema() -> None:
    step = parse_agent_step(GOOD_REPLY)
    as_dicts = [action_to_dict(a) for a in step.actions]
    assert as_dicts[0] == {
        "action_type": "input_text",
        "element_id": "e2",
        "reasoning": "name",
        "text": "Ada",
    }
    assert json.loads(json.dumps(as_dicts)) == as_dicts
    jsonschema.Draft202012Validator.check_schema(AGENT_STEP_SCHEMA)
    jsonschema.validate({"thinking": "t", "goal_achieved": True, "actions": as_dicts}, AGENT_STEP_SCHEMA)
    assert (
        parse_agent_step({"thinking": "", "goal_achieved": False, "actions": as_dicts}).actions
        == step.actions
    )


def test_key_names() -> None:
    assert [
        normalise_key(k) for k in ("ENTER", "Return", "ctrl+a", "cmd+shift+k", "esc", "PageDown", "a", "F5")
    ] == [
        "Enter",
        "Enter",
        "Control+a",
        "Meta+Shift+k",
        "Escape",
        "PageDown",
        "a",
        "F5",
    ]


def test_option_matching() -> None:
    options = [
        {"label": "France", "value": "fr"},
        {"label": "Germany", "value": "de"},
        {"label": "United States", "value": "us"},
    ]
    assert match_option(options, "Germany")["value"] == "de"
    assert match_option(options, "de")["value"] == "de"
    assert match_option(options, " germany ")["value"] == "de"
    assert match_option(options, "FR")["value"] == "fr"
    assert match_option(options, "France (fr)")["value"] == "fr"
    assert match_option(options, "States")["value"] == "us"
    assert match_option(options, "Spain") is None


# ---- execution on real pages -------------------------------------------------------------------------------
def find(page_state: ScrapeResult, pattern: str) -> Element:
    matches = [e for e in page_state.elements if re.search(pattern, e.to_line())]
    assert len(matches) == 1, f"{pattern!r} matched {[m.to_line() for m in matches]}"
    return matches[0]


async def run(
    session: BrowserSession, page_state: ScrapeResult, *actions: object, timeout_ms: int | None = None
):
    """Execute the actions in order; every one must succeed. Returns the last result."""
    result = None
    for action in actions:
        result = await execute_action(session, page_state, action, timeout_ms=timeout_ms)  # type: ignore[arg-type]
        assert result.success, (action, result.error)
    return result


async def fill_job_page_one(session: BrowserSession, site: TestSite, *, email: str = "ada@example.com"):
    await session.goto(site.url("job/"))
    page = await scrape(session.page)
    actions = [
        InputText(element_id=find(page, "name=full_name").id, text="Ada Lovelace"),
        SelectOption(element_id=find(page, "name=country").id, option="Germany"),
        Checkbox(element_id=find(page, 'value="senior"').id, checked=True),
        InputText(element_id=find(page, "name=start_date").id, text="01.03.2027"),
        Checkbox(element_id=find(page, "name=terms").id, checked=True),
    ]
    if email:
        actions.insert(1, InputText(element_id=find(page, "name=email").id, text=email))
    await run(session, page, *actions)
    return await execute_action(session, page, Click(element_id=find(page, r"<button>Continue").id))


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
class TestExecuteAction:
    async def test_job_form_page_one_reaches_the_server(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        result = await fill_job_page_one(session, site)
        assert result.success and result.navigated
        assert site.last("/job/apply")["fields"] == {
            "full_name": "Ada Lovelace",
            "email": "ada@example.com",
            "country": "de",
            "experience": "senior",
            "start_date": "2027-03-01",  # typed as 01.03.2027: date inputs want ISO
            "terms": "yes",
        }
        assert session.page.url == site.url("job/documents.html")

    async def test_server_side_validation_error_is_visible(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        result = await fill_job_page_one(session, site, email="")
        assert result.success and result.navigated
        assert site.last("/job/apply")["fields"]["email"] == ""
        after = await scrape(session.page)
        assert "Please fill in: email" in after.listing

    async def test_upload_a_local_file_then_finish(
        self, site: TestSite, session: BrowserSession, tmp_path: Path
    ) -> None:
        await session.goto(site.url("job/documents.html"))
        page = await scrape(session.page)
        cv = tmp_path / "cv.txt"
        cv.write_text("Ada Lovelace, analyst of engines")
        upload = await execute_action(
            session, page, UploadFile(element_id=find(page, "name=cv").id, file_url=str(cv))
        )
        assert upload.success and upload.data == {"file": "cv.txt", "size": cv.stat().st_size}
        assert 'files="cv.txt"' in find(await scrape(session.page), "name=cv").to_line()
        letter = find(page, "name=cover_letter")
        await run(session, page, InputText(element_id=letter.id, text="I like engines."))
        result = await execute_action(session, page, Click(element_id=find(page, "Submit application").id))
        assert result.navigated
        posted = site.last("/job/documents")
        assert posted["files"]["cv"]["filename"] == "cv.txt"
        assert posted["files"]["cv"]["size"] == cv.stat().st_size
        assert posted["fields"] == {"cover_letter": "I like engines."}
        assert "Your application has been received." in (await scrape(session.page)).text

    async def test_upload_from_a_url(self, site: TestSite, session: BrowserSession) -> None:
        await session.goto(site.url("job/documents.html"))
        page = await scrape(session.page)
        cv = find(page, "name=cv")
        await run(session, page, UploadFile(element_id=cv.id, file_url=site.url("download/report.csv")))
        await run(session, page, Click(element_id=find(page, "Submit application").id))
        assert site.last("/job/documents")["files"]["cv"] == {
            "filename": "report.csv",
            "size": len(REPORT_CSV),
            "content_type": "text/csv",
            "content": REPORT_CSV,
        }

    async def test_upload_of_a_missing_file_fails_cleanly(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        await session.goto(site.url("job/documents.html"))
        page = await scrape(session.page)
        missing = f"{tempfile.gettempdir()}/no/such.pdf"
        result = await execute_action(
            session, page, UploadFile(element_id=find(page, "name=cv").id, file_url=missing)
        )
        assert not result.success and result.error == f"file to upload not found: {missing}"

    async def test_click_download_is_saved(self, site: TestSite, session: BrowserSession) -> None:
        await session.goto(site.url("download/"))
        page = await scrape(session.page)
        result = await execute_action(session, page, Click(element_id=find(page, "Download report").id))
        assert result.success
        [saved] = result.data["downloads"]
        assert Path(saved).name == "report.csv" and Path(saved).parent == session.downloads_dir
        assert Path(saved).read_bytes() == REPORT_CSV
        assert session.downloads == [Path(saved)]

    async def test_vanished_element(self, site: TestSite, session: BrowserSession) -> None:
        await session.goto(site.url("shifting/"))
        page = await scrape(session.page)
        invoice = find(page, "Open Invoice March")
        await run(session, page, Click(element_id=find(page, "Archive first message").id))
        result = await execute_action(session, page, Click(element_id=invoice.id))
        assert not result.success and result.error == f"element {invoice.id} is no longer on the page"
        assert result.duration_ms < 1000
        # The fresh scrape has the rebuilt list under new ids.
        fresh = await scrape(session.page)
        lunch = find(fresh, "Open Team lunch")
        assert lunch.id not in {e.id for e in page.elements}
        await run(session, fresh, Click(element_id=lunch.id))
        assert site.last("/shifting/open")["fields"] == {"subject": "Team lunch"}

    async def test_ids_from_a_previous_page_do_not_hit_the_new_one(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        await session.goto(site.url("login/"))
        before = await scrape(session.page)
        await session.goto(site.url("job/"))  # e1.. exist again, on other elements
        result = await execute_action(session, before, InputText(element_id="e1", text="ada"))
        assert not result.success and result.error == "element e1 is no longer on the page"

    async def test_unknown_element_id(self, site: TestSite, session: BrowserSession) -> None:
        await session.goto(site.url("job/"))
        page = await scrape(session.page)
        result = await execute_action(session, page, Click(element_id="e99"))
        assert (result.success, result.error, result.navigated) == (False, "unknown element id e99", False)

    async def test_select_by_label_value_and_a_clear_miss(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        await session.goto(site.url("job/"))
        page = await scrape(session.page)
        country = find(page, "name=country")

        async def chosen() -> str:
            return await session.page.eval_on_selector("#country", "s => s.value")

        result = await execute_action(
            session, page, SelectOption(element_id=country.id, option="United Kingdom")
        )
        assert (
            result.data == {"selected": {"label": "United Kingdom", "value": "gb"}} and await chosen() == "gb"
        )
        await run(session, page, SelectOption(element_id=country.id, option="fr"))
        assert await chosen() == "fr"
        await run(session, page, SelectOption(element_id=country.id, option="germany"))
        assert await chosen() == "de"
        missing = await execute_action(session, page, SelectOption(element_id=country.id, option="Spain"))
        assert not missing.success
        assert missing.error == (
            f"no option 'Spain' in {country.id}; available: Choose a country, France (fr), Germany (de), "
            "United Kingdom (gb), United States (us)"
        )
        assert 'value="de"' in find(await scrape(session.page), "name=country").to_line()

    async def test_checkboxes_radios_and_a_styled_checkbox(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        await session.goto(site.url("tricky/"))
        page = await scrape(session.page)
        news, red, fancy = find(page, "name=news"), find(page, 'value="red"'), find(page, "Fancy toggle")
        await run(
            session,
            page,
            Checkbox(element_id=news.id, checked=True),
            Checkbox(element_id=red.id, checked=True),
        )
        await run(session, page, Checkbox(element_id=fancy.id, checked=True))
        checked = await session.page.evaluate(
            "() => [...document.querySelectorAll('input:checked')].map(i => i.name + '=' + i.value)"
        )
        assert sorted(checked) == ["color=red", "fancy=on", "news=on"]
        await run(session, page, Checkbox(element_id=news.id, checked=False))
        assert not await session.page.is_checked("input[name=news]")
        refused = await execute_action(
            session, page, Checkbox(element_id=red.id, checked=False), timeout_ms=600
        )
        assert not refused.success and "uncheck" in refused.error

    async def test_click_falls_back_to_a_dom_click_when_covered(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        await session.goto(site.url("tricky/"))
        page = await scrape(session.page)
        target = find(page, "Click this div")
        await session.page.evaluate(  # a banner slides over the div after the scrape
            "() => { const o = document.createElement('div'); const r = document.getElementById('onclick-div')"
            ".getBoundingClientRect(); Object.assign(o.style, {position: 'fixed', left: r.left + 'px', top: r.top + 'px',"
            " width: r.width + 'px', height: r.height + 'px', background: 'red'}); document.body.appendChild(o); }"
        )
        result = await execute_action(session, page, Click(element_id=target.id), timeout_ms=600)
        assert result.success and result.data["fallback"] == "dom_click"
        assert await session.page.text_content("#onclick-div") == "div clicked"
        disabled = await execute_action(
            session, page, Click(element_id=find(page, "Delete account").id), timeout_ms=600
        )
        assert not disabled.success and disabled.error.endswith("is disabled")

    async def test_contenteditable_input(self, site: TestSite, session: BrowserSession) -> None:
        await session.goto(site.url("tricky/"))
        page = await scrape(session.page)
        await run(session, page, InputText(element_id=find(page, "contenteditable").id, text="New notes"))
        assert await session.page.inner_text("#editor") == "New notes"

    async def test_login_with_keypress_then_two_step_flow(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        await session.goto(site.url("login/"))
        page = await scrape(session.page)
        user, password = find(page, "name=username"), find(page, "name=password")
        await run(
            session,
            page,
            InputText(element_id=user.id, text="ada"),
            InputText(element_id=password.id, text="wrong"),
        )
        result = await execute_action(session, page, Keypress(element_id=password.id, keys=["ENTER"]))
        assert result.success and result.navigated
        page = await scrape(session.page)
        assert "Invalid username or password." in page.listing
        await run(
            session,
            page,
            InputText(element_id=find(page, "name=username").id, text="ada"),
            InputText(element_id=find(page, "name=password").id, text="lovelace"),
            Keypress(keys=["Return"], element_id=find(page, "name=password").id),
        )
        assert [s["fields"]["password"] for s in site.posts("/login/session")] == ["wrong", "lovelace"]
        page = await scrape(session.page)
        assert "Choose a plan" in page.listing
        await run(session, page, Checkbox(element_id=find(page, 'value="pro"').id, checked=True))
        await run(session, page, Click(element_id=find(page, "<button>Next").id))
        page = await scrape(session.page)
        assert "you chose the pro plan." in page.text
        await run(session, page, Click(element_id=find(page, "Confirm subscription").id))
        assert site.last("/login/confirm")["fields"] == {"plan": "pro"}
        assert "Your pro subscription is now active." in (await scrape(session.page)).text

    async def test_scroll_goto_back_wait_and_no_ops(self, site: TestSite, session: BrowserSession) -> None:
        await session.page.set_viewport_size({"width": 800, "height": 300})
        await session.goto(site.url("job/"))
        page = await scrape(session.page)
        await run(session, page, Scroll(direction="down"))
        assert await session.page.evaluate("scrollY") > 100
        await run(session, page, Scroll(direction="up"))
        assert await session.page.evaluate("scrollY") == 0

        moved = await execute_action(session, page, GotoUrl(url=site.url("table/")))
        assert moved.success and moved.navigated and session.page.url == site.url("table/")
        refused = await execute_action(session, page, GotoUrl(url="file:///etc/passwd"))
        assert (
            not refused.success and refused.error == "goto_url needs an http(s) URL, not 'file:///etc/passwd'"
        )
        back = await execute_action(session, page, GoBack())
        assert back.success and back.navigated and session.page.url == site.url("job/")

        waited = await execute_action(session, page, Wait(seconds=0.2))
        assert waited.success and 200 <= waited.duration_ms < 1500
        for action in (Complete(), Terminate(errors=[])):
            done = await execute_action(session, page, action)
            assert done.success and not done.navigated
