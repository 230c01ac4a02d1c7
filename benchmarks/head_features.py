"""Variants of the linear head's features (word IDF, weight of the dense part, C), head alone.

    .venv/bin/python benchmarks/head_features.py flipkart 5     # flipkart-1050, all 5 folds
    .venv/bin/python benchmarks/head_features.py cdiscount 1    # cdiscount-50k, fold 0 only (~4 min)

Stratified 5-fold CV, seed 0, main category; MiniLM vectors from the accuracy suite's
cache. Prints accuracy and seconds per variant. Not adopted yet (see docs/benchmarks.md).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import dataset
from accuracy_suite import embedded
from semcat.catalog import read_catalog
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.lexical import LexicalEncoder
from semcat.evaluation.report import EvalConfig, make_splits
from semcat.search import head as head_module


def smooth_idf(doc_freq: np.ndarray, n_docs: int) -> np.ndarray:
    return np.log((1 + n_docs) / (1 + np.asarray(doc_freq, dtype=np.float64))) + 1.0


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "flipkart"
    folds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    if which == "cdiscount":
        products = read_catalog(dataset("cdiscount-50k", "cdiscount_test.csv")).products
    else:
        products = read_catalog(dataset("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv")).products
    data = embedded("cdiscount" if which == "cdiscount" else "flipkart1050", products, load_embedder(Settings()))
    splits = make_splits(data, EvalConfig(split="cv", folds=5, seed=0, level=1))[:folds]
    lexical = LexicalEncoder().encode(data.texts)
    labels = data.labels(1)
    bm25 = head_module.bm25_idf
    variants = [
        ("BM25 idf, C 1, dense x1 (shipped)", bm25, 1.0, 1.0),
        ("smooth idf, C 1, dense x1", smooth_idf, 1.0, 1.0),
        ("smooth idf, C 0.5, dense x1", smooth_idf, 0.5, 1.0),
        ("smooth idf, C 1, dense x0.5", smooth_idf, 1.0, 0.5),
        ("smooth idf, C 1, dense x2", smooth_idf, 1.0, 2.0),
    ]
    for name, idf, c, scale in variants:
        head_module.bm25_idf = idf
        accs, start = [], time.perf_counter()
        for train, test in splits:
            head = head_module.LinearHead(
                data.vectors[train] * scale, [lexical[i] for i in train], list(labels[train]), c=c
            )
            probs = head.probabilities({"text": data.vectors[test] * scale, "lexical": [lexical[i] for i in test]})
            predicted = [" > ".join(head.paths[j]) for j in probs.argmax(1)]
            accs.append(np.mean([p == str(t) for p, t in zip(predicted, labels[test], strict=True)]))
        print(f"{name:36s} {np.mean(accs):.4f}  ({time.perf_counter() - start:.1f} s)", flush=True)
    head_module.bm25_idf = bm25


if __name__ == "__main__":
    main()
