"""The page in a real browser: first load and a categorization, as a user sees them.

    .venv/bin/python benchmarks/performance/web_page.py [--loads 7] [--queries 15]

Indexes the bundled Flipkart sample (MiniLM, photos under its images folder), starts
`semcat serve` on a free localhost port and drives headless Chromium (Debian's
`chromium`, through Playwright) against it:
- first load, a fresh browser context each time: time to DOM interactive and to the
  load event (Navigation Timing), and until the page shows the store's product count
  (its first API answer);
- categorization: from the submit click to the result drawn (the page's own
  performance.now() measure), over different product titles of the sample, with the
  neighbors' photos loading after.
Medians (and max) of the runs; writes benchmarks/results/web_page.json and its section
of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from tests.browser.conftest import PHOTOS, SAMPLE, serving  # noqa: E402

from _common import publish  # noqa: E402
from semcat.catalog import read_catalog  # noqa: E402

LOAD_LABELS = {
    "dom_interactive": "DOM interactive",
    "load": "load event",
    "status_shown": "the store's product count shown (its first API answer)",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--queries", type=int, default=15)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    titles = [p.title for p in read_catalog(SAMPLE).products[:: max(1, 1050 // args.queries)]][: args.queries]
    loads: list[dict[str, float]] = []
    answers: list[float] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        serving(Path(tmp), SAMPLE, SEMCAT_IMAGES_ROOT=str(PHOTOS)) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        for _ in range(args.loads):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_function("document.getElementById('status').textContent.includes('products')")
            shown = (time.perf_counter() - start) * 1000
            entry = json.loads(page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON())"))
            loads.append(
                {"dom_interactive": entry["domInteractive"], "load": entry["loadEventEnd"], "status_shown": shown}
            )
            context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(url)
        for title in titles:
            page.get_by_label("Title", exact=True).fill(title)
            before = page.evaluate("window.semcatTimings.length")
            page.get_by_role("button", name="Categorize product").click()
            page.wait_for_function(f"window.semcatTimings.length > {before}")
            answers.append(page.evaluate("window.semcatTimings[window.semcatTimings.length - 1].submitToResult"))
        context.close()
        browser.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(values), 1), "max_ms": round(max(values), 1), "runs": len(values)}

    result = {
        "command": f"python benchmarks/performance/web_page.py --loads {args.loads} --queries {args.queries}",
        "first_load": {
            key: summary([run[key] for run in loads]) for key in ("dom_interactive", "load", "status_shown")
        },
        "categorize_submit_to_result": summary(answers),
    }
    rows = [(f"first load: {label}", result["first_load"][key]) for key, label in LOAD_LABELS.items()]
    rows.append(("categorize: submit to result drawn", result["categorize_submit_to_result"]))
    markdown = "\n".join(
        [
            f"`{result['command']}` (headless Chromium and `semcat serve` on the same 2-core machine, the bundled "
            "sample indexed with MiniLM):",
            "",
            "| what | median | max | runs |",
            "|---|---|---|---|",
            *(f"| {label} | {v['median_ms']} ms | {v['max_ms']} ms | {v['runs']} |" for label, v in rows),
        ]
    )
    publish("web_page", result, "web-page", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
