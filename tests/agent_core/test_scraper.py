"""The DOM scraper on real pages: what the listing says about each kind of element, and what it leaves out."""

from __future__ import annotations

import re

import pytest
import pytest_asyncio

from agent_core.actions import Click, InputText, execute_action
from agent_core.errors import InvalidModelOutputError
from agent_core.scraper import Element, ScrapeResult, locator_for, scrape
from tests.sites.server import TestSite

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


def line_of(result: ScrapeResult, pattern: str) -> str:
    """The one listing line matching `pattern` (a regex over the line after its id)."""
    found = [line for line in result.listing.splitlines() if re.search(pattern, line)]
    assert len(found) == 1, f"{pattern!r} matched {found} in:\n{result.listing}"
    return found[0]


def by_line(result: ScrapeResult, pattern: str) -> Element:
    line = line_of(result, pattern)
    match = re.match(r"^\[(e\d+)\] ", line)
    assert match, line
    return result.element(match.group(1))


@pytest_asyncio.fixture(loop_scope="session")
async def tricky(site: TestSite, session) -> ScrapeResult:
    await session.goto(site.url("tricky/"))
    return await scrape(session.page)


async def test_labels_of_every_flavour(tricky: ScrapeResult) -> None:
    assert re.fullmatch(
        r'\[e\d+\] <input type=text name=nick label="Nickname" value="ada">', line_of(tricky, "name=nick")
    )
    assert line_of(tricky, "name=phone").endswith(
        '<input type=tel name=phone label="Phone" value="">'
    )  # wrapping
    assert 'label="City of residence"' in line_of(tricky, "name=city")  # aria-labelledby
    assert line_of(tricky, "name=promo").endswith(
        '<input type=text name=promo placeholder="Promo code" value="">'
    )
    assert line_of(tricky, "name=vat").endswith('<input type=text name=vat title="VAT number" value="">')
    assert 'label="Fax number"' in line_of(tricky, "name=fax")  # aria-label
    # aria-describedby carries the error message next to the input; passwords never leak.
    assert line_of(tricky, "name=email").endswith(
        '<input type=email name=email value="not-an-email" desc="Email is invalid." required>'
    )
    assert 'value="********"' in line_of(tricky, "name=secret") and "hunter2" not in tricky.listing


async def test_states(tricky: ScrapeResult) -> None:
    assert line_of(tricky, "name=size").endswith(
        '<select name=size value="m" options="Small (s)|Medium (m)*|Large (l)">'
    )
    assert line_of(tricky, 'value="blue"').endswith(
        '<input type=radio name=color label="Blue" value="blue" checked>'
    )
    assert line_of(tricky, 'value="red"').endswith('<input type=radio name=color label="Red" value="red">')
    assert line_of(tricky, "name=news").endswith('<input type=checkbox name=news label="Newsletter">')
    assert line_of(tricky, "Delete account").endswith("<button disabled>Delete account</button>")
    assert line_of(tricky, "name=bio").endswith('<textarea name=bio value="Loves engines.">')
    assert line_of(tricky, "Role checkbox").endswith("<div role=checkbox checked>Role checkbox</div>")
    select = by_line(tricky, "name=size")
    assert select.value == "m"
    assert [o["value"] for o in select.options if o["selected"]] == ["m"]


async def test_clickables_without_button_semantics(tricky: ScrapeResult) -> None:
    assert by_line(tricky, "Click this div").kind == "onclick"
    assert by_line(tricky, "Pointer span").kind == "pointer"
    assert by_line(tricky, "Role button").text == "Role button"
    assert line_of(tricky, "Editable notes").endswith("<div contenteditable>Editable notes</div>")
    assert line_of(tricky, "Product table").endswith('<a href="/table/">Product table</a>')
    assert line_of(tricky, "Block link card").endswith('<a href="/job/">Block link card</a>')
    # The card is one element: its children merely inherit the pointer cursor.
    card = by_line(tricky, "Premium card")
    assert card.text == "Premium card inherits the pointer"
    assert not any(e.tag in ("span", "strong") and "inherits" in e.text for e in tricky.elements)


async def test_custom_checkbox_is_reached_through_its_label(tricky: ScrapeResult) -> None:
    fancy = by_line(tricky, "Fancy toggle")
    assert fancy.tag == "label" and fancy.input_type == "checkbox" and fancy.checked is False
    assert line_of(tricky, "Fancy toggle").endswith('<input type=checkbox name=fancy label="Fancy toggle">')


