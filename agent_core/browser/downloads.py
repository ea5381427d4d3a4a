"""A session's downloads: each file a page downloads is saved under the session's downloads dir, safely named,
and stopped once it grows past the session's size cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from pathlib import Path

from playwright.async_api import Download
from playwright.async_api import Error as PlaywrightError

from agent_core.browser.common import first_line, unique_path

log = logging.getLogger(__name__)

# How often a running download's size on disk is looked at.
WATCH_INTERVAL_S = 0.05


def safe_filename(name: str) -> str:
    """A download's suggested name, stripped of anything that could climb out of the downloads dir."""
    base = os.path.basename(name.replace("\\", "/")).strip().lstrip(".")
    base = re.sub(r"[\x00-\x1f]", "", base)
    return base[:180] or "download"


class Downloads:
    """Saves every download of a context into `directory`; `saved` lists the files in the order they finished.

    A download larger than `max_bytes` is cancelled while it runs (its size on disk is watched) and never
    saved: `stopped` holds a message for it ("download of big.iso stopped: larger than 100 MB").
    """

    def __init__(self, directory: Path, *, max_bytes: int | None = None) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.saved: list[Path] = []
        self.stopped: dict[int, str] = {}  # index of the download (in start order) -> why it was stopped
        self._tasks: list[asyncio.Task[Path | None]] = []
        self._started = asyncio.Event()

    def on_download(self, download: Download) -> None:
        """The pages' "download" listener: saving starts at once, in the background."""
        self._tasks.append(asyncio.ensure_future(self._save(download, len(self._tasks))))
        self._started.set()

    @property
    def started(self) -> int:
        """How many downloads began so far."""
        return len(self._tasks)

    async def seen(self, before: int) -> None:
        """Return once more than `before` downloads have begun."""
        while self.started <= before:
            self._started.clear()
            await self._started.wait()

    async def _save(self, download: Download, index: int) -> Path | None:
        name = safe_filename(download.suggested_filename)
        watcher = asyncio.ensure_future(self._watch(download, index, name)) if self.max_bytes else None
        target = unique_path(self.directory, name)
        try:
            await download.save_as(target)
        except PlaywrightError as exc:
            if index not in self.stopped:
                log.warning("download of %s failed: %s", download.url, first_line(exc))
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        if index not in self.stopped:
            failure = await download.failure()
            if failure:
                log.warning("download of %s failed: %s", download.url, failure)
                return None
            if not target.is_file():
                return None
            if self.max_bytes and target.stat().st_size > self.max_bytes:
                # Finished between two looks at its size: still never handed on.
                self._stop_message(index, name)
        if index in self.stopped:
            target.unlink(missing_ok=True)
            with contextlib.suppress(PlaywrightError):
                await download.delete()
            return None
        self.saved.append(target)
        return target

    async def _watch(self, download: Download, index: int, name: str) -> None:
        """Cancel `download` once the file Chromium writes grows past max_bytes."""
        partial = _partial_path(download)
        if partial is None or not self.max_bytes:
            return  # only the check after it finished is left
        candidates = (Path(f"{partial}.crdownload"), partial)  # Chromium renames the first to the second
        while True:
            size = max((_size(path) for path in candidates), default=0)
            if size > self.max_bytes:
                self._stop_message(index, name)
                with contextlib.suppress(PlaywrightError):
                    await download.cancel()
                return
            await asyncio.sleep(WATCH_INTERVAL_S)

    def _stop_message(self, index: int, name: str) -> None:
        assert self.max_bytes is not None
        self.stopped[index] = f"download of {name} stopped: larger than {self.max_bytes / 2**20:g} MB"
        log.warning("%s", self.stopped[index])

    def stopped_since(self, since: int) -> list[str]:
        """Why the downloads started after the `since`-th were stopped, if any were."""
        return [message for index, message in sorted(self.stopped.items()) if index >= since]

    async def wait(self, *, since: int, timeout_s: float) -> list[Path]:
        """Wait for the downloads started after `since` to be saved; return the saved paths.

        Downloads still running at the timeout keep going in the background and join `saved` later.
        """
        tasks = self._tasks[since:]
        if not tasks:
            return []
        done, _ = await asyncio.wait(tasks, timeout=timeout_s)
        return [path for task in tasks if task in done and (path := task.result()) is not None]

    def cancel(self) -> None:
        """Stop the downloads still running (the context is closing)."""
        for task in self._tasks:
            if not task.done():
                task.cancel()


def _partial_path(download: Download) -> Path | None:
    """Where Chromium writes `download` while it runs. Playwright knows it (its Artifact's absolutePath,
    which its own Video.path() reads too) but has no public API for it before the download finishes."""
    impl = getattr(download, "_impl_obj", download)
    initializer = getattr(getattr(impl, "_artifact", None), "_initializer", None)
    path = initializer.get("absolutePath") if isinstance(initializer, dict) else None
    return Path(path) if isinstance(path, str) and path else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
