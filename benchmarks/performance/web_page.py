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
  neighbors' photos loading after;
- the review queue: a session of --session new products (the sample's titles under new
  ids) opened in the page, then --actions times each of accept (a), skip (s), undo (u),
  correct in place (c, the category typed, Enter) and a filter change, from the key to the
  row drawn (the page's own measure; the counts are fetched after), and 5 bulk accepts of
  everything at or above a confidence.
Medians (and max) of the runs; writes benchmarks/results/web_page.json and its section
of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

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


REVIEW_LABELS = {
    "accept": "accept (a), key to row drawn",
    "skip": "skip (s)",
    "undo": "undo (u)",
    "correct": "correct in place (c, type, Enter), Enter to row drawn",
    "filter": "change a filter (state), to the page redrawn",
    "bulk accept": "accept all at or above a confidence, to the session redrawn",
}


def _review_actions(browser: Any, url: str, size: int, actions: int) -> dict[str, list[float]]:
    """The page's own timings of review actions on a session of ``size`` new products."""
    products = read_catalog(SAMPLE).products[:size]
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["id", "title"])
    writer.writerows([f"new-{i}", f"{p.title} (new)"] for i, p in enumerate(products))
    body = rows.getvalue()
    sid = httpx.post(f"{url}/reviews", files={"file": ("new.csv", body.encode())}, timeout=60).json()["id"]
    while httpx.get(f"{url}/reviews/{sid}", timeout=60).json()["status"] == "categorizing":
        time.sleep(0.2)
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True
    )  # wait_for_function evaluates text
    page = context.new_page()
    page.goto(f"{url}/#review={sid}")
    page.wait_for_selector("#r-table tbody tr")
    page.select_option("#r-state", "to review")  # warms the filter path; not counted below
    page.wait_for_function("window.semcatTimings.some(t => t.review === 'filter')")

    def wait_for(kind: str, count: int) -> None:
        page.wait_for_function(f"window.semcatTimings.filter(t => t.review === '{kind}').length >= {count}")

    for n in range(1, actions + 1):
        for key, kind in (("a", "accept"), ("s", "skip"), ("u", "undo")):
            page.focus("#r-table")
            page.keyboard.press(key)
            wait_for(kind, n)
        page.focus("#r-table")
        page.keyboard.press("c")
        page.keyboard.press("Control+A")
        page.keyboard.type("Home Decor & Festive Needs")
        page.keyboard.press("Enter")
        wait_for("correct", n)
        page.select_option("#r-state", "" if n % 2 else "to review")
        wait_for("filter", n + 1)
    page.select_option("#r-state", "to review")
    for n, threshold in enumerate(("0.99", "0.98", "0.97", "0.96", "0.95"), start=1):
        page.fill("#r-min", threshold)
        page.get_by_role("button", name="Accept at or above").click()
        wait_for("bulk accept", n)
    timings = page.evaluate("window.semcatTimings.filter(t => t.review)")
    context.close()
    out: dict[str, list[float]] = {kind: [] for kind in REVIEW_LABELS}
    filters_seen = 0
    for t in timings:
        if t["review"] == "filter":
            filters_seen += 1
            if filters_seen == 1:
                continue  # the warm-up
        out[t["review"]].append(t["ms"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--session", type=int, default=300)
    parser.add_argument("--actions", type=int, default=25)
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
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, bypass_csp=True
            )  # wait_for_function evaluates text
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
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, bypass_csp=True
        )  # wait_for_function evaluates text
        page = context.new_page()
        page.goto(url)
        for title in titles:
            page.get_by_label("Title", exact=True).fill(title)
            before = page.evaluate("window.semcatTimings.length")
            page.get_by_role("button", name="Categorize product").click()
            page.wait_for_function(f"window.semcatTimings.length > {before}")
            answers.append(page.evaluate("window.semcatTimings[window.semcatTimings.length - 1].submitToResult"))
        context.close()
        review = _review_actions(browser, url, args.session, args.actions)
        browser.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(values), 1), "max_ms": round(max(values), 1), "runs": len(values)}

    result = {
        "command": f"python benchmarks/performance/web_page.py --loads {args.loads} --queries {args.queries} "
        f"--session {args.session} --actions {args.actions}",
        "first_load": {
            key: summary([run[key] for run in loads]) for key in ("dom_interactive", "load", "status_shown")
        },
        "categorize_submit_to_result": summary(answers),
        "review": {kind: summary(values) for kind, values in review.items()},
    }
    rows = [(f"first load: {label}", result["first_load"][key]) for key, label in LOAD_LABELS.items()]
    rows.append(("categorize: submit to result drawn", result["categorize_submit_to_result"]))
    rows += [(f"review queue: {REVIEW_LABELS[kind]}", v) for kind, v in result["review"].items()]
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
