"""The embedded Qdrant's HNSW build time against filtered-search recall: Qdrant's
payload-aware links (``payload_m``) versus none plus ACORN at query time.

    .venv/bin/python benchmarks/studies/qdrant_filtered.py [--products 300000]

With keyword payload indexes, Qdrant builds, besides the main graph, one more graph per
indexed value held by more points than ``full_scan_threshold`` (in KB of vectors) — for
semcat's fields every category prefix and level name with more than ~6,700 products — so
that a search filtered to that value stays accurate. At 1M products that extra work made
the build take several times the main graph's. ``payload_m=0`` skips those graphs; a
filtered search then walks the main graph, which ACORN (``SearchParams.acorn``) keeps
accurate by looking two hops away when the filter is selective.

Vectors and payloads: benchmarks/scale.py's catalog, as benchmarks/performance/qdrant_memory.py
builds them. Per configuration: upserts, HNSW build (optimize) seconds; then for 300 real
product vectors: recall@10 and p50 ms unfiltered (the labeled filter every /categorize
search carries), filtered to the query product's main category, and to its level-2
subtree (what a caller's ``category`` and the level walk's restricted vote ask), each
with ACORN off and on, against exact search within the same filter.
Prints JSON lines (the 300k run's: benchmarks/results/qdrant_filtered.jsonl); the
figures are quoted in docs/design-notes.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "performance"))

from qdrant_memory import fill  # noqa: E402

from semcat.catalog.product import PATH_JOIN  # noqa: E402
from semcat.options import HNSW_DEFAULTS  # noqa: E402
from semcat.search.qdrant_edge import FULL_SCAN_KB  # noqa: E402

QUERIES = 300


def build(qe, folder: Path, products: list, dense: np.ndarray, payload_m: int | None) -> dict:
    config = qe.EdgeConfig(
        vectors={"text": qe.EdgeVectorParams(size=dense.shape[1], distance=qe.Distance.Cosine)},
        hnsw_config=qe.HnswIndexConfig(
            m=HNSW_DEFAULTS.m,
            ef_construct=HNSW_DEFAULTS.ef_construction,
            full_scan_threshold=FULL_SCAN_KB,
            payload_m=payload_m,
        ),
    )
    shard = qe.EdgeShard.create(str(folder), config)
    upserts = fill(qe, shard, products, dense)
    start = time.perf_counter()
    shard.optimize()
    optimize = time.perf_counter() - start
    return {"shard": shard, "upsert_s": round(upserts, 1), "optimize_s": round(optimize, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=300_000)
    args = parser.parse_args()
    import qdrant_edge as qe

    import scale
    from semcat.config import Settings
    from semcat.embedding import load_embedder

    real, vectors = scale.real_products(load_embedder(Settings()))
    products, dense = scale.build(args.products, real, vectors)
    members: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(products):
        for n in range(len(p.category)):
            members[PATH_JOIN.join(p.category[: n + 1])].append(i)
    rows_q = np.random.default_rng(1).choice(len(real), size=QUERIES, replace=False)
    cases = []  # (name, query row, prefix or None, exact 10th similarity)
    for q in rows_q:
        sims = dense @ vectors[q]
        cases.append(("labeled", q, None, float(-np.partition(-sims, 9)[9])))
        for depth, name in ((1, "main category"), (2, "level-2 subtree")):
            if len(real[q].category) >= depth:
                prefix = PATH_JOIN.join(real[q].category[:depth])
                inside = sims[members[prefix]]
                if len(inside) >= 10:
                    cases.append((name, q, prefix, float(-np.partition(-inside, 9)[9])))
    for payload_m in (None, 0):
        with tempfile.TemporaryDirectory(prefix="semcat-qdrant-filtered-") as tmp:
            built = build(qe, Path(tmp) / "shard", products, dense, payload_m)
            shard = built.pop("shard")
            for acorn in (False, True):
                stats: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
                for name, q, prefix, tenth in cases:
                    must = [qe.FieldCondition("category_prefixes", match=qe.MatchValue(prefix))] if prefix else []
                    flt = qe.Filter(must=must or None, must_not=[qe.IsEmptyCondition("category_levels")])
                    params = qe.SearchParams(
                        hnsw_ef=HNSW_DEFAULTS.ef_search, acorn=qe.AcornSearchParams(enable=acorn) if acorn else None
                    )
                    t0 = time.perf_counter()
                    found = shard.query(
                        qe.QueryRequest(
                            limit=10,
                            query=qe.Query.Nearest(vectors[q].tolist(), using="text"),
                            filter=flt,
                            params=params,
                            with_vector=["text"],
                        )
                    )
                    stats[name][0].append((time.perf_counter() - t0) * 1000)
                    stats[name][1].append(
                        sum(float(np.dot(vectors[q], np.asarray(p.vector["text"]))) >= tenth - 1e-4 for p in found)
                    )
                for name, (lat, hits) in stats.items():
                    print(
                        json.dumps(
                            {
                                "products": args.products,
                                "payload_m": "default (m)" if payload_m is None else payload_m,
                                **built,
                                "acorn": acorn,
                                "filter": name,
                                "queries": len(lat),
                                "recall_at_10": round(sum(hits) / (10 * len(hits)), 4),
                                "p50_ms": round(statistics.median(lat), 2),
                            }
                        ),
                        flush=True,
                    )
            shard.close()


if __name__ == "__main__":
    main()
