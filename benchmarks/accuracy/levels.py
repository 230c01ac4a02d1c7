"""Every taxonomy level: the default categorizer against flat baselines retrained at each level.

    .venv/bin/python benchmarks/accuracy/levels.py [--datasets cdiscount,flipkart20k,flipkart1050]
        [--methods knn,tfidf,logreg,zero-shot,hybrid] [--head-levels N]

Stratified 5-fold CV, seed 0 (stratified on the main category where a deeper label has
fewer than 5 products), MiniLM vectors of the default text (cached under
benchmarks/.cache). Per catalog, one run of ``semcat evaluate --cv 5 --seed 0 --level all``'s
protocol (:class:`semcat.evaluation.EvalConfig` with ``per_level``): the default categorizer
(``knn@10``: the vote over dense and word vectors mixed with the linear head at every level
it decides), TF-IDF + linear SVM and logistic regression on the vectors each trained flat
at level 1, level 2, level 3 and the full path, zero-shot (category prompts of the
catalog's paths) and hybrid, all on the same folds. ``--head-levels 1`` measures the head
as it was (main category only). Writes benchmarks/results/levels_<catalog>.json and its
table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import catalog, embedded, publish
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import EvalConfig, run_evaluation
from semcat.evaluation.render import per_level_table
from semcat.options import HEAD_DEFAULTS, HeadOptions

LABELS = {
    "cdiscount": "cdiscount-50k (French; title, brand, description; 3 levels)",
    "flipkart20k": "flipkart-20k (product names only; levels 1 and 2: its deeper levels name brands and products)",
    "flipkart1050": "flipkart-1050 (title, brand, description)",
    "pricerunner": "pricerunner-35k (offer titles from 306 shops, many offers per product; one level, 10 categories)",
}
# how deep each catalog is scored: flipkart-20k's trees go on to brand and product names
# (thousands of one-product "classes" a flat SVM would take hours to fit)
LEVELS = {"flipkart20k": 2}


def eval_config(name: str, methods: tuple[str, ...], head: HeadOptions = HEAD_DEFAULTS) -> EvalConfig:
    """The per-level protocol: stratified 5-fold CV, seed 0, every level the catalog is scored at."""
    return EvalConfig(
        split="cv",
        folds=5,
        seed=0,
        level=None,
        per_level=True,
        max_level=LEVELS.get(name, 3),
        full_path=name not in LEVELS,
        k_grid=(10,),
        methods=methods,
        ari=False,
        tsne=False,
        plots=False,
        head=head,
        confidence=False,  # accuracy only, the labels as they are (confidence.py measures the confidence)
    )


def verdict(result: dict, max_level: int) -> str:
    """The default against TF-IDF + SVM at each level, in points."""
    cells = []
    for level, scores in result["per_level"].items():
        if level != "full" and int(level) > max_level:
            continue
        if "knn@10" in scores and "tfidf-svm" in scores:
            gap = 100 * (scores["knn@10"]["accuracy"] - scores["tfidf-svm"]["accuracy"])
            cells.append(f"{'full path' if level == 'full' else 'level ' + level} {gap:+.1f}")
    return "Default minus TF-IDF + SVM, points: " + ", ".join(cells) + "."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="cdiscount,flipkart20k,flipkart1050")
    parser.add_argument("--methods", default="knn,tfidf,logreg,zero-shot,hybrid")
    parser.add_argument("--head-levels", type=int, default=None)
    args = parser.parse_args()
    embedder = load_embedder(Settings())
    head = HeadOptions(c=HEAD_DEFAULTS.c, chars=HEAD_DEFAULTS.chars, levels=args.head_levels)
    for name in args.datasets.split(","):
        data = embedded(name, catalog(name), embedder)
        config = eval_config(name, tuple(args.methods.split(",")), head)
        start = time.perf_counter()
        (result,) = run_evaluation([data], config, None, progress=True)
        seconds = time.perf_counter() - start
        suffix = "" if args.head_levels is None else f"_head{args.head_levels}"
        command = f"python benchmarks/accuracy/levels.py --datasets {name} --methods {args.methods}" + (
            f" --head-levels {args.head_levels}" if args.head_levels else ""
        )
        timing = ", ".join(
            f"{method} fit {r['fit_seconds']:.0f} s / predict {r['predict_seconds']:.0f} s"
            for method, r in result["methods"].items()
        )
        markdown = "\n".join(
            [
                f"{LABELS[name]}: {result['products']:,} products, {result['split']}. Command: `{command}` "
                f"({seconds / 60:.0f} min).",
                "",
                *per_level_table(result)[2:],
                "",
                verdict(result, 3),
                f"Totals over the folds: {timing}.",
            ]
        )
        publish(
            f"levels_{name}{suffix}",
            {
                "command": command,
                "seconds": round(seconds),
                # the per-category report of thousands of leaves is in `semcat evaluate`'s report
                "result": {k: v for k, v in result.items() if k != "classification_report"},
            },
            section=f"levels-{name}{suffix}",
            markdown=markdown,
        )
        print(markdown, flush=True)


if __name__ == "__main__":
    main()
