"""semcat end to end at growing catalog sizes: indexing, disk, memory, head training,
/categorize latency, write-to-visible, and approximate-search recall, per size.

    .venv/bin/python benchmarks/scale.py [--sizes 10000,100000] [--quick]

How each catalog of N products is built (seed 0), exactly:

- Real products first: cdiscount-50k (title, brand, description; 3-level French paths),
  flipkart-20k (product names; 2+ levels), flipkart-1050 (title, brand, description,
  specifications), each with its own taxonomy (no paths shared across catalogs), shuffled
  together; their dense vectors are their real MiniLM embeddings with the default
  ``onnx-int8`` backend (embedded once, cached under benchmarks/.cache).
- Past the real products (~70.7k), product i is a recombination inside one leaf category:
  real product P (the real products in turn) and another real product Q of the same leaf
  (random, seed 0); title "P.title / Q.title", P's brand and description, P's category.
  Its word vectors come from that text; its dense vector is normalize(0.6 v_P + 0.4 v_Q),
  a point between two real products of the category, **not** an embedding of the text
  (embedding every synthetic text would take an hour per 1M products on this machine and
  adds nothing the indexing-throughput benchmark does not measure).

Per size, on a fresh data folder: ``semcat``'s indexer with the vectors above supplied
(the whole ``Engine.index`` path: hashing, word vectors, SQLite, FAISS, save; embedding
excluded, its cost is benchmarks/performance/indexing_throughput.py's); the linear head
trained in a child process (seconds, peak RSS); disk of the data folder; ``semcat serve``
on the store: RSS once ready, /categorize p50/p99 with 1 and 32 clients (product names of
real products, embedded by the server), write-to-visible (PUT a new product, then
/categorize its text: is it among the neighbors at once?); recall@10 of the store's search
(HNSW from ``SEMCAT_FAISS_HNSW_THRESHOLD``, 100k, up) against exact search, with 500 real
product vectors as queries. Cost growth is reported as the ratio per 10x of products.
Writes benchmarks/results/scale.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "performance"))
from _load import median_runs, request_bytes, run_load, start_server

from _common import catalog, embedded, machine, update_doc_section, write_result
from semcat.catalog import Product
from semcat.config import Settings
from semcat.embedding import load_embedder

REAL = ("cdiscount", "flipkart20k", "flipkart1050")
RECALL_QUERIES = 500
WRITE_PROBES = 20
RETRAIN_LIMIT_S = 1200  # reads during a head retrain are followed this long at most


class Supplied:
    """The indexer's embedder for vectors computed beforehand, looked up by text."""

    supports_images = False

    def __init__(self, name: str, vectors: dict[str, np.ndarray], dim: int) -> None:
        self.name, self._vectors, self.dim = name, vectors, dim

    def encode_texts(self, texts: Sequence[str], role: str = "query", batch_size: int | None = None) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        raise TypeError("the scale catalogs are text only: no image vectors were supplied")


def real_products(model: Any) -> tuple[list[Product], np.ndarray]:
    products: list[Product] = []
    vectors: list[np.ndarray] = []
    for name in REAL:
        items = [p for p in catalog(name) if p.category]
        data = embedded(name, items, model)
        for p, v in zip(items, data.vectors, strict=True):
            products.append(dataclasses.replace(p, id=f"{name}:{p.id}"))
            vectors.append(v)
    order = np.random.default_rng(0).permutation(len(products))
    return [products[i] for i in order], np.asarray(vectors, dtype=np.float32)[order]


