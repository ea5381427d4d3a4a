"""A session's downloads: each file a page downloads is saved under the session's downloads dir, safely named."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path

from playwright.async_api import Download
from playwright.async_api import Error as PlaywrightError

from agent_core.browser.common import first_line, unique_path

log = logging.getLogger(__name__)


def safe_filename(name: str) -> str:
    """A download's suggested name, stripped of anything that could climb out of the downloads dir."""
    base = os.path.basename(name.replace("\\", "/")).strip().lstrip(".")
    base = re.sub(r"[\x00-\x1f]", "", base)
    return base[:180] or "download"


class Downloads:
    """Saves every download of a context into `directory`; `saved` lists the files in the order they finished."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.saved: list[Path] = []
        self._tasks: list[asyncio.Task[Path | None]] = []
        self._started = asyncio.Event()

    def on_download(self, download: Download) -> None:
        """The pages' "download" listener: saving starts at once, in the background."""
        self._tasks.append(asyncio.ensure_future(self._save(download)))
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

    async def _save(self, download: Download) -> Path | None:
        target = unique_path(self.directory, safe_filename(download.suggested_filename))
        try:
            await download.save_as(target)
        except PlaywrightError as exc:
            log.warning("download of %s failed: %s", download.url, first_line(exc))
            return None
        failure = await download.failure()
        if failure:
            log.warning("download of %s failed: %s", download.url, failure)
            return None
        self.saved.append(target)
        return target

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
