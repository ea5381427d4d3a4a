"""What the browser modules share: Playwright errors shortened for operators, and collision-free file paths."""

from __future__ import annotations

import re
from pathlib import Path


def first_line(exc: BaseException) -> str:
    """Playwright errors carry a call log after the first line; operators only need the first."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\w+\.\w+: ", "", text)  # drop the "Page.goto: " prefix
    return re.sub(r"(net::ERR_\w+) at \S+$", r"\1", text)  # the URL is already in our message


def unique_path(directory: Path, name: str) -> Path:
    """`directory / name`, or `name (2)`, `name (3)`... when that file exists."""
    target = directory / name
    stem, suffix = target.stem, target.suffix
    counter = 1
    while target.exists():
        counter += 1
        target = directory / f"{stem} ({counter}){suffix}"
    return target
