"""The linear head trained on a sample against the head trained on every labeled product,
same folds: what ``SEMCAT_HEAD_MAX_PRODUCTS`` costs in accuracy and saves in time.

    .venv/bin/python benchmarks/accuracy/head_sample.py [--dataset cdiscount] [--max-products 20000]

Stratified 5-fold CV, seed 0, every level (levels.py's protocol), the default categorizer
(``knn@10``: vote + per-level head) with the head trained on at most --max-products of
each fold's training products (every product of the rarer leaves, a random share of the
common ones: ``semcat.categorize.head_data.training_sample``) and on all of them, the
same embedded vectors for both. On cdiscount a fold trains on 40,000 products in 2,640
leaves, so a 20,000 cap halves the head's training set where the shipped 50,000 cap
leaves it whole: the study shows what sampling costs before a catalog reaches the cap.
Writes benchmarks/results/head_sample.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import catalog, embedded, publish
from accuracy.levels import eval_config
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import run_evaluation
from semcat.options import HEAD_DEFAULTS

METHOD = "knn@10"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="cdiscount")
    parser.add_argument("--max-products", type=int, default=20_000)
    args = parser.parse_args()
    data = embedded(args.dataset, catalog(args.dataset), load_embedder(Settings()))
    rows = {}
    for label, cap in ((f"sample of at most {args.max_products:,}", args.max_products), ("all products", None)):
        config = eval_config(args.dataset, ("knn",), head=replace(HEAD_DEFAULTS, max_products=cap))
        start = time.perf_counter()
        (result,) = run_evaluation([data], config, None, progress=True)
        rows[label] = {
            "max_products": cap,
            "accuracy": {lvl: s[METHOD]["accuracy"] for lvl, s in result["per_level"].items() if METHOD in s},
            "fit_seconds": result.get("per_level", {}).get("1", {}).get(METHOD, {}).get("fit_seconds"),
            "seconds": round(time.perf_counter() - start),
        }
        print(label, rows[label], flush=True)
    levels = list(next(iter(rows.values()))["accuracy"])
    command = f"python benchmarks/accuracy/head_sample.py --dataset {args.dataset} --max-products {args.max_products}"
    lines = [
        "## Linear head on a sample of the labeled products",
        "",
        f"Command: `{command}`. Stratified 5-fold CV, seed 0, the default categorizer (`{METHOD}`), the head "
        "trained on a sample (every product of the rarer leaves, the common ones capped) or on every product "
        "of the fold, same vectors and folds.",
        "",
        "| head trained on | "
        + " | ".join(f"level {lvl}" if lvl != "full" else "full path" for lvl in levels)
        + " | whole run, s |",
        "|---|" + "---|" * (len(levels) + 1),
    ]
    for label, row in rows.items():
        lines.append(
            f"| {label} | " + " | ".join(f"{row['accuracy'][lvl]:.4f}" for lvl in levels) + f" | {row['seconds']} |"
        )
    publish("head_sample", {"command": command, "dataset": args.dataset, "rows": rows}, "head-sample", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
