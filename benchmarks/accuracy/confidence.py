"""Confidence a catalog team can act on: coverage at a precision, calibration, the auto decision.

    .venv/bin/python benchmarks/accuracy/confidence.py [--datasets flipkart1050,flipkart20k,cdiscount]

Stratified 5-fold CV, seed 0, MiniLM vectors of the default text (cached under
benchmarks/.cache): ``semcat evaluate --cv 5 --seed 0 --level all``'s protocol with the
confidence report (:class:`semcat.evaluation.EvalConfig` ``confidence``). The default
categorizer as served: paths cut at the labels' category depth, the confidence learned
on each training part alone (out-of-fold predictions over it, as the service does over its
store), the ``auto`` decision at targets 0.90 / 0.95 / 0.98 / 0.99; TF-IDF + linear SVM
trained flat at each level and calibrated by scikit-learn's CalibratedClassifierCV as the
reference. Per level and for the full path: coverage at 90/95/98/99% precision (the share
of held-out products filed, most confident first, at that precision) and the expected
calibration error. Writes benchmarks/results/confidence_<catalog>.json, a reliability
diagram under benchmarks/results/confidence-<catalog>/ and the tables in docs/benchmarks.md.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from levels import LABELS, eval_config

from _common import RESULTS, catalog, embedded, publish
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import run_evaluation
from semcat.evaluation.render import confidence_section


def verdict(result: dict) -> str:
    """semcat's coverage at 99% against the calibrated SVM's, and the auto decision's realized precision."""
    confidence = result["confidence"]
    deepest = "full" if "full" in confidence["levels"] else list(confidence["levels"])[-1]
    row = confidence["levels"][deepest]
    ours, svm = row["knn@10"]["coverage"]["0.99"], row["tfidf-svm"]["coverage"]["0.99"]
    where = "full path" if deepest == "full" else f"level {deepest}"
    eces = ", ".join(
        f"{'full' if lv == 'full' else 'level ' + lv} {methods['knn@10']['ece']:.3f}"
        for lv, methods in confidence["levels"].items()
    )
    auto = confidence["auto"]["knn@10"]
    realized = ", ".join(f"{float(t):.0%}: {r['precision']:.4f}" for t, r in auto.items() if r["precision"] is not None)
    return (
        f"Coverage at 99% precision, {where}: semcat {ours:.1%}, calibrated TF-IDF + SVM {svm:.1%} "
        f"({100 * (ours - svm):+.1f} points). semcat's ECE per level: {eces}. Realized precision of `auto` "
        f"per target: {realized}."
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart1050,flipkart20k,cdiscount")
    parser.add_argument(
        "--depth",
        type=int,
        default=None,
        help="cut the labels at this level first (as a team filing at that level would set SEMCAT_PREDICT_DEPTH)",
    )
    parser.add_argument(
        "--calibration-folds",
        type=int,
        default=None,
        help="out-of-fold runs the confidence is learned from (default: the service's); prints, no docs table",
    )
    args = parser.parse_args()
    embedder = load_embedder(Settings())
    for name in args.datasets.split(","):
        data = embedded(name, catalog(name), embedder)
        if args.depth is not None:
            data = replace(data, paths=[tuple(p)[: args.depth] for p in data.paths])
        # every catalog scored down to its category depth (paths are cut there, as served)
        config = replace(eval_config(name, ("knn", "tfidf")), confidence=True, max_level=3, full_path=True)
        if args.calibration_folds is not None:
            config = replace(config, calibration_folds=args.calibration_folds)
        start = time.perf_counter()
        suffix = ("" if args.depth is None else f"_depth{args.depth}") + (
            "" if args.calibration_folds is None else f"_folds{args.calibration_folds}"
        )
        out = RESULTS / ("confidence-" + name + suffix.replace("_", "-"))
        (result,) = run_evaluation([data], replace(config, plots=True), out, progress=True)
        seconds = time.perf_counter() - start
        command = (
            f"python benchmarks/accuracy/confidence.py --datasets {name}"
            + (f" --depth {args.depth}" if args.depth is not None else "")
            + (f" --calibration-folds {args.calibration_folds}" if args.calibration_folds is not None else "")
        )
        markdown = "\n".join(
            [
                f"{LABELS[name]}"
                + ("" if args.depth is None else f", labels cut at level {args.depth}")
                + f": {result['products']:,} products, {result['split']}. Command: `{command}` "
                f"({seconds / 60:.0f} min). Reliability diagram: "
                f"`{out.relative_to(RESULTS.parents[1])}/{next(iter(result.get('plots', [])), '')}`.",
                "",
                *confidence_section(result)[2:],
                "",
                verdict(result),
            ]
        )
        keep = {k: v for k, v in result.items() if k not in ("classification_report", "confusion_matrix")}
        publish(
            f"confidence_{name}{suffix}",
            {"command": command, "seconds": round(seconds), "result": keep},
            section=None if args.calibration_folds is not None else f"confidence-{name}{suffix}",
            markdown=markdown,
        )
        print(markdown, flush=True)


if __name__ == "__main__":
    main()
