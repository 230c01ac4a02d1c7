"""Variants of the linear head's features, head alone (no kNN vote).

    .venv/bin/python benchmarks/studies/head_features.py flipkart 5     # flipkart-1050, all 5 folds (~1 min)
    .venv/bin/python benchmarks/studies/head_features.py cdiscount 1    # cdiscount-50k, fold 0 only (~10 min)

Stratified 5-fold CV, seed 0, main category; MiniLM vectors of the default text (title,
brand, description, attributes) from the accuracy suite's cache. Varies what
``semcat.categorize.head`` fixes: the character block, the dense part's weight, the minimum
document frequency of a word or n-gram. Prints accuracy and seconds per variant; the
shipped head is the first line. Writes benchmarks/results/head_features_<catalog>.json.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import dataset, embedded, publish
from semcat.catalog import read_catalog
from semcat.categorize import head as head_module
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.lexical import LexicalEncoder
from semcat.evaluation.report import EvalConfig, make_splits
from semcat.spaces import CHAR_SPACE, LEXICAL_SPACE

VARIANTS = [  # name, characters, dense weight, min_df
    ("words + chars, dense x0.5, min_df 2 (shipped)", True, 0.5, 2),
    ("words only, dense x0.5, min_df 2", False, 0.5, 2),
    ("words + chars, dense x1, min_df 2", True, 1.0, 2),
    ("words + chars, dense x0.5, min_df 1", True, 0.5, 1),
    ("words only, dense x1, min_df 1", False, 1.0, 1),
]


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "flipkart"
    folds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    if which == "cdiscount":
        products = read_catalog(dataset("cdiscount-50k", "cdiscount_test.csv")).products
    else:
        products = read_catalog(dataset("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv")).products
    data = embedded("cdiscount" if which == "cdiscount" else "flipkart1050", products, load_embedder(Settings()))
    splits = make_splits(data, EvalConfig(split="cv", folds=5, seed=0, level=1))[:folds]
    words = LexicalEncoder().encode(data.texts)
    chars = LexicalEncoder("char").encode(data.texts)
    labels = data.labels(1)
    shipped = (head_module.DENSE_WEIGHT, head_module.MIN_DF)
    rows = []
    try:
        for name, use_chars, dense_weight, min_df in VARIANTS:
            head_module.DENSE_WEIGHT, head_module.MIN_DF = dense_weight, min_df
            accs, start = [], time.perf_counter()
            for train, test in splits:
                head = head_module.LinearHead(
                    data.vectors[train],
                    [words[i] for i in train],
                    list(labels[train]),
                    chars=[chars[i] for i in train] if use_chars else None,
                )
                query = {"text": data.vectors[test], LEXICAL_SPACE: [words[i] for i in test]}
                query[CHAR_SPACE] = [chars[i] for i in test]
                predicted = [" > ".join(head.paths[j]) for j in head.probabilities(query).argmax(1)]
                accs.append(np.mean([p == str(t) for p, t in zip(predicted, labels[test], strict=True)]))
            seconds = time.perf_counter() - start
            print(f"{name:48s} {np.mean(accs):.4f}  ({seconds:.1f} s)", flush=True)
            rows.append({"variant": name, "accuracy": round(float(np.mean(accs)), 4), "seconds": round(seconds, 1)})
    finally:
        head_module.DENSE_WEIGHT, head_module.MIN_DF = shipped
    publish(
        f"head_features_{which}",
        {
            "command": f"python benchmarks/studies/head_features.py {which} {len(splits)}",
            "protocol": "head alone, stratified 5-fold CV seed 0, main category; the shipped head first",
            "variants": rows,
        },
    )


if __name__ == "__main__":
    main()
