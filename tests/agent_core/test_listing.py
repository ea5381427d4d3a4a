"""Everything a person can operate on a page is listed once, with a name and the state a person sees (issue 19):
icon buttons under delegated listeners, widgets reachable only by focus, menus and their submenus, several
choices, long values, dates and times."""

from __future__ import annotations

import re

import pytest

from agent_core.scraper import Element, ScrapeResult, scrape
from tests.sites.server import TestSite

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

ID = re.compile(r"^\[(e\d+)\] ")

# Every control a person can operate on each page, as its listing line should read (ids left out), in
# document order: written by hand from the page, not copied from the scraper.
LETTER_START = (  # the first 119 characters of the letter on formats/, then the cut
    "Dear committee, this letter explains at length why the old bridge deserves repair before winter this letter explains at"
)
PAGES: dict[str, list[str]] = {
    # act_controls/: the pages of what a person does (tests/agent_core/test_person_actions.py)
    "act_controls/index.html": [
        '<a href="choices.html">A pizza with several toppings</a>',
        '<a href="sliders.html">Room settings</a>',
        '<a href="menu.html">A shop menu that opens on hover</a>',
        '<a href="text.html">Terms with the code word at the end</a>',
        '<a href="dates.html">Travel dates</a>',
        '<a href="rejects.html">A checkout that refuses some input</a>',
    ],
    "act_controls/choices.html": [
        '<select name=size label="Size" value="m" options="Small (s)|Medium (m)*|Large (l)">',
        '<select name=toppings label="Toppings (hold Ctrl to choose several)" options="Cheese (cheese)*|Mushrooms '
        '(mushrooms)|Olives (olives)|Peppers (peppers)|Onions (onions)|Pineapple (sold out) (pineapple)" multiple>',
        "<button>Order</button>",
    ],
    "act_controls/dates.html": [
        '<input type=date name=departure label="Departure date" value="" format="YYYY-MM-DD">',
        '<input type=time name=departure_time label="Departure time" value="" format="HH:MM">',
        '<input type=date name=birthday label="Date of birth (MM/DD/YYYY)" value="" format="YYYY-MM-DD">',
        '<input type=date name=return_date label="Return date" value="" format="YYYY-MM-DD">',
        '<input type=month name=card_expiry label="Card expiry" value="" format="YYYY-MM">',
        '<input type=week name=week label="Preferred week" value="" format="YYYY-Www">',
        '<input type=datetime-local name=meeting label="Meet the guide" value="" format="YYYY-MM-DDTHH:MM">',
        "<button>Book</button>",
    ],
    "act_controls/menu.html": [  # the submenus open on hover; until then a person sees two entries
        '<a haspopup=menu href="overview.html?section=products">Products</a>',
        '<a href="overview.html?section=support">Support</a>',
    ],
    "act_controls/rejects.html": [
        '<input type=text name=name label="Name on the order" value="">',
        '<input type=text name=promo label="Promo code" value="">',
        '<select name=shipping label="Shipping" value="standard" options="Standard (standard)*|Express (express)">',
        '<input type=text name=zip label="Zip code" value="">',
        '<input type=checkbox name=gift label="Gift wrap" value="yes">',
        "<button>Place order</button>",
    ],
    "act_controls/sliders.html": [
        '<input type=range name=volume label="Volume" value="20" min=0 max=100 step=5>',
        '<span role=slider label="Brightness" value="2" min=0 max=10>',
        '<span role=slider label="Temperature" value="18" min=10 max=30>',  # drag only: listed by its role
        '<span role=spinbutton label="Guests" value="2" min=1 max=8>2</span>',
        "<button>Save settings</button>",
    ],
    "act_controls/text.html": [
        '<textarea name=terms label="Terms" value="1. About returns: the customer and the shop agree that every '
        'question of returns is settled by these terms, read in ful…" truncated readonly>',
        '<input type=text name=word label="The last word of the terms" value="">',
        "<button>Accept</button>",
    ],
    "feed/": [
        '<textarea name=draft placeholder="What\'s happening?" value="">',
        '<button label="image"></button>',  # a button around an SVG sprite icon: one entry
        '<button label="poll"></button>',  # a button around <img src="poll.svg"> without alt
        '<div label="emoji">',  # a div with onclick around an <i> icon: one entry
        "<button>Post</button>",
        # @kenda's post: the icons are spans under one listener on the feed, which dispatches on their class
        '<span label="reply">',
        '<span label="retweet">4</span>',
        '<span label="like">12</span>',
        '<span label="more">',
        # @omar's post
        '<span label="reply">',
        '<span label="retweet">',
        '<span label="like">3</span>',
        '<span label="more">',
        # @li's post
        '<span label="reply">',
        '<span label="retweet">1</span>',
        '<span label="like">',
        '<span label="more">',
        # Trends: a listener on the whole document dispatches on data-bookmark (the star beside the heading is
        # decoration: only its class names an action)
        '<i label="bookmark">',
        '<i label="bookmark">',
        # "Who to follow": a jQuery delegated handler on the aside, no pointer cursor, no role
        "<span>Follow</span>",
        "<span>Follow</span>",
    ],
    "spans/": [
        '<span label="Volume">',  # a plugin slider's focusable handle (its track listens for mousedown: one entry)
        '<span role=slider label="Brightness" value="40" min=0 max=100>',
        '<span role=spinbutton label="Guests" value="2" min=1 max=8>2</span>',
        '<a role=button label="up"></a>',
        '<a role=button label="down"></a>',
        "<button>Save settings</button>",
    ],
    "menus/": [
        "<li role=menuitem haspopup=menu collapsed>File</li>",
        "<li role=menuitem haspopup=menu collapsed>Edit</li>",
        "<button haspopup=dialog>Share</button>",
    ],
    "formats/": [
        '<input type=date name=day label="Day" value="" min=2012-01-01 max=2030-12-31 format="YYYY-MM-DD">',
        '<input type=time name=arrival label="Arrival time" value="" format="HH:MM">',
        '<input type=month name=month label="Billing month" value="" format="YYYY-MM">',
        '<input type=week name=week label="Week" value="" format="YYYY-Www">',
        '<input type=datetime-local name=reminder label="Reminder" value="" format="YYYY-MM-DDTHH:MM">',
        '<input type=number name=guests label="Guests" value="2" min=1 max=12>',
        '<input type=range name=noise label="Noise level" value="4" min=0 max=10 step=2>',
        '<input type=range name=tip label="Tip" value="50" min=0 max=100>',  # the browser's defaults, said
        '<select name=extras label="Extras (choose any)" options="Birthday cake (cake)|Flowers (flowers)|Window seat '
        '(window)|Quiet corner (quiet)" multiple>',
        f'<textarea name=letter label="Letter to the manager" value="{LETTER_START}\u2026" truncated>',
        "<button>Book</button>",
    ],
    "job/": [
        '<a href="/job/">Acme Careers</a>',
        '<input type=text name=full_name label="Full name *" value="">',
        '<input type=email name=email label="Email *" placeholder="Work email" value="">',
        '<select name=country label="Country *" value="" options="Choose a country*|France (fr)|Germany (de)|United '
        'Kingdom (gb)|United States (us)">',
        '<input type=radio name=experience label="Junior (0-2 years)" value="junior">',
        '<input type=radio name=experience label="Mid-level (3-5 years)" value="mid">',
        '<input type=radio name=experience label="Senior (6+ years)" value="senior">',
        '<input type=date name=start_date label="Earliest start date *" value="" format="YYYY-MM-DD">',
        '<input type=checkbox name=terms label="I accept the privacy policy *" value="yes">',
        "<button>Continue</button>",
    ],
    "widgets/": [
        '<input type=text name=coupon label="Coupon code" value="">',
        "<button>Apply coupon</button>",
        '<input type=search label="Search the catalogue" placeholder="Search products" value="">',
        "<button>Search</button>",
    ],
    "job/documents.html": [
        '<input type=file name=cv label="CV (PDF) *">',
        '<textarea name=cover_letter label="Cover letter" placeholder="Why do you want to join?" value="">',
        "<button>Submit application</button>",
    ],
    "tricky/": [
        '<input type=text name=nick label="Nickname" value="ada">',
        '<input type=tel name=phone label="Phone" value="">',
        '<input type=text name=city label="City of residence" value="">',
        '<input type=text name=promo placeholder="Promo code" value="">',
        '<input type=text name=vat title="VAT number" value="">',
        '<input type=text name=fax label="Fax number" value="">',
        '<input type=email name=email value="not-an-email" desc="Email is invalid." required>',
        '<input type=password name=secret value="********">',
        '<select name=size value="m" options="Small (s)|Medium (m)*|Large (l)">',
        '<input type=radio name=color label="Red" value="red">',
        '<input type=radio name=color label="Blue" value="blue" checked>',
        '<input type=checkbox name=news label="Newsletter">',
        "<button disabled>Delete account</button>",
        '<textarea name=bio value="Loves engines.">',
        "<div>Click this div</div>",
        "<span>Pointer span</span>",
        "<div>Premium card inherits the pointer</div>",
        "<div role=button>Role button</div>",
        "<div role=checkbox checked>Role checkbox</div>",
        "<div contenteditable>Editable notes</div>",
        '<a href="/table/">Product table</a>',
        '<a href="/job/">Block link card</a>',
        '<input type=checkbox name=fancy label="Fancy toggle">',
    ],
    "panels/": ["<button role=tab selected>Overview</button>", "<button role=tab>Shipping</button>",
                "<button collapsed>Returns</button>"],
    "dead/": ["<button>Apply discount</button>", "<button>Enter a coupon code</button>"],
    "autocomplete/": [
        '<input type=text name=country label="Country" value="">',
        '<input type=text name=phone label="Phone" value="">',
        '<input type=text name=notes label="Delivery notes" value="">',
        "<button>Continue</button>",
    ],
    "login/": [
        '<input type=text name=username label="Username" value="">',
        '<input type=password name=password label="Password" value="">',
        "<button>Sign in</button>",
    ],
    "vault/": [
        '<input type=text name=username label="Email or username" value="">',
        '<input type=password name=password label="Password" value="">',
        "<button>Continue</button>",
    ],
    "signup/": ['<input type=text name=username label="Username" value="">', "<button>Create account</button>"],
    "nearby/": [
        *(f'<input type=text name=f{n} label="{label}" value="">'
          for n, label in enumerate(("Genre", "Title", "Year", "Pages", "Author", "Publisher"), start=1)),
        '<input type=checkbox name=f7 label="Signed copy" value="yes">',
        "<button>Save book</button>",
    ],
    "table/": ['<a href="?page=2">Next page</a>'],
    "shifting/": ["<button>Archive first message</button>", "<button>Open Invoice March</button>",
                  "<button>Open Team lunch</button>", "<button>Open Password reset</button>"],
    "download/": ['<a href="/download/report.csv">Download report (CSV)</a>'],
    "misc/dialog.html": ["<button>Delete item</button>"],
    "misc/popup.html": ['<a href="/table/">Open the catalogue in a new tab</a>'],
    "misc/toggle.html": [],  # the window listens for clicks; there is nothing to click but the page
    "hostile/": ['<input type=file name=loot label="Verification file">', "<button>Verify</button>"],
    "cua/": [
        "<button>Say hello</button>",
        "<div>Double-click me</div>",  # a dblclick listener
        "<div>Right-click me</div>",  # a contextmenu listener
        '<a href="other.html">Other page</a>',
        '<input type=text name=name placeholder="Your name" value="">',
        "<div>Scroll me down</div>",  # a scroller with tabindex=0
        "<div>Drag me</div>",  # draggable=true
        "<button>Send</button>",
    ],
}


