"""BrowserManager and BrowserSession against real Chromium and the local sites."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from agent_core.actions import Click, execute_action
from agent_core.browser import BrowserManager, find_chromium, jpeg_size, proxy_settings, validate_start_url
from agent_core.browser.session import video_size
from agent_core.errors import BrowserError, InvalidTaskError
from agent_core.scraper import scrape
from agent_core.types import Frame
from tests.agent_core.conftest import TEST_BROWSER_CONFIG
from tests.sites.server import TestSite


def image_size(data: bytes) -> tuple[int, int]:
    """Size of a PNG or a JPEG (screenshots are JPEG by default, PNG with screenshot_quality=None)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    size = jpeg_size(data)
    assert size is not None, "neither PNG nor JPEG"
    return size


# ---- no browser needed -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "chrome://settings",
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://example.com/",
        "http://",
        "example.com",
        "",
    ],
)
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidTaskError, match=r"^task URL must be http\(s\): "):
        validate_start_url(url)


def test_http_urls_pass_stripped() -> None:
    assert validate_start_url("  https://example.com/a?b=1 ") == "https://example.com/a?b=1"
    assert validate_start_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_find_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LOOKOUT_CHROMIUM", raising=False)
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    assert Path(find_chromium()).name.startswith(("chromium", "google-chrome"))
    with pytest.raises(BrowserError, match="not found or not executable"):
        find_chromium(str(tmp_path / "nope"))
    monkeypatch.setenv("LOOKOUT_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(BrowserError, match=r"\$LOOKOUT_CHROMIUM points at"):
        find_chromium()


# ---- real browser -----------------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_goto_and_screenshot(site: TestSite, session) -> None:
    await session.goto(site.url("table/"))
    assert await session.page.title() == "Products"
    shot = await session.screenshot()
    assert shot[:3] == b"\xff\xd8\xff" and image_size(shot) == (1280, 800)
    width, height = image_size(await session.screenshot(full_page=True))
    assert width == 1280 and height >= 800


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_goto_refuses_non_http(session) -> None:
    with pytest.raises(InvalidTaskError, match=r"task URL must be http\(s\): 'file:///etc/passwd'"):
        await session.goto("file:///etc/passwd")
    assert session.page.url == "about:blank"


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_navigation_timeout_is_a_quick_browser_error(
    site: TestSite, browser_manager: BrowserManager
) -> None:
    config = replace(TEST_BROWSER_CONFIG, navigation_timeout_ms=1_000)
    async with await browser_manager.new_session(config=config) as slow_session:
        started = time.monotonic()
        url = site.url("slow?seconds=20")
        with pytest.raises(BrowserError) as caught:
            await slow_session.goto(url)
        assert str(caught.value) == f"navigation to {url} timed out after 1 s"
        assert time.monotonic() - started < 3


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_unreachable_host_is_a_browser_error(session) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    with pytest.raises(BrowserError) as caught:
        await session.goto(url)
    assert str(caught.value) == f"navigation to {url} failed: net::ERR_CONNECTION_REFUSED"


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_crashed_page_raises_instead_of_hanging(site: TestSite, session) -> None:
    await session.goto(site.url("table/"))
    cdp = await session.context.new_cdp_session(session.page)
    crashed = asyncio.ensure_future(session.page.wait_for_event("crash", timeout=5_000))
    crash_call = asyncio.ensure_future(cdp.send("Page.crash"))  # never answered: the renderer is gone
    await crashed
    crash_call.cancel()
    with pytest.raises(BrowserError, match="^page crashed$"):
        await session.screenshot()


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_closed_page_raises(site: TestSite, session) -> None:
    await session.goto(site.url("table/"))
    await session.page.close()
    with pytest.raises(BrowserError, match="^page was closed$"):
        await session.screenshot()
    with pytest.raises(BrowserError, match="^page was closed$"):
        await session.goto(site.url("table/"))


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_click_opening_a_tab_switches_the_active_page(site: TestSite, session) -> None:
    await session.goto(site.url("misc/popup.html"))
    opener = session.page
    page_state = await scrape(session.page)
    link = next(e for e in page_state.elements if e.tag == "a")
    result = await execute_action(session, page_state, Click(element_id=link.id))
    assert result.success and result.navigated
    assert session.page is not opener
    assert session.page.url == site.url("table/")
    assert await session.page.title() == "Products"
    # Closing the new tab falls back to the opener.
    await session.page.close()
    assert session.page is opener


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_goto_a_download_url_saves_the_file(site: TestSite, session) -> None:
    await session.goto(site.url("download/report.csv"))
    saved = await session.wait_for_downloads(since=0)
    assert [p.name for p in saved] == ["report.csv"]
    assert session.downloads == saved


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_screencast_streams_jpeg_frames(site: TestSite, browser_manager: BrowserManager) -> None:
    frames: list[Frame] = []
    enough = asyncio.Event()

    async def on_frame(frame: Frame) -> None:
        frames.append(frame)
        if len(frames) >= 3:
            enough.set()

    async with await browser_manager.new_session(on_frame=on_frame) as live:
        await live.goto(site.url("misc/animate.html"))
        await live.start_screencast()
        await asyncio.wait_for(enough.wait(), timeout=10)
        await live.stop_screencast()
    for frame in frames[:3]:
        assert frame.data[:3] == b"\xff\xd8\xff"  # JPEG
        assert jpeg_size(frame.data) == (frame.width, frame.height)
        assert 0 < frame.width <= 1280 and 0 < frame.height <= 800


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_slow_frame_consumer_never_blocks_the_agent(
    site: TestSite, browser_manager: BrowserManager
) -> None:
    """Latest-wins: while on_frame is stuck, the agent goes on and frames are dropped, not queued."""
    release = asyncio.Event()
    first_frame = asyncio.Event()
    calls = 0

    async def stuck(frame: Frame) -> None:
        nonlocal calls
        calls += 1
        first_frame.set()
        await release.wait()

    async with await browser_manager.new_session(on_frame=stuck) as live:
        await live.goto(site.url("misc/animate.html"))
        await live.start_screencast()
        await asyncio.wait_for(first_frame.wait(), timeout=10)
        started = time.monotonic()
        await live.goto(site.url("table/"))
        await scrape(live.page)
        await live.screenshot()
        assert time.monotonic() - started < 5
        assert calls == 1  # everything since waits as one latest frame
        release.set()
        await live.stop_screencast()


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_recordings_are_returned_on_close(
    site: TestSite, browser_manager: BrowserManager, tmp_path: Path
) -> None:
    config = replace(
        TEST_BROWSER_CONFIG, video_dir=str(tmp_path / "video"), har_path=str(tmp_path / "run.har"), trace=True
    )
    recorded = await browser_manager.new_session(config=config)
    await recorded.goto(site.url("table/"))
    outputs = await recorded.close()
    assert set(outputs) >= {"har", "trace"}  # video too when an ffmpeg is available
    for path in outputs.values():
        assert path.is_file() and path.stat().st_size > 0
    assert "table/" in outputs["har"].read_text()
    assert await recorded.close() == {}


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_video_is_vp8_at_a_reduced_size_and_plays(
    site: TestSite, browser_manager: BrowserManager, tmp_path: Path
) -> None:
    """The ffmpeg wrapper records VP8 (a fraction of VP9's encoder memory) and the frame fits 800 pixels."""
    assert shutil.which("ffprobe"), "ffmpeg is a system dependency (make system-deps)"
    config = replace(TEST_BROWSER_CONFIG, video_dir=str(tmp_path / "video"), viewport_width=1280, viewport_height=800)
    recorded = await browser_manager.new_session(config=config)
    await recorded.goto(site.url("misc/animate.html"))
    await recorded.screenshot()
    video = (await recorded.close())["video"]
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-of", "json",
         "-show_entries", "stream=codec_name,width,height,nb_read_frames", str(video)],
        capture_output=True, text=True, check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("vp8", 800, 500)
    assert int(stream["nb_read_frames"]) >= 1  # decodes: the dashboard's player can show it