async def test_hidden_and_covered_elements_are_skipped(tricky: ScrapeResult) -> None:
    for absent in (
        "Hidden by display",
        "Hidden by visibility",
        "Zero size",
        "Off screen",
        "Covered button",
        "hidden-child",
        "csrf",
        "Screen reader only",
    ):
        assert absent not in tricky.listing, absent
        assert absent not in tricky.text, absent


async def test_context_lines_keep_document_order(tricky: ScrapeResult) -> None:
    lines = tricky.listing.splitlines()
    assert lines[:2] == ["Account settings", "Update your details below."]
    assert lines.index("Email is invalid.") < lines.index(line_of(tricky, "name=email"))
    assert lines[-2:] == ["Plan | Price", "Basic | 5 EUR"]
    # Label words sit on their control's line, not twice.
    assert "Nickname" not in lines and "Newsletter" not in lines
    assert tricky.title == "Tricky DOM" and tricky.url.endswith("/tricky/")
    assert 'data-lookout-id="e1"' in tricky.html


async def test_every_element_resolves_to_exactly_one_node(session, tricky: ScrapeResult) -> None:
    for element in tricky.elements:
        assert await locator_for(session.page, element).count() == 1, element.id
        assert await session.page.get_attribute(element.selector, "data-lookout-id") == element.id


async def test_ids_are_stable_across_scrapes(session, tricky: ScrapeResult) -> None:
    again = await scrape(session.page)
    assert again.listing == tricky.listing
    # A new element at the top gets a fresh id; everything else keeps its own.
    await session.page.evaluate(
        "() => { const b = document.createElement('button'); b.textContent = 'Brand new';"
        " document.body.prepend(b); }"
    )
    changed = await scrape(session.page)
    assert changed.elements[0].text == "Brand new"
    assert changed.elements[0].id == f"e{len(tricky.elements) + 1}"
    assert [(e.id, e.text, e.name) for e in changed.elements[1:]] == [
        (e.id, e.text, e.name) for e in tricky.elements
    ]


async def test_unknown_id_is_a_model_error(tricky: ScrapeResult) -> None:
    with pytest.raises(InvalidModelOutputError, match="unknown element id 'e999'"):
        tricky.element("e999")


async def test_job_page_listing(site: TestSite, session) -> None:
    await session.goto(site.url("job/"))
    result = await scrape(session.page)
    assert result.listing.splitlines()[1:4] == [
        "Backend Engineer",
        "Step 1 of 2: tell us about yourself. Fields marked * are required.",
        '[e2] <input type=text name=full_name label="Full name *" value="">',
    ]
    assert (
        '[e3] <input type=email name=email label="Email *" placeholder="Work email" value="">'
        in result.listing
    )
    assert (
        '[e9] <input type=checkbox name=terms label="I accept the privacy policy *" value="yes">'
        in result.listing
    )
    assert result.listing.endswith("[e10] <button>Continue</button>")


async def test_table_text_keeps_rows(site: TestSite, session) -> None:
    await session.goto(site.url("table/"))
    result = await scrape(session.page)
    assert "Widget | 9.99 EUR | 12\nGadget | 24.50 EUR | 0" in result.text
    assert "Thingamajig | 120.00 EUR | 3" in result.listing


async def test_iframe_and_shadow_elements_are_listed_and_usable(site: TestSite, session) -> None:
    await session.goto(site.url("widgets/"))
    result = await scrape(session.page)
    coupon = by_line(result, "name=coupon")
    assert coupon.frame_path == (0,) and coupon.label == "Coupon code"
    search = by_line(result, 'placeholder="Search products"')
    assert search.in_shadow and search.label == "Search the catalogue"

    assert (await execute_action(session, result, InputText(element_id=search.id, text="lamp"))).success
    go = by_line(result, r"<button>Search</button>")
    assert (await execute_action(session, result, Click(element_id=go.id))).success
    assert site.last("/widgets/shadow-submit")["fields"] == {"q": "lamp"}

    assert (await execute_action(session, result, InputText(element_id=coupon.id, text="SPRING24"))).success
    apply = by_line(result, "Apply coupon")
    assert (await execute_action(session, result, Click(element_id=apply.id))).success
    assert site.last("/widgets/frame-submit")["fields"] == {"coupon": "SPRING24"}
    after = await scrape(session.page)
    assert "Coupon applied: SPRING24" in after.text