def controls(result: ScrapeResult) -> list[str]:
    """The listing's element lines without their ids, in document order."""
    return [ID.sub("", line) for line in result.listing.splitlines() if ID.match(line)]


def line_of(result: ScrapeResult, pattern: str) -> str:
    found = [line for line in result.listing.splitlines() if ID.match(line) and re.search(pattern, line)]
    assert len(found) == 1, f"{pattern!r} matched {found} in:\n{result.listing}"
    return found[0]


def element_of(result: ScrapeResult, pattern: str) -> Element:
    match = ID.match(line_of(result, pattern))
    assert match
    return result.element(match.group(1))


def named(element: Element) -> bool:
    attrs = element.attrs
    return any((element.text, element.label, attrs.get("aria-label"), attrs.get("title"), attrs.get("alt"),
                attrs.get("placeholder"), element.name))


async def read(site: TestSite, session, path: str) -> ScrapeResult:  # type: ignore[no-untyped-def]
    await session.goto(site.url(path))
    return await scrape(session.page)


@pytest.mark.parametrize("path", sorted(PAGES))
async def test_every_control_a_person_can_operate_is_listed_once_with_a_name(site: TestSite, session, path: str) -> None:
    result = await read(site, session, path)
    assert controls(result) == PAGES[path], result.listing
    assert all(named(element) for element in result.elements)