def build(n: int, real: list[Product], vectors: np.ndarray) -> tuple[list[Product], np.ndarray]:
    """N products and their dense vectors, as the module docstring says."""
    if n <= len(real):
        return real[:n], vectors[:n]
    rng = random.Random(0)
    by_leaf: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, p in enumerate(real):
        by_leaf[tuple(p.category)].append(i)
    products, out = list(real), [vectors]
    extra = np.zeros((n - len(real), vectors.shape[1]), dtype=np.float32)
    for j in range(n - len(real)):
        i = j % len(real)
        p = real[i]
        q = rng.choice(by_leaf[tuple(p.category)])
        products.append(
            Product(
                id=f"syn:{j}",
                title=f"{p.title} / {real[q].title}",
                description=p.description,
                brand=p.brand,
                category=p.category,
            )
        )
        v = 0.6 * vectors[i] + 0.4 * vectors[q]
        extra[j] = v / max(float(np.linalg.norm(v)), 1e-12)
    out.append(extra)
    return products, np.concatenate(out)


def folder_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


# The child's peak is its own address space's high-water mark (VmHWM), not getrusage's
# ru_maxrss: Linux carries the forking process's peak into a child's ru_maxrss across exec,
# so that figure was this benchmark's own ~17-19 GB (the 1M catalog it holds), not the head's
HEAD_CHILD = """
import json, sys, time
from pathlib import Path
from semcat.config import Settings
from semcat.engine import Engine
start = time.perf_counter()
with Engine(Settings(data_dir=Path(sys.argv[1]), store=sys.argv[2])) as engine:
    engine.head()  # trained here (or loaded, when the indexing process saved one)
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


def measure(n: int, real: list[Product], vectors: np.ndarray, model_name: str, args: argparse.Namespace) -> dict:
    from semcat.engine import Engine

    products, dense = build(n, real, vectors)
    settings = Settings(store=args.store)
    texts = [p.text(settings.text_fields) for p in products]
    supplied = Supplied(model_name, dict(zip(texts, dense, strict=True)), dense.shape[1])
    real_n = min(n, len(real))
    row: dict[str, Any] = {"products": n, "real_products": real_n, "synthetic_products": n - real_n}
    tmp = Path(tempfile.mkdtemp(prefix="semcat-scale-"))
    try:
        data = tmp / "data"
        with Engine(settings.model_copy(update={"data_dir": data}), embedder=supplied) as engine:
            start = time.perf_counter()
            summary = engine.index(products, progress=False)
            row["index_seconds"] = round(time.perf_counter() - start, 1)
            row["index_products_per_s"] = round(summary.embedded / row["index_seconds"], 1)
            space = engine.store().describe()["spaces"]["text"]
            row["search_index"] = space["index"]
            row["index_build_s"] = space.get("built_in_s", "–")  # the approximate index, from SQLite

        child = subprocess.run(
            [sys.executable, "-c", HEAD_CHILD, str(data), args.store], capture_output=True, text=True, check=True
        )
        head = json.loads(child.stdout.strip().splitlines()[-1])
        row["head_seconds"] = round(head["seconds"], 1)
        row["head_peak_rss_mb"] = round(head["peak_rss_mb"], 1)
        row["disk_mb"] = folder_mb(data)

        row.update(recall(settings.model_copy(update={"data_dir": data}), dense[:real_n]))
        row.update(serve(data, real, args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(row), flush=True)
    return row


def recall(settings: Settings, real_dense: np.ndarray) -> dict:
    """recall@10 of the store's own search against exact search, with the vectors of real
    products (``real_dense``) as queries."""
    from semcat.search.factory import open_store

    store = open_store(settings)
    try:
        rows = np.random.default_rng(1).choice(
            len(real_dense), size=min(RECALL_QUERIES, len(real_dense)), replace=False
        )
        queries = real_dense[rows]
        start = time.perf_counter()
        found = store.search_batch(queries, 10)
        search_ms = (time.perf_counter() - start) / len(queries) * 1000
        ids, matrix = [], []
        for batch_ids, batch, _ in store.iter_vectors(batch_size=65536):
            ids += batch_ids
            matrix.append(batch)
        sims = queries @ np.concatenate(matrix).T
        tenth = -np.partition(-sims, 9, axis=1)[:, 9]
        row_of = {pid: j for j, pid in enumerate(ids)}
        # a hit counts when it is as close as the exact 10th neighbor (ties between copies of
        # one product may come back in either order)
        hits = sum(sum(sims[q, row_of[h.id]] >= tenth[q] - 1e-6 for h in found[q][:10]) for q in range(len(queries)))
        return {"recall_at_10": round(hits / (10 * len(queries)), 4), "search_ms_per_query": round(search_ms, 3)}
    finally:
        store.close()


def serve(data: Path, real: list[Product], args: argparse.Namespace) -> dict:
    names = [p.title for p in real[:2000]]
    bodies = [request_bytes("POST", "/categorize", {"title": t}) for t in names]
    proc, port = start_server(
        data, dict(os.environ) | {"SEMCAT_STORE": args.store}, wait_s=1800
    )  # 1M: the labeled products are read first
    out: dict[str, Any] = {}
    try:
        asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], 2, total=40))  # warm-up
        out["server_rss_mb"] = rss_mb(proc.pid)
        for clients in (1, 32):
            cell = median_runs(port, bodies, clients, args.requests, args.runs, proc.pid)
            out.update({f"{key}_{clients}": cell[key] for key in ("p50_ms", "p99_ms", "requests_per_s")})
        out.update(write_to_visible(port, real))
        out.update(reads_during_retrain(port, names))
        out["server_rss_mb_after"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return out


def write_to_visible(port: int, real: list[Product]) -> dict:
    """PUT a new product, then at once /categorize its text: the new product must be among
    the neighbors that voted (the vote sees a write on the next request)."""
    put_ms, seen = [], 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for i in range(WRITE_PROBES):
            p = real[i]
            title = f"{p.title} scale probe {i}"
            body = {"title": title, "category": list(p.category)}
            start = time.perf_counter()
            client.put(f"/products/scale-probe-{i}", json=body).raise_for_status()
            put_ms.append((time.perf_counter() - start) * 1000)
            answer = client.post("/categorize", json={"title": title}).raise_for_status().json()
            seen += any(nb["id"] == f"scale-probe-{i}" for nb in answer["predictions"][0]["neighbors"])
    return {"put_p50_ms": round(statistics.median(put_ms), 1), "visible_on_next_request": f"{seen}/{WRITE_PROBES}"}


def reads_during_retrain(port: int, names: list[str], slow_ms: float | None = None) -> dict:
    """The write probes made the head stale: once no write came for the debounce time, the
    next request starts the retrain in the background. One client categorizes until /ready
    says the retrain has started and ended; the latencies of the reads answered while it
    ran (by the previous head) are the ones reported. ``slow_ms``: also print the time of
    each read during the retrain that took longer (benchmarks/studies/retrain_stall.py)."""
    from semcat.options import RETRAIN_DEFAULTS

    time.sleep(RETRAIN_DEFAULTS.quiet_seconds + 0.5)
    during: list[float] = []
    seen_training, started, ended = False, time.monotonic(), None
    next_poll, i = 0.0, 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        while time.monotonic() - started < RETRAIN_LIMIT_S:
            t0 = time.perf_counter()
            client.post("/categorize", json={"title": names[i % len(names)]}).raise_for_status()
            elapsed = (time.perf_counter() - t0) * 1000
            i += 1
            if seen_training:
                during.append(elapsed)
                if slow_ms is not None and elapsed > slow_ms:
                    print(f"{time.strftime('%H:%M:%S')} slow read {elapsed:.0f} ms", flush=True)
            if time.monotonic() >= next_poll:  # /ready counts the store: not on every request
                next_poll = time.monotonic() + 1.0
                training = client.get("/ready").json().get("head_training", False)
                if training and not seen_training:
                    seen_training, started = True, time.monotonic()
                elif seen_training and not training:
                    ended = time.monotonic()
                    break
    if not during:
        return {"retrain_seen": False}
    ordered = sorted(during)
    return {
        "retrain_s": round(ended - started, 1) if ended else f">{RETRAIN_LIMIT_S}",
        "reads_during_retrain": len(ordered),
        "retrain_read_p50_ms": round(ordered[len(ordered) // 2], 1),
        "retrain_read_p99_ms": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 1),
        "retrain_read_max_ms": round(ordered[-1], 1),
    }


def growth(rows: list[dict], key: str) -> str:
    """The ratio per 10x of products between the smallest and the largest size."""
    a, b = rows[0], rows[-1]
    numbers = all(isinstance(r.get(key), int | float) and r[key] for r in (a, b))
    if not numbers or b["products"] == a["products"]:  # a cell may be a note ("–", ">1200")
        return "–"
    decades = np.log10(b["products"] / a["products"])
    return f"{(b[key] / a[key]) ** (1 / decades):.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--quick", action="store_true", help="10k only, fewer requests")
    parser.add_argument("--requests", type=int, default=300, help="requests per latency run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--store", choices=("faiss", "qdrant"), default="faiss", help="qdrant: the embedded qdrant-edge"
    )
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.requests, args.runs = "10000", 100, 1
    sizes = [int(s) for s in args.sizes.split(",")]
    model = load_embedder(Settings())
    real, vectors = real_products(model)
    rows = [measure(n, real, vectors, model.name, args) for n in sizes]
    command = "python benchmarks/scale.py " + ("--quick" if args.quick else f"--sizes {args.sizes}")
    command += f" --store {args.store}" if args.store != "faiss" else ""
    result = {"machine": machine(), "command": command, "store": args.store, "rows": rows}
    name = "scale" if args.store == "faiss" else f"scale-{args.store}"
    write_result(name, result)
    render(result, name)


COLUMNS = [
    ("products", "products", None),
    ("synthetic_products", "of which recombined", None),
    ("index_products_per_s", "indexing, products/s (embedding excluded)", None),
    ("search_index", "vector index", None),
    ("index_build_s", "vector index build s (within indexing)", "index_build_s"),
    ("disk_mb", "disk MB", "disk_mb"),
    ("head_seconds", "head training s", "head_seconds"),
    ("head_peak_rss_mb", "head training peak RSS MB", "head_peak_rss_mb"),
    ("server_rss_mb", "server RSS MB (ready)", "server_rss_mb"),
    ("p50_ms_1", "p50 ms, 1 client", "p50_ms_1"),
    ("p99_ms_1", "p99 ms, 1 client", "p99_ms_1"),
    ("requests_per_s_32", "requests/s, 32 clients", "requests_per_s_32"),
    ("p99_ms_32", "p99 ms, 32 clients", "p99_ms_32"),
    ("put_p50_ms", "PUT p50 ms", "put_p50_ms"),
    ("retrain_s", "head retrain after writes, s (in the server, background)", None),
    ("retrain_read_p99_ms", "p99 ms of reads during that retrain, 1 client", None),
    ("retrain_read_max_ms", "slowest read during that retrain, ms", None),
    ("visible_on_next_request", "write visible on the next request", None),
    ("recall_at_10", "recall@10 vs exact (real vectors)", None),
]


def render(result: dict, section: str) -> None:
    rows, m = result["rows"], result["machine"]
    store = {"faiss": "FAISS (the default store)", "qdrant": "embedded Qdrant (qdrant-edge)"}[
        result.get("store", "faiss")
    ]
    lines = [
        f"## Scale: semcat end to end at growing catalog sizes, {store}",
        "",
        f"Command: `{result['command']}` — {m['date']}, {m['cpu']}, {m['cores']} cores. "
        f"Result file: `benchmarks/results/{section}.json`. How the catalogs are built (real products first, then "
        "recombinations within a leaf category): the docstring of `benchmarks/scale.py`.",
        "",
        "| | " + " | ".join(f"{r['products']:,}" for r in rows) + " | growth per 10x |",
        "|---|" + "---|" * (len(rows) + 1),
    ]
    for key, label, grow in COLUMNS[1:]:
        cells = [str(r.get(key, "–")) for r in rows]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {growth(rows, grow) if grow else '–'} |")
    update_doc_section(section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
