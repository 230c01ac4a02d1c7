"""/categorize latency and throughput with 1, 8 and 32 concurrent clients, with and
without micro-batching, in one run.

    .venv/bin/python benchmarks/performance/api_latency.py [--requests 400] [--runs 3]

Indexes flipkart-1050 (the default model and backend, FAISS) into a temp dir, then for each
mode starts `semcat serve` on a free localhost port and sends short product titles (the
catalog's product names) from N concurrent keep-alive connections (benchmarks/performance/
_load.py: raw asyncio, ~0.1 ms of CPU per request, so the load generator, which shares the
2 cores, takes little from the server). Each cell is the median over --runs runs of
p50 / p99 latency (ms) and requests per second, with the server's CPU time per request.
Writes benchmarks/results/api_latency.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import cpu_seconds, request_bytes, run_load, start_server

from _common import RESULTS, dataset, machine, update_doc_section, write_result

CONCURRENCY = (1, 8, 32)


def run_mode(data: Path, microbatch: bool, titles: list[str], requests: int, runs: int) -> list[dict]:
    proc, port = start_server(data, os.environ | {"SEMCAT_MICROBATCH": "true" if microbatch else "false"})
    bodies = [request_bytes("POST", "/categorize", {"title": t}) for t in titles]
    try:
        asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], 4, total=80))  # warm-up
        rows = []
        for clients in CONCURRENCY:
            p50s, p99s, rates, cpus = [], [], [], []
            for _ in range(runs):
                before = cpu_seconds(proc.pid)
                result = asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], clients, total=requests))
                assert set(result.statuses) == {200}, (result.statuses, result.bodies)
                cpus.append((cpu_seconds(proc.pid) - before) / len(result.latencies) * 1000)
                p50s.append(result.percentile(0.50) * 1000)
                p99s.append(result.percentile(0.99) * 1000)
                rates.append(result.rate)
            rows.append(
                {
                    "microbatch": microbatch,
                    "clients": clients,
                    "p50_ms": round(statistics.median(p50s), 1),
                    "p99_ms": round(statistics.median(p99s), 1),
                    "requests_per_s": round(statistics.median(rates), 1),
                    "server_cpu_ms_per_request": round(statistics.median(cpus), 2),
                    "runs": runs,
                    "requests_per_run": requests,
                }
            )
            print(rows[-1], flush=True)
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400, help="requests per run and concurrency level")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="only rewrite the docs table from the saved JSON")
    args = parser.parse_args()
    if args.render:
        render(json.loads((RESULTS / "api_latency.json").read_text()))
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from semcat.catalog import read_catalog
    from semcat.config import Settings
    from semcat.engine import Engine

    products = read_catalog(dataset("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv")).products
    titles = [p.title for p in products]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with Engine(Settings(data_dir=data)) as engine:
            engine.index(products, progress=False)
        rows = run_mode(data, True, titles, args.requests, args.runs)
        rows += run_mode(data, False, titles, args.requests, args.runs)

    avg_title = sum(map(len, titles)) / len(titles)
    result = {
        "machine": machine(),
        "command": f"python benchmarks/performance/api_latency.py --requests {args.requests} --runs {args.runs}",
        "setup": (
            f"flipkart-1050 indexed (MiniLM, backend {Settings().backend}, FAISS flat); queries: product names, "
            f"{avg_title:.0f} chars on average"
        ),
        "rows": rows,
    }
    write_result("api_latency", result)
    render(result)


def render(result: dict) -> None:
    rows, m = result["rows"], result["machine"]
    runs, requests = rows[0]["runs"], rows[0]["requests_per_run"]
    lines = [
        "## `/categorize` latency and throughput (micro-batching on and off)",
        "",
        f"Command: `{result['command']}` — {m['date']}, {m['cpu']}, {m['cores']} cores, torch {m['torch']}. "
        "Result file: `benchmarks/results/api_latency.json`.",
        "",
        f"{result['setup']}; one `semcat serve` process (uvicorn, 1 worker); the load generator (raw asyncio "
        f"keep-alive connections) shares the machine. Median of {runs} runs of {requests} requests per cell.",
        "",
        "| clients | micro-batching | p50 (ms) | p99 (ms) | requests/s | server CPU ms / request |",
        "|---|---|---|---|---|---|",
    ]
    ratios = []
    for clients in CONCURRENCY:
        cell = {mb: next(r for r in rows if r["clients"] == clients and r["microbatch"] == mb) for mb in (True, False)}
        for mb in (True, False):
            row = cell[mb]
            lines.append(
                f"| {clients} | {'on' if mb else 'off'} | {row['p50_ms']} | {row['p99_ms']} | "
                f"{row['requests_per_s']} | {row.get('server_cpu_ms_per_request', '–')} |"
            )
        ratios.append(f"{cell[True]['requests_per_s'] / cell[False]['requests_per_s']:.2f}x at {clients}")
    lines += [
        "",
        "Throughput with micro-batching relative to without, same run: " + ", ".join(ratios) + " client(s).",
        "Micro-batching (`SEMCAT_MICROBATCH`, on by default) merges concurrent one-product requests with the same "
        "options into one engine call (one embedding call, one batched search and head pass; "
        "`semcat.api.batcher.CallBatcher`), one call per core at a time, without holding a lone request back.",
    ]
    update_doc_section("api-latency", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