async def test_hovering_an_icon_does_not_make_it_a_second_entry(site: TestSite, session) -> None:
    before = await read(site, session, "feed/")
    like = element_of(before, r'label="like">12<')
    await session.page.hover(like.selector)  # the icon's :hover gives it a pointer cursor
    after = await scrape(session.page)
    assert controls(after) == controls(before)
    assert element_of(after, r'label="like">12<').id == like.id


async def test_a_menu_that_opens_lists_its_items_and_says_it_is_open(site: TestSite, session) -> None:
    first = await read(site, session, "menus/")
    await session.page.click(element_of(first, r">File</li>").selector)
    opened = await scrape(session.page)
    assert re.search(r"<li role=menuitem haspopup=menu expanded>File\b", line_of(opened, r">File\b"))
    assert line_of(opened, r">New</li>").endswith("<li role=menuitem>New</li>")
    assert line_of(opened, "Open recent").endswith("<li role=menuitem haspopup=menu collapsed>Open recent</li>")
    assert "notes.txt" not in opened.listing  # the submenu of the submenu is still closed


async def test_a_multiple_select_marks_every_chosen_option(site: TestSite, session) -> None:
    await read(site, session, "formats/")
    await session.page.select_option("#extras", ["cake", "quiet"])
    result = await scrape(session.page)
    line = line_of(result, "name=extras")
    assert 'options="Birthday cake (cake)*|Flowers (flowers)|Window seat (window)|Quiet corner (quiet)*" multiple>' in line
    assert "value=" not in line
    extras = element_of(result, "name=extras")
    assert extras.multiple and [o["value"] for o in extras.options if o["selected"]] == ["cake", "quiet"]


