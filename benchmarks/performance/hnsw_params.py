"""FAISS HNSW on real product vectors: build time and recall@10 by parameters and by
insertion order, the probes behind semcat's HNSW defaults (docs/design-notes.md).

    .venv/bin/python benchmarks/performance/hnsw_params.py --products 1000000 [--study params|order]

Vectors: benchmarks/scale.py's catalog of ``--products`` (real MiniLM embeddings, then
points between two real products of one leaf). Queries: 500 real products' vectors
(seed 1); recall@10 against exact search, a hit being any result as close as the exact
10th neighbor (ties between copies). FAISS on every core, adds of 8,192 vectors; search on
one thread.

- ``params``: M / efConstruction / storage (float32 or SQ8) at efSearch 64 and 128, in
  the catalog's own order.
- ``order``: M=16, efConstruction=100, efSearch 128, inserted sorted by text length (how
  `semcat index` stores a catalog), sorted then shuffled within each add, and random.
Prints one line per configuration; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BATCH = 8192
CORES = faiss.omp_get_max_threads()


def recall(index: faiss.Index, queries: np.ndarray, sims: np.ndarray, tenth: np.ndarray, perm: np.ndarray) -> float:
    faiss.omp_set_num_threads(1)
    _, found = index.search(queries, 10)
    faiss.omp_set_num_threads(CORES)
    hits = sum(int((sims[i, perm[found[i]]] >= tenth[i] - 1e-6).sum()) for i in range(len(queries)))
    return hits / (10 * len(queries))


def build(index: faiss.Index, dense: np.ndarray, perm: np.ndarray) -> float:
    start = time.perf_counter()
    if not index.is_trained:
        index.train(dense[perm[:100_000]])
    for at in range(0, len(perm), BATCH):
        index.add(dense[perm[at : at + BATCH]])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--study", choices=("params", "order"), default="order")
    args = parser.parse_args()
    import scale
    from semcat.config import Settings
    from semcat.embedding import load_embedder

    settings = Settings()
    real, vectors = scale.real_products(load_embedder(settings))
    products, dense = scale.build(args.products, real, vectors)
    queries = vectors[np.random.default_rng(1).choice(len(vectors), 500, replace=False)]
    sims = queries @ dense.T
    tenth = -np.partition(-sims, 9, axis=1)[:, 9]
    n, ip = len(dense), faiss.METRIC_INNER_PRODUCT
    faiss.omp_set_num_threads(CORES)
    if args.study == "params":
        configs = [
            ("M=32, efC=200", lambda: faiss.IndexHNSWFlat(384, 32, ip), 200),
            ("M=16, efC=100", lambda: faiss.IndexHNSWFlat(384, 16, ip), 100),
            ("M=32, efC=64", lambda: faiss.IndexHNSWFlat(384, 32, ip), 64),
            ("SQ8, M=16, efC=100", lambda: faiss.IndexHNSWSQ(384, faiss.ScalarQuantizer.QT_8bit, 16, ip), 100),
        ]
        for name, make, ef_construction in configs:
            index = make()
            index.hnsw.efConstruction = ef_construction
            seconds = build(index, dense, np.arange(n))
            for ef in (64, 128):
                index.hnsw.efSearch = ef
                print(
                    f"{n:,} {name}: build {seconds:.0f} s, efSearch {ef}: recall@10 "
                    f"{recall(index, queries, sims, tenth, np.arange(n)):.4f}",
                    flush=True,
                )
        return
    lengths = np.array([len(p.text(settings.text_fields)) for p in products])
    by_length = np.argsort(lengths, kind="stable")
    rng = np.random.default_rng(0)
    shuffled = np.concatenate([rng.permutation(by_length[at : at + BATCH]) for at in range(0, n, BATCH)])
    for name, perm in (
        ("by text length", by_length),
        ("by text length, shuffled per add", shuffled),
        ("random", rng.permutation(n)),
    ):
        index = faiss.IndexHNSWFlat(384, 16, ip)
        index.hnsw.efConstruction = 100
        seconds = build(index, dense, perm)
        index.hnsw.efSearch = 128
        print(
            f"{n:,} {name}: build {seconds:.0f} s, recall@10 {recall(index, queries, sims, tenth, perm):.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
