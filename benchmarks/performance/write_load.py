"""Reads under a stream of writes: 16 clients categorize while 16 others PUT products.

    .venv/bin/python benchmarks/performance/write_load.py [--seconds 60] [--readers 16] [--writers 16] [--workers 1,2]

For each --workers count in turn: indexes flipkart-1050 (default model, backend and head)
into a temp dir and starts `semcat serve --workers N`. Phase 1: the readers alone for a
third of --seconds (the baseline, same run).
Phase 2: readers and writers together for --seconds. A reader POSTs /categorize with a
product name; a writer PUTs /products/w<writer>-<n> (a catalog product's title with a
suffix, under that product's category; every third write replaces one of its own earlier
ids). Afterwards every acknowledged write is read back (GET /products/{id}: present, with
the title of the last acknowledged write). Reports read p50 / p99 / max in both phases
and their ratio, 5xx counts, writes per second and write latency, lost writes, and the
head retrains seen during the writes (GET /ready every 0.25 s: the retrains that started,
and the share of the polls one was running in). The load generator
(benchmarks/performance/_load.py) shares the 2 cores with the server.
Writes benchmarks/results/write_load.json and its table in docs/benchmarks.md.
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import Result, _exchange, request_bytes, run_load, start_server

from _common import dataset, machine, update_doc_section, write_result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--readers", type=int, default=16)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument(
        "--workers", default="1,2", help="API worker processes (semcat serve --workers), comma-separated: one run each"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each --workers count (medians reported)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from semcat.config import Settings

    runs = [measure(args, int(n)) for n in args.workers.split(",") for _ in range(args.runs)]
    result = {
        "machine": machine(),
        "command": f"python benchmarks/performance/write_load.py --seconds {args.seconds:g} "
        f"--readers {args.readers} --writers {args.writers} --workers {args.workers} --runs {args.runs}",
        "settings": {"backend": Settings().backend, "head_quiet_seconds": Settings().retrain.quiet_seconds},
        "runs": runs,
    }
    write_result("write_load", result)
    render(result, args)


def measure(args: argparse.Namespace, workers: int) -> dict:
    """One server with ``workers`` processes over a fresh flipkart-1050 store: reads alone,
    then reads and writes, then every acknowledged write read back."""
    from semcat.catalog import read_catalog
    from semcat.config import Settings
    from semcat.engine import Engine

    products = read_catalog(dataset("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv")).products
    reads = [request_bytes("POST", "/categorize", {"title": p.title}) for p in products]
    acknowledged: dict[str, str] = {}

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with Engine(Settings(data_dir=data)) as engine:
            engine.index(products, progress=False)
        proc, port = start_server(data, dict(os.environ), extra=["--workers", str(workers)])
        try:
            # warm-up on as many connections as the readers, so every worker has served some
            asyncio.run(run_load(port, lambda i: reads[i % len(reads)], args.readers, total=20 * args.readers))
            alone = asyncio.run(run_load(port, lambda i: reads[i % len(reads)], args.readers, seconds=args.seconds / 3))
            mixed_reads, writes, retrains = asyncio.run(both(port, reads, products, args, acknowledged))
            lost = check(port, acknowledged)
        finally:
            proc.terminate()
            proc.wait(timeout=60)

    def summary(result: Result) -> dict:
        return {
            "requests": len(result.latencies),
            "per_s": round(result.rate, 1),
            "p50_ms": round(result.percentile(0.5) * 1000, 1),
            "p95_ms": round(result.percentile(0.95) * 1000, 1),
            "p99_ms": round(result.percentile(0.99) * 1000, 1),
            "max_ms": round(max(result.latencies) * 1000, 1),
            "5xx": sum(n for status, n in result.statuses.items() if status >= 500),
            "statuses": dict(result.statuses),
        }

    run = {
        "workers": workers,
        "reads_alone": summary(alone),
        "reads_with_writes": summary(mixed_reads),
        "writes": summary(writes),
        "acknowledged_writes": sum(n for status, n in writes.statuses.items() if status in (200, 201)),
        "distinct_ids_written": len(acknowledged),
        "lost_writes": lost,
        "head_retrains": retrains,
        "p99_ratio_with_vs_without_writes": round(mixed_reads.percentile(0.99) / alone.percentile(0.99), 2),
    }
    print(json.dumps(run, indent=1)[:1500], flush=True)
    return run


async def both(port: int, reads: list[bytes], products: list, args: argparse.Namespace, acknowledged: dict) -> tuple:
    """Readers and writers at once; the writers record what the server acknowledged."""
    reader_result = Result()
    writer_result = Result()

    async def writer(w: int) -> None:
        n = 0
        reader, writer_stream = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.seconds
        try:
            while loop.time() < deadline:
                source = products[(w * 97 + n * 13) % len(products)]
                pid = f"w{w}-{n // 3 if n % 3 == 2 else n}"  # every third write replaces an earlier id
                title = f"{source.title} (offer {w}-{n})"
                body = {"title": title, "category": list(source.category)}
                t0 = loop.time()
                status, _ = await _exchange(reader, writer_stream, request_bytes("PUT", f"/products/{pid}", body))
                writer_result.latencies.append(loop.time() - t0)
                writer_result.statuses[status] += 1
                if status in (200, 201):  # replaced, created
                    acknowledged[pid] = title
                n += 1
        finally:
            writer_stream.close()

    training: list[bool] = []  # per /ready poll: whether the (polled worker's) head was retraining

    async def poll() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.seconds
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while loop.time() < deadline:
                r = await client.get("/ready")
                training.append(r.status_code == 200 and bool(r.json().get("head_training")))
                await asyncio.sleep(READY_POLL_SECONDS)

    start = asyncio.get_running_loop().time()
    await asyncio.gather(
        run_load(port, lambda i: reads[i % len(reads)], args.readers, seconds=args.seconds, result=reader_result),
        *(writer(w) for w in range(args.writers)),
        poll(),
    )
    writer_result.elapsed = asyncio.get_running_loop().time() - start
    retrains = {
        "started": sum(1 for before, now in zip([False, *training], training, strict=False) if now and not before),
        "share_of_polls": round(sum(training) / max(len(training), 1), 2),
    }
    return reader_result, writer_result, retrains


READY_POLL_SECONDS = 0.25  # how often the writes phase asks /ready whether the head is retraining


def check(port: int, acknowledged: dict[str, str]) -> int:
    """How many acknowledged writes are missing or not as last written."""
    lost = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for pid, title in acknowledged.items():
            r = client.get(f"/products/{pid}")
            if r.status_code != 200 or r.json().get("title") != title:
                lost += 1
    return lost


def render(result: dict, args: argparse.Namespace) -> None:
    m, settings = result["machine"], result["settings"]
    lines = [
        "## Reads under a stream of writes",
        "",
        f"Command: `{result['command']}` — {m['date']}, {m['cpu']}, {m['cores']} cores. "
        "Result file: `benchmarks/results/write_load.json`.",
        "",
        f"flipkart-1050 store, `semcat serve --workers N` (backend {settings['backend']}, head retrained in the "
        f"background {settings['head_quiet_seconds']:g} s after writes pause, or 30 s at most after the first "
        f"unseen write), one server per row group, in turn. {args.readers} clients POST /categorize (product "
        f"names) for {args.seconds / 3:g} s alone, then for {args.seconds:g} s while {args.writers} clients PUT "
        "products (new ids and replacements); the load generator shares the 2 cores.",
        "",
        "| workers | phase | requests | per s | p50 ms | p95 ms | p99 ms | max ms | 5xx |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for n in dict.fromkeys(run["workers"] for run in result["runs"]):
        runs = [run for run in result["runs"] if run["workers"] == n]
        for run in runs:
            for phase, key in (
                ("/categorize, no writes (baseline)", "reads_alone"),
                (f"/categorize, with {args.writers} writers", "reads_with_writes"),
                (f"PUT /products ({args.writers} writers)", "writes"),
            ):
                r = run[key]
                lines.append(
                    f"| {n} | {phase} | {r['requests']} | {r['per_s']} | {r['p50_ms']} | {r['p95_ms']} | "
                    f"{r['p99_ms']} | {r['max_ms']} | {r['5xx']} |"
                )
        with_writes = [run["reads_with_writes"]["p99_ms"] for run in runs]
        alone = [run["reads_alone"]["p99_ms"] for run in runs]
        notes.append(
            f"{n} worker{'s' if n > 1 else ''}, {len(runs)} run{'s' if len(runs) > 1 else ''}: read p99 with "
            f"{args.writers} writers {', '.join(f'{x:g}' for x in with_writes)} ms (median "
            f"{statistics.median(with_writes):g}), alone "
            f"{', '.join(f'{x:g}' for x in alone)} ms; 5xx "
            f"{sum(run[k]['5xx'] for run in runs for k in ('reads_alone', 'reads_with_writes', 'writes'))}; "
            f"{sum(run['acknowledged_writes'] for run in runs)} acknowledged writes, missing or not as last "
            f"acknowledged afterwards: {sum(run['lost_writes'] for run in runs)}; head retrains started "
            f"during the writes (seen on /ready): {', '.join(str(run['head_retrains']['started']) for run in runs)}, "
            f"one running in {', '.join(format(run['head_retrains']['share_of_polls'], '.0%') for run in runs)} "
            "of the polls."
        )
    lines += ["", *notes]
    update_doc_section("write-load", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