def test_video_size_fits_800_pixels_with_even_sides() -> None:
    assert video_size(1280, 800) == {"width": 800, "height": 500}
    assert video_size(1000, 1999) == {"width": 400, "height": 800}
    assert video_size(640, 480) == {"width": 640, "height": 480}  # never scaled up


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_user_agent_and_extra_headers_reach_the_server(
    site: TestSite, browser_manager: BrowserManager
) -> None:
    config = replace(
        TEST_BROWSER_CONFIG, user_agent="LookoutTest/1.0", extra_headers={"X-Lookout-Task": "42"}
    )
    async with await browser_manager.new_session(config=config) as custom:
        await custom.goto(site.url("echo"))
        headers = json.loads(await custom.page.inner_text("body"))
    assert headers["user-agent"] == "LookoutTest/1.0"
    assert headers["x-lookout-task"] == "42"


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_dialogs_are_accepted_and_recorded(site: TestSite, session) -> None:
    await session.goto(site.url("misc/dialog.html"))
    page_state = await scrape(session.page)
    result = await execute_action(session, page_state, Click(element_id=page_state.elements[0].id))
    assert result.success
    assert await session.page.title() == "deleted"
    assert session.dialogs == ["confirm: Delete this item?"]


def test_proxy_credentials_are_split_out() -> None:
    assert proxy_settings("http://127.0.0.1:3128") == {"server": "http://127.0.0.1:3128"}
    assert proxy_settings("http://bob:s%40cret@proxy.local:8080") == {
        "server": "http://proxy.local:8080",
        "username": "bob",
        "password": "s@cret",
    }


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_page_watcher_keeps_bare_listener_calls_working(site: TestSite, session) -> None:
    """The watcher (installed before page scripts) wraps addEventListener; a page script's bare
    `addEventListener("keydown", f)` calls it with no receiver, which must still mean the window and must
    not throw (it did: "Invalid value used in weak set", and the page never heard a key)."""
    errors: list[str] = []
    session.page.on("pageerror", lambda error: errors.append(str(error)))
    await session.goto(site.url("misc/toggle.html"))
    await session.page.keyboard.press("a")
    assert await session.page.evaluate("document.body.style.background") == "rgb(255, 255, 255)"
    assert await session.page.evaluate("window.__lookoutWatch.docKeys") is True
    assert errors == []


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_settling_reads_the_checked_element_in_the_same_round_trip(site: TestSite, session) -> None:
    """A check after an action reads its element at the end of settling (Settled.read): [what the script
    returned], [None] when the element is gone, None when the script threw (the check then reads it itself)."""
    await session.goto(site.url("replay/"))
    await session.page.fill("#fn", "Grace Hopper")
    since = time.time()
    settled = await session.wait_for_settle(500, since=since, probe=("#fn", "el => el.value"))
    assert settled.quiet and settled.read == ["Grace Hopper"]
    gone = await session.wait_for_settle(500, since=since, probe=("#no-such-field", "el => el.value"))
    assert gone.read == [None]
    threw = await session.wait_for_settle(500, since=since, probe=("#fn", "el => el.no.such"))
    assert threw.quiet and threw.read is None
