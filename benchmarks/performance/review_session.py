"""Review sessions on the server: how long a 5,000-product session takes to categorize in
the background, and how long each review action takes.

    .venv/bin/python benchmarks/performance/review_session.py [--store 9000] [--session 5000] [--runs 2] [--actions 25]

flipkart-20k (product names, the full category tree): the first --store products (in a
seeded shuffle) are indexed with `semcat index` (default model, backend, head and
calibration) into a temp dir, then `semcat serve` runs on it. Each run uploads the next
--session products as a CSV to POST /reviews and polls GET /reviews/{id} every 0.2 s until
it is ready: the seconds from the upload's answer to the last batch stored (the median of
--runs sessions; the upload itself is timed apart). Then, on the last session, --actions
times each of: a page of 50 items least confident first, the session's summary, correct
(an item to review, to another category), accept, skip, undo, and a bulk accept of 20
items; and the CSV export of the whole session 5 times. Median and max milliseconds, the
load generator on the same 2 cores. Writes benchmarks/results/review_session.json and
its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import start_server

from _common import catalog, machine, update_doc_section, write_result
from semcat.catalog import PATH_JOIN


def _csv(products: list) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "title", "category"])
    for p in products:
        writer.writerow([p.id, p.title, PATH_JOIN.join(p.category)])
    return out.getvalue()


def _timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> float:
    """One request's milliseconds (it must succeed)."""
    start = time.perf_counter()
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code in (200, 201), response.text[:500]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=int, default=9_000)
    parser.add_argument("--session", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--actions", type=int, default=25)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    products = catalog("flipkart20k")
    random.Random(0).shuffle(products)
    stored, new = products[: args.store], products[args.store :]
    assert len(new) >= args.session * args.runs, "not enough products for the sessions"
    with tempfile.TemporaryDirectory(prefix="semcat-review-bench-") as tmp:
        data = Path(tmp)
        (data / "store.csv").write_text(_csv(stored), encoding="utf-8")
        env = os.environ | {"SEMCAT_DATA_DIR": str(data)}
        start = time.perf_counter()
        index = [sys.executable, "-m", "semcat.cli", "index", str(data / "store.csv"), "-q"]
        subprocess.run(index, env=env, check=True)
        index_seconds = time.perf_counter() - start
        proc, port = start_server(data, env)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, timeout=600) as client:
                sessions, uploads = [], []
                for run in range(args.runs):
                    part = new[run * args.session : (run + 1) * args.session]
                    body = _csv(part).encode()
                    begin = time.perf_counter()
                    created = client.post("/reviews", files={"file": ("new.csv", body, "text/csv")})
                    answered = time.perf_counter()
                    assert created.status_code == 201, created.text[:500]
                    sid = created.json()["id"]
                    while (summary := client.get(f"/reviews/{sid}").json())["status"] == "categorizing":
                        time.sleep(0.2)
                    assert summary["status"] == "ready" and summary["categorized"] == len(part), summary
                    sessions.append(time.perf_counter() - answered)
                    uploads.append(answered - begin)
                    auto = summary["auto"]
                timings = _actions(client, sid, args.actions)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    result = {
        "machine": machine(),
        "command": f"python benchmarks/performance/review_session.py --store {args.store} --session {args.session} "
        f"--runs {args.runs} --actions {args.actions}",
        "index_seconds": round(index_seconds, 1),
        "session_products": args.session,
        "categorize_seconds": [round(s, 2) for s in sessions],
        "categorize_seconds_median": round(statistics.median(sessions), 2),
        "upload_seconds": [round(s, 3) for s in uploads],
        "auto_share": round(auto / args.session, 4),
        "actions_ms": timings,
    }
    write_result("review_session", result)
    update_doc_section("review-session", _markdown(result))
    print(_markdown(result))


def _actions(client: httpx.Client, sid: str, n: int) -> dict[str, dict[str, float]]:
    """Median and max milliseconds of each action, ``n`` times each (the export 5 times)."""
    names: dict[str, list[float]] = {k: [] for k in ("page", "summary", "correct", "accept", "skip", "undo", "bulk")}
    to_review = client.get(f"/reviews/{sid}/items", params={"state": "to review", "limit": 1000}).json()["items"]
    categories = sorted({i["prediction"]["category"] for i in to_review if i["prediction"]["category"]})
    queue = iter(to_review)
    for _ in range(n):
        items = f"/reviews/{sid}/items"
        names["page"].append(_timed(client, "GET", items, params={"order": "confidence", "limit": 50}))
        names["summary"].append(_timed(client, "GET", f"/reviews/{sid}"))
        item = next(queue)
        other = next(c for c in categories if c != item["prediction"]["category"])
        fix = {"action": "correct", "category": other, "version": item["version"]}
        names["correct"].append(_timed(client, "POST", f"{items}/{item['position']}", json=fix))
        for action in ("accept", "skip"):
            item = next(queue)
            body = {"action": action, "version": item["version"]}
            names[action].append(_timed(client, "POST", f"{items}/{item['position']}", json=body))
        names["undo"].append(_timed(client, "POST", f"/reviews/{sid}/undo"))
        positions = [next(queue)["position"] for _ in range(20)]
        names["bulk"].append(_timed(client, "POST", f"/reviews/{sid}/accept", json={"positions": positions}))
    names["export"] = [_timed(client, "GET", f"/reviews/{sid}/export") for _ in range(5)]
    return {
        name: {"median": round(statistics.median(ms), 1), "max": round(max(ms), 1), "n": len(ms)}
        for name, ms in names.items()
    }


def _markdown(result: dict) -> str:
    labels = {
        "page": "a page of 50 items, least confident first",
        "summary": "the session's summary (counts)",
        "correct": "correct one item (stores it under its id)",
        "accept": "accept one item",
        "skip": "skip one item",
        "undo": "undo the last action",
        "bulk": "accept 20 items in one call",
        "export": f"export the whole session as CSV ({result['session_products']:,} rows)",
    }
    lines = [
        f"flipkart-20k names: a store of the first products of a seeded shuffle (indexed in "
        f"{result['index_seconds']:.0f} s), then sessions of {result['session_products']:,} new products uploaded "
        f"to `POST /reviews`. Command: `{result['command']}`.",
        "",
        f"Categorizing a {result['session_products']:,}-product session in the background: "
        f"{result['categorize_seconds_median']:.1f} s (median of {len(result['categorize_seconds'])} sessions: "
        f"{', '.join(f'{s:.1f}' for s in result['categorize_seconds'])} s; "
        f"{result['session_products'] / result['categorize_seconds_median']:.0f} products/s); the upload itself "
        f"answered in {max(result['upload_seconds']):.2f} s at most. {result['auto_share']:.1%} of the last "
        "session's products were `auto`.",
        "",
        "| action (HTTP, on the last session) | median ms | max ms | times |",
        "|---|---|---|---|",
    ]
    for key, row in result["actions_ms"].items():
        lines.append(f"| {labels[key]} | {row['median']:.1f} | {row['max']:.1f} | {row['n']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