async def test_a_form_an_iframe_submits_a_moment_later_is_awaited(site: TestSite, session) -> None:
    # Inside a same-origin iframe the click starts a timer that submits the form 250 ms later: the main page
    # is quiet all along, so only settling the touched frame (its timer, then its navigation) sees it.
    await session.goto(site.url("widgets/slow.html"))
    result = await scrape(session.page)
    coupon = by_line(result, "name=coupon")
    assert (await execute_action(session, result, InputText(element_id=coupon.id, text="AUTUMN9"))).success
    outcome = await execute_action(session, result, Click(element_id=by_line(result, "Apply coupon").id))
    assert outcome.success and outcome.settled
    assert site.last("/widgets/frame-submit")["fields"] == {"coupon": "AUTUMN9"}
    assert "Coupon applied: AUTUMN9" in (await scrape(session.page)).text


async def test_what_a_new_page_renders_once_loaded_is_in_the_next_listing(site: TestSite, session) -> None:
    # The page a click led to renders after its load event: a scheduler's task, then a fetch's answer.
    await session.goto(site.url("afterload/"))
    result = await scrape(session.page)
    outcome = await execute_action(session, result, Click(element_id=by_line(result, "My account").id))
    assert outcome.success and outcome.navigated and outcome.settled
    after = await scrape(session.page)
    assert "Welcome back, Ada" in after.text
    assert "<button>Track order 1042</button>" in after.listing


async def test_a_page_cannot_replace_the_installed_scraper(site: TestSite, session) -> None:
    # The scraper is installed in every document before the page's scripts, neither writable nor configurable.
    await session.goto(site.url("hostile/forged-scraper.html"))
    result = await scrape(session.page)
    assert result.title == "Forged scraper" and result.url.endswith("/hostile/forged-scraper.html")
    assert "<button>Send money</button>" in result.listing


async def test_cross_origin_iframe(site: TestSite, session) -> None:
    await session.goto(site.url("tricky/xorigin.html"))
    await session.page.frame_locator("#partner").locator("#coupon").wait_for()
    result = await scrape(session.page)
    coupon = by_line(result, "name=coupon")
    assert coupon.frame_path == (0,)
    assert len({e.id for e in result.elements}) == len(result.elements) == 3
    assert (await execute_action(session, result, InputText(element_id=coupon.id, text="XO"))).success
    assert (
        await execute_action(session, result, Click(element_id=by_line(result, "Apply coupon").id))
    ).success
    assert site.last("/widgets/frame-submit")["fields"] == {"coupon": "XO"}
    # The next scrape continues the numbering instead of reusing the frame's ids.
    again = await scrape(session.page)
    assert len({e.id for e in again.elements}) == len(again.elements)


async def test_late_content_shows_up_on_a_later_scrape(site: TestSite, session) -> None:
    await session.goto(site.url("delayed/"))
    early = await scrape(session.page)
    assert "Accept quote" not in early.listing and "Loading, please wait..." in early.listing
    await session.page.get_by_role("button", name="Accept quote").wait_for()  # the site's own ~1 s delay
    late = await scrape(session.page)
    button = by_line(late, "Accept quote")
    assert (await execute_action(session, late, Click(element_id=button.id))).success
    assert site.last("/delayed/accept")["fields"] == {"accepted": "yes"}


async def test_fields_without_a_name_are_labelled_by_the_text_near_them(site: TestSite, session) -> None:
    await session.goto(site.url("nearby/"))
    page = await scrape(session.page)
    # after the field in its wrapper, before it, beside it in a shared row, in the cell to its left, above it
    for name, label in [("f1", "Genre"), ("f2", "Title"), ("f3", "Year"), ("f4", "Pages"), ("f5", "Author"),
                        ("f6", "Publisher")]:
        assert line_of(page, f"name={name} ").endswith(f'<input type=text name={name} label="{label}" value="">')
    assert line_of(page, "name=f7").endswith('<input type=checkbox name=f7 label="Signed copy" value="yes">')
    # a named field keeps its name; a button's text is its name
    await session.goto(site.url("signup/"))
    signup = await scrape(session.page)
    assert line_of(signup, "name=username").endswith('<input type=text name=username label="Username" value="">')
    assert line_of(signup, "<button").endswith("<button>Create account</button>")


async def test_new_elements_are_marked_and_focus_is_reported(site: TestSite, session) -> None:
    await session.goto(site.url("dead/"))
    first = await scrape(session.page)
    await session.page.click("#coupon")
    await session.page.focus("#code")
    second = await scrape(session.page)
    new = second.new_since(first)
    assert {second.element(i).name or second.element(i).text for i in new} == {"code", "Redeem"}
    marked = second.marked_listing(new)
    assert "(new) <input type=text name=code" in marked and "(new) <button" in marked
    assert "(new)" not in second.listing and marked.count("(new)") == 2
    assert second.focused == by_line(second, "name=code").id and first.focused is None
    assert second.doc_token == first.doc_token