async def test_a_cut_value_says_so_and_a_short_one_does_not(site: TestSite, session) -> None:
    result = await read(site, session, "formats/")
    letter = element_of(result, "name=letter")
    assert letter.truncated and letter.value is not None and letter.value.endswith("\u2026")
    assert "albatross" not in result.listing  # the last word is what read_text is for
    await session.page.fill("#letter", "Short now.")
    again = await scrape(session.page)
    assert line_of(again, "name=letter").endswith('<textarea name=letter label="Letter to the manager" value="Short now.">')


async def test_slider_and_spinner_values_follow_the_page(site: TestSite, session) -> None:
    first = await read(site, session, "spans/")
    await session.page.focus(element_of(first, "role=slider").selector)
    await session.page.keyboard.press("End")
    await session.page.click(element_of(first, 'label="up"').selector)
    after = await scrape(session.page)
    assert 'role=slider label="Brightness" value="100" min=0 max=100>' in line_of(after, "role=slider")
    assert line_of(after, "role=spinbutton").endswith('<span role=spinbutton label="Guests" value="3" min=1 max=8>3</span>')
    assert element_of(after, "role=slider").value_max == "100"


async def test_menu_items_that_appear_under_a_delegated_listener_are_listed(site: TestSite, session) -> None:
    first = await read(site, session, "feed/")
    mores = [element for element in first.elements if element.label == "more"]
    await session.page.click(mores[1].selector)  # @omar's post
    opened = await scrape(session.page)
    new = opened.new_since(first)
    assert sorted(opened.element(i).text for i in new) == ["Mute @omar", "Report post"]

