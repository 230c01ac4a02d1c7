"""What the path confidence costs a request: `/categorize` at one client, calibration off against on.

    .venv/bin/python benchmarks/performance/calibration_latency.py [--requests 400] [--rounds 3]

Indexes flipkart-1050 (the default model and backend, FAISS) into a temp folder and copies
it, so that each mode keeps its own trained head (``SEMCAT_CALIBRATION__ENABLED=false`` trains one
without a calibration). Then ``--rounds`` rounds, each starting `semcat serve` with
calibration off, then on, and sending ``--requests`` one-product requests (the catalog's
product names) from one keep-alive client (benchmarks/performance/_load.py). The median
over the rounds of each mode's p50 and p99, and their ratio. Writes
benchmarks/results/calibration_latency.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import median_runs, request_bytes, run_load, start_server

from _common import dataset, publish

MODES = {"off": "false", "on": "true"}


def measure(data: Path, calibration: str, bodies: list[bytes], requests: int) -> dict:
    proc, port = start_server(data, os.environ | {"SEMCAT_CALIBRATION__ENABLED": calibration})
    try:
        asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], 1, total=80))  # warm-up
        return median_runs(port, bodies, 1, requests, 1, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from semcat.catalog import read_catalog
    from semcat.config import Settings
    from semcat.engine import Engine

    products = read_catalog(dataset("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv")).products
    bodies = [request_bytes("POST", "/categorize", {"title": p.title}) for p in products]
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        on = Path(tmp) / "on"
        with Engine(Settings(data_dir=on)) as engine:
            engine.index(products, progress=False)
            engine.head(wait=True)
        off = Path(tmp) / "off"
        shutil.copytree(on, off)
        with Engine(Settings(data_dir=off, calibration=False)) as engine:
            engine.head(wait=True)  # its own head, without a calibration, before any timing
        folders = {"off": off, "on": on}
        for _ in range(args.rounds):
            for mode, flag in MODES.items():
                runs[mode].append(measure(folders[mode], flag, bodies, args.requests))
                print(mode, runs[mode][-1], flush=True)
    summary = {
        mode: {
            "p50_ms": round(statistics.median(r["p50_ms"] for r in rows), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in rows), 2),
            "p50_runs": [r["p50_ms"] for r in rows],
        }
        for mode, rows in runs.items()
    }
    ratio = summary["on"]["p50_ms"] / summary["off"]["p50_ms"]
    command = f"python benchmarks/performance/calibration_latency.py --requests {args.requests} --rounds {args.rounds}"
    markdown = "\n".join(
        [
            f"Command: `{command}` — flipkart-1050 (MiniLM onnx-int8, FAISS), one client, `semcat serve` restarted "
            f"per run, modes alternated; median of {args.rounds} runs of {args.requests} requests.",
            "",
            "| calibration | p50 (ms) | p99 (ms) | p50 per run (ms) |",
            "|---|---|---|---|",
            *(
                f"| {mode} | {s['p50_ms']} | {s['p99_ms']} | {', '.join(str(x) for x in s['p50_runs'])} |"
                for mode, s in summary.items()
            ),
            "",
            f"p50 with the calibration / without: {ratio:.3f}.",
        ]
    )
    publish(
        "calibration_latency",
        {"command": command, "summary": summary, "p50_ratio": round(ratio, 3)},
        section="calibration-latency",
        markdown=markdown,
    )
    print(markdown)


if __name__ == "__main__":
    main()
