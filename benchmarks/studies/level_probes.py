"""Probes behind the per-level head's design (docs/design-notes.md), the head alone.

    .venv/bin/python benchmarks/studies/level_probes.py [--dataset flipkart20k|cdiscount|flipkart1050]

Fold 0 of the stratified 5-fold CV (seed 0) of ``benchmarks/accuracy/levels.py``, MiniLM
vectors from the cache. The per-level head is trained on the training folds and walks
each held-out product down the taxonomy on its own (no vote): greedily (what ships,
before the vote is mixed in) and with a beam of 3 paths (joint probability). Then one
flat linear SVM over level 2's categories on the same features, for comparison.
Prints accuracy per level and seconds; writes benchmarks/results/level_probes_<dataset>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import catalog, embedded, publish
from semcat.categorize.head import LinearHead
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.lexical import LexicalEncoder
from semcat.evaluation import EvalConfig
from semcat.evaluation.report import make_splits
from semcat.search import DEFAULT_SPACE
from semcat.spaces import CHAR_SPACE, LEXICAL_SPACE


def walk(head: LinearHead, main: np.ndarray, features: Any, row: int, beam: int) -> tuple[str, ...]:
    """The best path of one product by the head alone, keeping ``beam`` partial paths."""
    frontier = [((head.paths[j][0],), float(main[row][j]), False) for j in np.argsort(-main[row])[:beam]]
    while not all(done for _, _, done in frontier):
        grown = []
        for path, score, done in frontier:
            below = None if done else head.below(path, features[row])
            if below is None:
                grown.append((path, score, True))
                continue
            children, probs = below
            for j in np.argsort(-probs[0])[:beam]:
                grown.append((children[j], score * float(probs[0][j]), children[j] == path))
        frontier = sorted(grown, key=lambda entry: -entry[1])[:beam]
    return frontier[0][0]


def accuracy(predicted: list[tuple[str, ...]], truth: list[tuple[str, ...]], level: int) -> float:
    return round(float(np.mean([p[:level] == t[:level] for p, t in zip(predicted, truth, strict=True)])), 4)


def main() -> None:
    from sklearn.svm import LinearSVC

    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="flipkart20k")
    args = parser.parse_args()
    data = embedded(args.dataset, catalog(args.dataset), load_embedder(Settings()))
    train_idx, test_idx = make_splits(data, EvalConfig(split="cv", folds=5, seed=0, level=None))[0]
    train, test = data.subset(train_idx), data.subset(test_idx)
    words, chars = LexicalEncoder(), LexicalEncoder("char")

    def rows(texts: list[str], vectors: np.ndarray) -> dict[str, Any]:
        return {DEFAULT_SPACE: vectors, LEXICAL_SPACE: words.encode(texts), CHAR_SPACE: chars.encode(texts)}

    start = time.perf_counter()
    trained = rows(train.texts, train.vectors)
    head = LinearHead(train.vectors, trained[LEXICAL_SPACE], list(train.labels(None)), chars=trained[CHAR_SPACE])
    results: dict[str, Any] = {
        "head_seconds": round(time.perf_counter() - start, 1),
        "main_seconds": round(head.main_seconds, 1),
    }
    queries = rows(test.texts, test.vectors)
    features = head.features(queries)
    main_probs = head.probabilities(queries, features)
    truth = [tuple(p) for p in test.paths]
    for beam in (1, 3):
        start = time.perf_counter()
        paths = [walk(head, main_probs, features, row, beam) for row in range(len(truth))]
        results[f"beam {beam}"] = {
            "accuracy": {level: accuracy(paths, truth, level) for level in (1, 2, 3)},
            "seconds": round(time.perf_counter() - start, 1),
        }
    start = time.perf_counter()
    flat = LinearSVC(C=1.0).fit(head._compact(head.features(trained)), train.labels(2))
    flat_paths = [tuple(str(label).split(" > ")) for label in flat.predict(head._compact(features))]
    results["flat level-2 SVM on the head's features"] = {
        "accuracy": {level: accuracy(flat_paths, truth, level) for level in (1, 2)},
        "seconds": round(time.perf_counter() - start, 1),
    }
    command = f"python benchmarks/studies/level_probes.py --dataset {args.dataset}"
    publish(f"level_probes_{args.dataset}", {"command": command, **results})
    for name, value in results.items():
        print(name, value, flush=True)


if __name__ == "__main__":
    main()
