"""upload_file: fetching or finding the file behind a file_url, then handing it to the page's file input."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

from agent_core.actions.targets import ActionFailed, failure_on, first_line
from agent_core.browser.session import BrowserSession
from agent_core.errors import EgressDenied, FetchError, ResponseTooLarge
from agent_core.fetch import fetch
from agent_core.scraper import Element

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


async def _materialise(session: BrowserSession, file_url: str) -> Path:
    """A local path for the file to upload: the path itself, a file:// URL, or an http(s) URL fetched
    (with the session's cookies, user agent, extra headers and proxy, at most MAX_UPLOAD_BYTES, under the
    session's egress policy, redirects included) into a fresh folder under the session's downloads dir,
    keeping the server's file name. A refusal is reported to the session's egress reports."""
    source = file_url.strip()
    scheme = urlsplit(source).scheme.lower()
    if scheme not in ("http", "https"):
        path = Path(unquote(urlsplit(source).path)) if scheme == "file" else Path(source).expanduser()
        # A page can talk the model into asking for any file the worker can read: local files are
        # allowed only inside the folders the host configured for uploads.
        roots = [Path(r).resolve() for r in session.config.upload_dirs]
        resolved = path.resolve()
        if not any(resolved.is_relative_to(root) for root in roots):
            raise ActionFailed(
                f"local file {file_url} is outside the allowed upload folders; give an http(s) URL instead"
            )
        if not path.is_file():
            raise ActionFailed(f"file to upload not found: {file_url}")
        return path
    uploads = session.downloads_dir / ".uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=uploads))
    headers = dict(session.config.extra_headers)
    if session.config.user_agent:
        headers["User-Agent"] = session.config.user_agent
    cookies = "; ".join(
        f"{c['name']}={c['value']}" for c in await session.context.cookies(source) if "name" in c and "value" in c
    )
    if cookies:
        headers["Cookie"] = cookies  # dropped by fetch() on a redirect to another origin

    def destination(url: str, response_headers: httpx.Headers) -> Path:
        return folder / _download_name(response_headers.get("content-disposition", ""), url)

    # Every hop is checked against the egress policy before it is sent, and connections go only to the
    # addresses checked: a page cannot make the worker fetch an internal address for it to read back.
    try:
        result = await fetch(
            source,
            session.config.egress,
            headers=headers,
            dest=destination,
            max_bytes=MAX_UPLOAD_BYTES,
            timeout=session.config.navigation_timeout_ms / 1000,
            proxy=session.config.proxy or None,
        )
    except EgressDenied as exc:
        await session.egress.report(exc.url or source, str(exc))
        raise ActionFailed(str(exc), settle=False) from exc
    except ResponseTooLarge as exc:
        raise ActionFailed(f"{source} is larger than {MAX_UPLOAD_BYTES // 2**20} MB", settle=False) from exc
    except FetchError as exc:
        raise ActionFailed(str(exc), settle=False) from exc
    except OSError as exc:
        raise ActionFailed(f"could not fetch {source}: {exc}", settle=False) from exc
    if not result.ok:
        if result.path is not None:
            result.path.unlink(missing_ok=True)
        raise ActionFailed(f"could not fetch {source}: it answered HTTP {result.status_code}", settle=False)
    assert result.path is not None  # a destination was given
    return result.path


def _download_name(disposition: str, url: str) -> str:
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition, re.IGNORECASE)
    name = unquote(match.group(1)) if match else unquote(Path(urlsplit(url).path).name)
    name = os.path.basename(name.replace("\\", "/")).strip().lstrip(".")
    return name[:120] or "upload"


async def upload_file(
    session: BrowserSession, element: Element, locator: Locator, file_url: str, timeout: int
) -> Any:
    path = await _materialise(session, file_url)
    target: Locator | None = None
    if element.input_type == "file":  # the input itself, or a label standing in for it
        target = locator
    else:
        inner = locator.locator("input[type=file]")
        if await inner.count():
            target = inner.first
    try:
        if target is not None:
            await target.set_input_files(path, timeout=timeout)
        else:
            # A styled button that opens the file picker from script.
            async with session.page.expect_file_chooser(timeout=timeout) as chooser_info:
                await locator.click(timeout=timeout)
            chooser = await chooser_info.value
            await chooser.set_files(path)
    except PlaywrightError as exc:
        raise await failure_on(
            locator, element.id, f"could not upload {path.name} with {element.id}: {first_line(exc)}"
        ) from exc
    return {"file": path.name, "size": path.stat().st_size}
