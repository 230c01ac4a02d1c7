"""/categorize latency and throughput with 1, 8 and 32 concurrent clients, with and
without micro-batching, and against the torch backend (the baseline), in one run.

    .venv/bin/python benchmarks/performance/api_latency.py [--requests 400] [--runs 3]

Indexes flipkart-1050 (the default model and backend, FAISS) into a temp dir, and once more
with ``SEMCAT_BACKEND=torch`` (fp32 sentence-transformers, the baseline: the default before
the ONNX backend), then for each mode starts `semcat serve` on a free localhost port and sends short product titles (the
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
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import median_runs, request_bytes, run_load, start_server

from _common import RESULTS, dataset, machine, update_doc_section, write_result

CONCURRENCY = (1, 8, 32)
BASELINE = "torch"  # fp32 sentence-transformers in the server: the default before the ONNX backend


def run_mode(data: Path, microbatch: bool, titles: list[str], requests: int, runs: int, backend: str) -> list[dict]:
    env = {"SEMCAT_MICROBATCH": "true" if microbatch else "false", "SEMCAT_BACKEND": backend}
    proc, port = start_server(data, os.environ | env)
    bodies = [request_bytes("POST", "/categorize", {"title": t}) for t in titles]
    try:
        asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], 4, total=80))  # warm-up
        rows = []
        for clients in CONCURRENCY:
            rows.append(
                {
                    "backend": backend,
                    "microbatch": microbatch,
                    "clients": clients,
                    **median_runs(port, bodies, clients, requests, runs, proc.pid),
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
    default = Settings().backend
    with tempfile.TemporaryDirectory() as tmp:
        rows: list[dict] = []
        for backend in (default, BASELINE):
            data = Path(tmp) / backend
            with Engine(Settings(data_dir=data, backend=backend)) as engine:
                engine.index(products, progress=False)
            rows += run_mode(data, True, titles, args.requests, args.runs, backend)
            if backend == default:
                rows += run_mode(data, False, titles, args.requests, args.runs, backend)

    avg_title = sum(map(len, titles)) / len(titles)
    result = {
        "machine": machine(),
        "command": f"python benchmarks/performance/api_latency.py --requests {args.requests} --runs {args.runs}",
        "setup": (
            f"flipkart-1050 indexed (MiniLM, FAISS flat) once per backend; queries: product names, "
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
        "| clients | backend | micro-batching | p50 (ms) | p99 (ms) | requests/s | server CPU ms / request |",
        "|---|---|---|---|---|---|---|",
    ]
    default = rows[0].get("backend", "onnx-int8")
    ratios, speedups = [], []
    for clients in CONCURRENCY:
        cells = [r for r in rows if r["clients"] == clients]
        for row in cells:
            lines.append(
                f"| {clients} | {row.get('backend', default)} | {'on' if row['microbatch'] else 'off'} | "
                f"{row['p50_ms']} | {row['p99_ms']} | {row['requests_per_s']} | "
                f"{row.get('server_cpu_ms_per_request', '–')} |"
            )
        on, off = (
            next(r for r in cells if r.get("backend", default) == default and r["microbatch"] is mb)
            for mb in (True, False)
        )
        ratios.append(f"{on['requests_per_s'] / off['requests_per_s']:.2f}x at {clients}")
        base = next((r for r in cells if r.get("backend") == BASELINE), None)
        if base is not None:
            speedups.append(
                f"{clients} client(s): p50 {base['p50_ms'] / on['p50_ms']:.2f}x lower, "
                f"{on['requests_per_s'] / base['requests_per_s']:.2f}x the requests/s"
            )
    lines += [
        "",
        "Throughput with micro-batching relative to without, same run: " + ", ".join(ratios) + " client(s).",
    ]
    if speedups:
        lines.append(
            f"The default (`{default}`, micro-batching on) against the `{BASELINE}` backend (fp32 "
            "sentence-transformers in the server, micro-batching on), same run: " + "; ".join(speedups) + "."
        )
    lines += [
        "Micro-batching (`SEMCAT_MICROBATCH`, on by default) merges concurrent one-product requests with the same "
        "options into one engine call (one embedding call, one batched search and head pass; "
        "`semcat.api.batcher.CallBatcher`), one call per core at a time, without holding a lone request back.",
    ]
    update_doc_section("api-latency", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
