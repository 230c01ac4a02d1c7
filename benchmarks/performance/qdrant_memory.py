"""What one Qdrant shard holds per 1M product vectors, with and without int8 scalar
quantization: the figures docs/scale-out.md's capacity plan is computed from.

    .venv/bin/python benchmarks/performance/qdrant_memory.py [--products 1000000]

Vectors: benchmarks/scale.py's catalog (real MiniLM embeddings of ~70.7k products, then
points between two real products of one leaf; its docstring says exactly how), each with
semcat's payload fields the categorizer filters on (id, category, category_prefixes,
category_levels), keyword-indexed. Engine: qdrant-edge, the Qdrant shard code a server
runs too (segments, HNSW, payload indexes, quantization), in this process; a server adds
its API, the cluster's consensus and replicas on top, none of which can run here.

Configurations (HNSW M=16, ef_construct=100 in both, semcat's defaults):

- ``plain``: original float32 vectors, HNSW graph and payload indexes in RAM.
- ``int8``: scalar int8 quantization kept in RAM, the original vectors on disk
  (``Memory.Cold``), read only to rescore the candidates.

For each: build (upserts of 2,048 points, then the HNSW optimization); then in a fresh
child process: load the shard, search 500 real product vectors (hnsw_ef 128): p50 / p99,
recall@10 against exact search (ties tolerated), RSS after the searches and before the
load (the interpreter and the library); disk of the shard with and without its
write-ahead log. Writes benchmarks/results/qdrant_memory.json and its table in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, update_doc_section, write_result
from semcat.catalog.product import PATH_JOIN
from semcat.options import HNSW_DEFAULTS
from semcat.search.qdrant_edge import FULL_SCAN_KB
from semcat.search.qdrant_store import PAYLOAD_INDEXES

CONFIGS = ("plain", "int8")
QUERIES = 500

CHILD = """
import json, sys, time
import numpy as np
import qdrant_edge as qe

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

base = rss()
shard = qe.EdgeShard.load(sys.argv[1])
data = np.load(sys.argv[2])
queries, truth_tenth, sims_ids = data["queries"], data["tenth"], None
lat, hits = [], 0
for j, q in enumerate(queries):
    t0 = time.perf_counter()
    found = shard.query(qe.QueryRequest(limit=10, query=qe.Query.Nearest(q.tolist(), using="text"),
                                        params=qe.SearchParams(hnsw_ef=128), with_vector=["text"]))
    lat.append((time.perf_counter() - t0) * 1000)
    hits += sum(float(np.dot(q, np.asarray(p.vector["text"], dtype=np.float32))) >= truth_tenth[j] - 1e-4
                for p in found)
lat.sort()
print(json.dumps({"rss_base_mb": base, "rss_mb": rss(), "p50_ms": lat[len(lat) // 2],
                  "p99_ms": lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))],
                  "recall_at_10": hits / (10 * len(queries))}))
shard.close()
"""


def config(qe: object, kind: str) -> object:
    params = {"size": 384, "distance": qe.Distance.Cosine}
    quantization = None
    if kind == "int8":
        params["memory"] = qe.Memory.Cold
        quantization = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Cached)
    return qe.EdgeConfig(
        vectors={"text": qe.EdgeVectorParams(**params)},
        hnsw_config=qe.HnswIndexConfig(
            m=HNSW_DEFAULTS.m, ef_construct=HNSW_DEFAULTS.ef_construction, full_scan_threshold=FULL_SCAN_KB
        ),
        quantization_config=quantization,
    )


def folder_mb(path: Path, skip: str | None = None) -> float:
    files = (f for f in path.rglob("*") if f.is_file() and (skip is None or skip not in f.parts))
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)


def fill(qe: Any, shard: Any, products: list, dense: np.ndarray) -> float:
    """semcat's keyword payload indexes, then every product (vector ``text`` and the payload
    fields the categorizer filters on) in upserts of 2,048; returns the upserts' seconds."""
    for key in PAYLOAD_INDEXES:
        shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
    start = time.perf_counter()
    for s in range(0, len(products), 2048):
        points = []
        for i in range(s, min(len(products), s + 2048)):
            path = list(products[i].category)
            prefixes = [PATH_JOIN.join(path[: n + 1]) for n in range(len(path))]
            payload = {"id": products[i].id, "category": prefixes[-1], "category_prefixes": prefixes}
            points.append(qe.Point(i, {"text": dense[i].tolist()}, payload | {"category_levels": path}))
        shard.update(qe.UpdateOperation.upsert_points(points))
    return time.perf_counter() - start


def build(kind: str, folder: Path, products: list, dense: np.ndarray) -> dict:
    import qdrant_edge as qe

    shard = qe.EdgeShard.create(str(folder), config(qe, kind))
    upserts = fill(qe, shard, products, dense)
    shard.flush()
    start = time.perf_counter()
    shard.optimize()
    optimize = time.perf_counter() - start
    shard.flush()
    shard.close()
    return {"upsert_s": round(upserts, 1), "optimize_s": round(optimize, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1_000_000)
    args = parser.parse_args()
    import scale
    from semcat.config import Settings
    from semcat.embedding import load_embedder

    real, vectors = scale.real_products(load_embedder(Settings()))
    products, dense = scale.build(args.products, real, vectors)
    rows_q = np.random.default_rng(1).choice(len(real), size=QUERIES, replace=False)
    queries = vectors[rows_q]
    sims = queries @ dense.T
    tenth = -np.partition(-sims, 9, axis=1)[:, 9]
    del sims
    rows = []
    with tempfile.TemporaryDirectory(prefix="semcat-qdrant-memory-") as tmp:
        np.savez(Path(tmp) / "queries.npz", queries=queries, tenth=tenth)
        for kind in CONFIGS:
            folder = Path(tmp) / kind
            row = {"config": kind, "vectors": args.products, **build(kind, folder, products, dense)}
            child = subprocess.run(
                [sys.executable, "-c", CHILD, str(folder), str(Path(tmp) / "queries.npz")],
                capture_output=True,
                text=True,
                check=True,
            )
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            row.update({k: round(v, 4 if k == "recall_at_10" else 1) for k, v in measured.items()})
            row["disk_mb"] = folder_mb(folder)
            row["disk_without_wal_mb"] = folder_mb(folder, skip="wal")
            shutil.rmtree(folder, ignore_errors=True)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "machine": machine(),
        "command": f"python benchmarks/performance/qdrant_memory.py --products {args.products}",
        "rows": rows,
    }
    write_result("qdrant_memory", result)
    render(result)


def render(result: dict) -> None:
    m = result["machine"]
    lines = [
        "## One Qdrant shard per 1M product vectors, with and without int8 quantization",
        "",
        f"Command: `{result['command']}` — {m['date']}, {m['cpu']}, {m['cores']} cores. Result file: "
        "`benchmarks/results/qdrant_memory.json`. Engine: qdrant-edge (Qdrant's shard code in process); "
        "vectors: benchmarks/scale.py's catalog; what each configuration keeps where: the script's docstring.",
        "",
        "| vectors | config | upserts s | HNSW build s | RSS MB (loaded, after 500 searches) | RSS MB before "
        "loading | disk MB | disk MB without WAL | p50 ms | p99 ms | recall@10 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['vectors']:,} | {r['config']} | {r['upsert_s']} | {r['optimize_s']} | {r['rss_mb']} | "
            f"{r['rss_base_mb']} | {r['disk_mb']} | {r['disk_without_wal_mb']} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{r['recall_at_10']} |"
        )
    update_doc_section("qdrant-memory", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
