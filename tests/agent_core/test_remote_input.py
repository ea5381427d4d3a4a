"""A person's input replayed on the agent's page (real Chromium, the local login site), and the coalesced
record of what they did: one entry per field typed into, clicks naming their element, passwords masked."""

from __future__ import annotations

import pytest

from agent_core.browser import BrowserSession
from agent_core.browser.remote_input import InputRejected, RemoteInput, describe, summarize
from agent_core.control import LocalControl
from agent_core.errors import RunTerminatedError
from agent_core.types import HumanHelp, HumanReply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def center_of(session: BrowserSession, selector: str) -> tuple[float, float]:
    """The element's centre as fractions of the viewport (what a viewer's click on the frame sends)."""
    box = await session.page.locator(selector).bounding_box()
    assert box is not None
    width, height = session.live_view_size()
    return (box["x"] + box["width"] / 2) / width, (box["y"] + box["height"] / 2) / height


async def click(remote: RemoteInput, x: float, y: float, clicks: int = 1) -> None:
    await remote.apply({"t": "move", "x": x, "y": y})
    for n in range(1, clicks + 1):
        await remote.apply({"t": "down", "x": x, "y": y, "button": "left", "clicks": n})
        await remote.apply({"t": "up", "x": x, "y": y, "button": "left", "clicks": n})


async def type_keys(remote: RemoteInput, text: str) -> None:
    for char in text:
        await remote.apply({"t": "keydown", "key": char})
        await remote.apply({"t": "keyup", "key": char})


async def test_clicks_and_typing_reach_the_page_and_are_recorded_coalesced(site, session):
    await session.goto(site.url("/login/"))
    remote = RemoteInput(session)
    await click(remote, *await center_of(session, "#username"))
    await type_keys(remote, "adx")
    await remote.apply({"t": "keydown", "key": "Backspace"})
    await remote.apply({"t": "keyup", "key": "Backspace"})
    await type_keys(remote, "a")
    await remote.apply({"t": "keydown", "key": "Tab"})  # focus moves on to the password by keyboard
    await remote.apply({"t": "keyup", "key": "Tab"})
    await type_keys(remote, "love")
    await remote.apply({"t": "paste", "text": "lace"})
    await click(remote, *await center_of(session, "button[type=submit]"))
    await session.page.wait_for_url("**/login/plans.html")
    actions = remote.finish()
    await remote.close()

    assert site.last("/login/session")["fields"] == {"username": "ada", "password": "lovelace"}
    texts = [a.text for a in actions]
    assert texts == [
        'clicked the text field "Username"',
        'typed "ada" into the text field "Username"',
        "pressed Tab",
        'typed •••••• into the password field "Password"',
        'clicked the button "Sign in"',
        f"went to {site.url('/login/plans.html')}",
    ]
    assert "lovelace" not in " ".join(texts)
    note = summarize(actions, by="ops")
    assert note.startswith("A person (ops) had control of the browser") and "lovelace" not in note


async def test_double_click_drag_wheel_and_key_combos(site, session):
    await session.page.set_content(
        "<input id=f value='hello world' style='width:300px'>"
        "<div style='height:3000px'>tall</div>"
    )
    remote = RemoteInput(session)
    x, y = await center_of(session, "#f")
    await click(remote, x, y, clicks=2)
    await remote.apply({"t": "keydown", "key": "Control"})
    await remote.apply({"t": "keydown", "key": "a"})
    await remote.apply({"t": "keyup", "key": "a"})
    await remote.apply({"t": "keyup", "key": "Control"})
    selected = await session.page.evaluate("() => { const f = document.getElementById('f'); return f.value.slice(f.selectionStart, f.selectionEnd) }")
    assert selected == "hello world"
    await remote.apply({"t": "wheel", "x": 0.5, "y": 0.5, "dx": 0, "dy": 400})
    await remote.apply({"t": "wheel", "x": 0.5, "y": 0.5, "dx": 0, "dy": 200})
    await session.page.wait_for_function("() => window.scrollY >= 600")
    # a drag: press, move, release far away
    await remote.apply({"t": "down", "x": 0.1, "y": 0.1, "button": "left", "clicks": 1})
    await remote.apply({"t": "move", "x": 0.3, "y": 0.3})
    await remote.apply({"t": "up", "x": 0.3, "y": 0.3, "button": "left", "clicks": 1})
    kinds = [a.kind for a in remote.finish()]
    assert kinds == ["double_click", "key", "scroll", "drag"]
    with pytest.raises(InputRejected):
        await remote.apply({"t": "teleport"})
    with pytest.raises(InputRejected):
        await remote.apply({"t": "down", "x": "left", "y": 1})
    await remote.close()


async def test_describe_names_elements():
    assert describe({"tag": "button", "text": "Go"}) == 'the button "Go"'
    assert describe({"tag": "input", "type": "password", "label": "Password"}) == 'the password field "Password"'
    assert describe({"tag": "a", "text": "Plans"}) == 'the link "Plans"'
    assert describe(None) == "the page"


async def test_local_control_asks_a_person_and_is_parked_meanwhile():
    import asyncio

    control = LocalControl()
    assert isinstance(control, HumanHelp)
    asking = asyncio.ensure_future(control.ask_human("Which plan?"))
    await asyncio.sleep(0)
    assert control.parked and control.awaiting_input and control.pending_question == "Which plan?"
    control.answer(HumanReply(answer="pro", by="ops"))
    assert (await asking).answer == "pro"
    assert not control.parked
    control.add_note("note one")
    assert control.take_notes() == ["note one"] and control.take_notes() == []
    asking = asyncio.ensure_future(control.ask_human("Still there?"))
    await asyncio.sleep(0)
    control.terminate("bye")
    with pytest.raises(RunTerminatedError):
        await asking
