"""Size of the dom engine's element listing (what the model reads every step) on the local test pages.

Loads each page in headless Chromium, scrapes it and prints the listing's length in characters, its lines,
its listed elements and the median scrape time. With `--baseline DIR` (another checkout, e.g. /work/main) the
same is measured with that checkout's scraper in a child process and printed alongside, with the ratio.
Usage: .venv/bin/python bench/listing_size.py [--pages job/ widgets/] [--rounds 5] [--baseline /work/main]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PAGES = ["job/", "widgets/"]


async def measure(pages: list[str], rounds: int) -> dict[str, dict[str, float]]:
    from agent_core.browser import BrowserManager
    from agent_core.egress import EgressPolicy
    from agent_core.scraper import scrape
    from agent_core.types import BrowserConfig
    from tests.sites.server import TestSite

    site = TestSite().start()
    manager = BrowserManager(BrowserConfig(egress=EgressPolicy.from_setting("127.0.0.0/8, ::1/128")))
    await manager.start()
    figures: dict[str, dict[str, float]] = {}
    try:
        session = await manager.new_session()
        try:
            for path in pages:
                await session.goto(site.url(path))
                times = []
                result = None
                for _ in range(rounds):
                    result = await scrape(session.page)
                    times.append(result.duration_ms)
                assert result is not None
                figures[path] = {
                    "chars": len(result.listing),
                    "lines": len(result.listing.splitlines()),
                    "elements": len(result.elements),
                    "scrape_ms": statistics.median(times),
                }
        finally:
            await session.close()
    finally:
        await manager.close()
        site.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", nargs="+", default=PAGES)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", help="another checkout whose scraper to measure too (e.g. /work/main)")
    parser.add_argument("--code", default=str(HERE), help=argparse.SUPPRESS)  # the checkout to import from
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # child-process output
    args = parser.parse_args()
    sys.path.insert(0, args.code)
    figures = asyncio.run(measure(args.pages, args.rounds))
    if args.json:
        print(json.dumps(figures))
        return
    baseline: dict[str, dict[str, float]] = {}
    if args.baseline:
        child = subprocess.run(
            [sys.executable, __file__, "--code", args.baseline, "--json", "--rounds", str(args.rounds),
             "--pages", *args.pages],
            check=True, capture_output=True, text=True,
        )
        baseline = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"listing size, {args.rounds} scrapes per page (this checkout: {args.code})")
    for path, now in figures.items():
        line = (f"  {path:<12} {now['chars']:>6.0f} chars  {now['lines']:>4.0f} lines  {now['elements']:>4.0f} elements"
                f"  scrape {now['scrape_ms']:6.1f} ms")
        before = baseline.get(path)
        if before:
            line += (f"   | baseline {before['chars']:>6.0f} chars  {before['elements']:>4.0f} elements"
                     f"  scrape {before['scrape_ms']:6.1f} ms  | size ratio {now['chars'] / before['chars']:.2f}")
        print(line)


if __name__ == "__main__":
    main()
