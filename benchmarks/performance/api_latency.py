"""/categorize latency and throughput with 1, 8 and 32 concurrent clients, with and
without micro-batching, in one run.

    .venv/bin/python benchmarks/performance/api_latency.py [--requests 240] [--runs 3]

Indexes flipkart-1050 (MiniLM, FAISS) into a temp dir, then for each mode starts
`semcat serve` on a free localhost port and sends short product titles (the catalog's
product names) from N concurrent clients. Each cell is the median over --runs runs of
p50 / p99 latency (ms) and requests per second. The load generator runs on the same
machine as the server, so absolute numbers include its cost; compare the modes.
Writes benchmarks/results/api_latency.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import RESULTS, dataset, machine, update_doc_section, write_result

CONCURRENCY = (1, 8, 32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def load(base: str, titles: list[str], clients: int, total: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(titles[i % len(titles)])

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                title = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            r = await client.post("/categorize", json={"title": title})
            latencies.append(time.perf_counter() - t0)
            r.raise_for_status()

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return latencies, elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_mode(data: Path, microbatch: bool, titles: list[str], requests: int, runs: int) -> list[dict]:
    port = free_port()
    env = os.environ | {
        "HF_HUB_OFFLINE": "1",
        "SEMCAT_DATA_DIR": str(data),
        "SEMCAT_MICROBATCH": "true" if microbatch else "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "semcat.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        asyncio.run(load(base, titles, 4, 40))  # warm-up
        rows = []
        for clients in CONCURRENCY:
            p50s, p99s, rates = [], [], []
            for _ in range(runs):
                latencies, elapsed = asyncio.run(load(base, titles, clients, requests))
                p50s.append(percentile(latencies, 0.50) * 1000)
                p99s.append(percentile(latencies, 0.99) * 1000)
                rates.append(len(latencies) / elapsed)
            rows.append(
                {
                    "microbatch": microbatch,
                    "clients": clients,
                    "p50_ms": round(statistics.median(p50s), 1),
                    "p99_ms": round(statistics.median(p99s), 1),
                    "requests_per_s": round(statistics.median(rates), 1),
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
    parser.add_argument("--requests", type=int, default=240, help="requests per run and concurrency level")
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
            f"flipkart-1050 indexed (MiniLM, FAISS flat); queries: product names, {avg_title:.0f} chars on average"
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
        f"{result['setup']}; one `semcat serve` process (uvicorn, 1 worker); the load generator shares the "
        f"machine. Median of {runs} runs of {requests} requests per cell.",
        "",
        "| clients | micro-batching | p50 (ms) | p99 (ms) | requests/s |",
        "|---|---|---|---|---|",
    ]
    ratios = []
    for clients in CONCURRENCY:
        cell = {mb: next(r for r in rows if r["clients"] == clients and r["microbatch"] == mb) for mb in (True, False)}
        for mb in (True, False):
            row = cell[mb]
            lines.append(
                f"| {clients} | {'on' if mb else 'off'} | {row['p50_ms']} | {row['p99_ms']} | {row['requests_per_s']} |"
            )
        ratios.append(f"{cell[True]['requests_per_s'] / cell[False]['requests_per_s']:.2f}x at {clients}")
    lines += [
        "",
        "Throughput with micro-batching relative to without, same run: " + ", ".join(ratios) + " client(s).",
    ]
    update_doc_section("api-latency", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
