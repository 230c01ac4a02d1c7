"""What a background label audit costs the requests served meanwhile: `/categorize` at one
client before and during `POST /audit`.

    .venv/bin/python benchmarks/performance/audit_reads.py [--products 10000] [--requests 300]

Indexes the first ``--products`` of a seeded shuffle of flipkart-20k (names only; the
default model, FAISS) into a temp folder, starts `semcat serve`, sends ``--requests``
one-product requests from one keep-alive client (the idle baseline), then starts an audit
and sends the same requests in a loop until the audit is done. p50 / p99 of each phase,
every answer 200, and the audit's own time in the service. Writes
benchmarks/results/audit_reads.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import request_bytes, run_load, start_server

from _common import catalog, publish

KEY = "audit-bench"


def percentiles(latencies: list[float]) -> dict[str, float]:
    values = np.asarray(latencies) * 1000
    return {
        "requests": len(values),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p99_ms": round(float(np.percentile(values, 99)), 1),
        "max_ms": round(float(values.max()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from semcat.config import Settings
    from semcat.engine import Engine

    products = catalog("flipkart20k")
    order = np.random.default_rng(0).permutation(len(products))
    stored = [products[i] for i in order[: args.products]]
    queries = [products[i] for i in order[args.products : args.products + 500]]
    bodies = [request_bytes("POST", "/categorize", {"title": p.title}) for p in queries]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        start = time.perf_counter()
        with Engine(Settings(data_dir=data)) as engine:
            engine.index(stored, progress=False)
            engine.head(wait=True)
        indexed = time.perf_counter() - start
        proc, port = start_server(data, os.environ | {"SEMCAT_API_KEY": KEY})
        try:
            asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], 1, total=60))  # warm-up
            idle = asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], 1, total=args.requests))
            assert set(idle.statuses) == {200}, idle.statuses
            url = f"http://127.0.0.1:{port}"
            started = time.perf_counter()
            answer = httpx.post(f"{url}/audit", headers={"X-API-Key": KEY}, timeout=30)
            assert answer.status_code == 202, answer.text
            during: list[float] = []
            while True:
                batch = asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], 1, total=50))
                assert set(batch.statuses) == {200}, batch.statuses
                during += batch.latencies
                state = httpx.get(f"{url}/audit", timeout=30).json()["audit"]
                if state["state"] != "running":
                    break
            audit_wall = time.perf_counter() - started
            assert state["state"] == "done", state
        finally:
            proc.terminate()
    result = {
        "products": args.products,
        "index_seconds": round(indexed),
        "idle": percentiles(idle.latencies),
        "during_audit": percentiles(during),
        "audit_seconds_in_service": round(state["seconds"]),
        "audit_wall_seconds": round(audit_wall),
        "suspects": state["suspects"],
    }
    command = f"python benchmarks/performance/audit_reads.py --products {args.products} --requests {args.requests}"
    lines = [
        f"Command: `{command}` — flipkart-20k names, {args.products:,} products indexed (MiniLM onnx-int8, "
        f"FAISS), `semcat serve`, one client sending `/categorize` one product at a time.",
        "",
        "| phase | requests | p50 (ms) | p99 (ms) | max (ms) |",
        "|---|---|---|---|---|",
        *(
            f"| {label} | {r['requests']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |"
            for label, r in (("idle", result["idle"]), ("during the background audit", result["during_audit"]))
        ),
        "",
        f"The audit took {result['audit_seconds_in_service']} s in the service ({result['suspects']:,} suspects); "
        "every request was answered 200 while it ran.",
    ]
    publish("audit_reads", result | {"command": command}, section="audit-reads", markdown="\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
