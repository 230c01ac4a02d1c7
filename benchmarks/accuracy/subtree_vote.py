"""The deeper levels when the linear head moves a product to another main category.

    .venv/bin/python benchmarks/accuracy/subtree_vote.py [--datasets flipkart1050,cdiscount]

The default categorizer mixes the kNN vote with the linear head at the main category.
When the head overrules the vote, the vote's own path lies in another main category and
cannot give the sub-categories; semcat then votes a second time among the labeled
products of the main category the mix chose (``HybridCategorizer(subtree_vote=True)``,
the default). Before, such a prediction stopped at the main category, so every product
the head rescued counted as wrong at levels 2 and 3. This script measures both on the
same store and head per fold: stratified 5-fold CV on the main category, seed 0, k=10,
lexical 0.5 + head 0.7, the text `semcat index` embeds (MiniLM vectors, cached by
accuracy_suite.embedded). Accuracy per taxonomy level over the products whose label is
that deep, the full path, and the prediction time per product (search + vote + head, the
second vote included; the query embedding is not).

Writes benchmarks/results/subtree_vote.json and its table in docs/benchmarks.md.
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
from _common import DATASETS, dataset, embedded, machine, update_doc_section, write_result
from semcat.catalog import read_catalog
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import methods as m
from semcat.evaluation.metrics import level_accuracy
from semcat.evaluation.report import EvalConfig, make_splits

DEFAULT = "second vote in the chosen subtree (default)"
WITHOUT = "path stops at the main category (before)"
VARIANTS = (DEFAULT, WITHOUT)


def measure(name: str, embedder: Any) -> dict[str, Any]:
    folder, file = DATASETS[name]
    data = embedded(name, read_catalog(dataset(folder, file)).products, embedder)
    splits = make_splits(data, EvalConfig(split="cv", folds=5, seed=0, level=1))
    predicted: dict[str, list[tuple[str, ...]]] = {v: [()] * len(data) for v in VARIANTS}
    seconds = dict.fromkeys(VARIANTS, 0.0)
    moved = 0
    t0 = time.perf_counter()
    for fold, (train_idx, test_idx) in enumerate(splits):
        run = m.knn(
            data.subset(train_idx),
            data.subset(test_idx),
            10,
            lexical_weight=0.5,
            head_weight=0.7,
            variants={WITHOUT: {"subtree_vote": False}},
        )
        runs = {DEFAULT: run, WITHOUT: run.variants[WITHOUT]}
        for variant, r in runs.items():
            for i, path in zip(test_idx, r.predicted, strict=True):
                predicted[variant][i] = path
            seconds[variant] += r.predict_seconds
        # products whose path the second vote completed: the two variants differ only there
        moved += sum(a != b for a, b in zip(run.predicted, run.variants[WITHOUT].predicted, strict=True))
        print(f"  {name} fold {fold} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    depth = max(len(p) for p in data.paths)
    out: dict[str, Any] = {
        "products": len(data),
        "second_votes": moved,
        "variants": {},
    }
    for variant, paths in predicted.items():
        levels = level_accuracy(data.paths, paths, max_level=min(depth, 3))
        out["variants"][variant] = {
            "levels": {str(level): round(acc, 4) for level, acc in levels.items()},
            "full_path": round(
                float(np.mean([tuple(p) == tuple(t) for p, t in zip(paths, data.paths, strict=True)])), 4
            ),
            "predict_ms_per_product": round(1000 * seconds[variant] / len(data), 3),
        }
        print(f"  {variant}: {out['variants'][variant]}", flush=True)
    return out


def render(result: dict[str, Any]) -> None:
    lines = [
        f"Command: `{result['command']}` — {result['machine']['date']}, {result['machine']['cpu']}, "
        f"{result['machine']['cores']} cores. Stratified 5-fold CV on the main category, seed 0; k=10, "
        "lexical 0.5 + head 0.7 (the default); MiniLM. Accuracy of the path prefix at each level over the "
        "products whose label is that deep.",
        "",
        "| dataset | deeper levels when the head overrules the vote | level 1 | level 2 | level 3 | full path "
        "| predict ms/product |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        for variant, v in r["variants"].items():
            lv = v["levels"]
            lines.append(
                f"| {name} | {variant} | {lv.get('1', float('nan')):.4f} | {lv.get('2', float('nan')):.4f} | "
                f"{lv.get('3', float('nan')):.4f} | {v['full_path']:.4f} | {v['predict_ms_per_product']} |"
            )
    lines.append("")
    lines.append(
        "Products completed by the second vote: "
        + ", ".join(f"{n} {r['second_votes']} of {r['products']}" for n, r in result["datasets"].items())
        + "."
    )
    update_doc_section("subtree-vote", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart1050,cdiscount")
    args = parser.parse_args()
    embedder = load_embedder(Settings(model="minilm"))
    result: dict[str, Any] = {
        "machine": machine(),
        "command": "python benchmarks/accuracy/subtree_vote.py"
        + ("" if args.datasets == "flipkart1050,cdiscount" else f" --datasets {args.datasets}"),
        "datasets": {name: measure(name, embedder) for name in args.datasets.split(",")},
    }
    write_result("subtree_vote", result)
    render(result)


if __name__ == "__main__":
    main()
