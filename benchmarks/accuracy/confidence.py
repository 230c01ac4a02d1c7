"""Confidence a catalog team can act on: coverage at a precision, calibration, the auto decision.

    .venv/bin/python benchmarks/accuracy/confidence.py [--datasets flipkart1050,flipkart20k,cdiscount]
    .venv/bin/python benchmarks/accuracy/confidence.py --datasets pricerunner   # a fourth catalog, 7 min

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

``--multi-filed SHARE``: a catalog that files the same product under several categories.
The paths are cut at the labels' category depth, then a random SHARE of the products is
stored a second time (id suffixed ``#2``), same text and vector, under the category of the
closest product filed elsewhere: the related category a marketplace also lists it under.
Each copy is a product of its own, right only
on its own label, so where one copy is trained on and the other held out, the held-out
copy's "certain" answer is wrong. What the confidence and ``auto`` must do there: send
such products to review, and keep the realized precision on target.

``--multi-filed-by category``: whole categories filed twice instead of products drawn one
by one (a marketplace that lists all of its wall clocks under a gifts category too): the
categories drawn at random until they hold SHARE of the products, each one's products
stored again under the category whose mean vector is closest to its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from levels import LABELS, eval_config

from _common import RESULTS, catalog, embedded, publish
from semcat.catalog import PATH_JOIN
from semcat.catalog.product import category_prefixes
from semcat.categorize.depth import category_depth
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.evaluation import LabeledSet, run_evaluation
from semcat.evaluation.render import confidence_section

COPY = "#2"  # a second filing's id: the first's with this suffix


BY = ("product", "category")  # what --multi-filed draws: products one by one, or whole categories


def multi_filed(data: LabeledSet, share: float, seed: int = 0, by: str = "product") -> LabeledSet:
    """``data`` with ``share`` of its products filed a second time: drawn one by one, each
    under the category of its closest product filed elsewhere, or ``by`` category, whole
    categories under the one closest to each (module docstring)."""
    # cut at the category depth first: a copy filed under its neighbor's whole path would
    # also take the neighbor's product-name levels, and the detected depth with them
    depth = category_depth(data.labels(None)) or 1
    data = replace(data, paths=[tuple(p)[:depth] for p in data.paths])
    rng = np.random.default_rng(seed)
    unit = data.vectors / np.linalg.norm(data.vectors, axis=1, keepdims=True)
    second: list[tuple[str, ...]] = []
    if by == "category":
        names = sorted(set(data.paths))
        where = {path: k for k, path in enumerate(names)}
        of = np.array([where[p] for p in data.paths])
        centroids = np.stack([unit[of == k].mean(axis=0) for k in range(len(names))])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        sims = centroids @ centroids.T
        np.fill_diagonal(sims, -np.inf)
        drawn, size = [], 0
        for k in rng.permutation(len(names)).tolist():
            if size >= share * len(data):
                break
            drawn.append(k)
            size += int((of == k).sum())
        target = {k: names[int(np.argmax(sims[k]))] for k in drawn}
        picks = np.flatnonzero(np.isin(of, drawn))
        second = [target[int(of[row])] for row in picks]
    else:
        picks = np.sort(rng.choice(len(data), size=round(share * len(data)), replace=False))
        for begin in range(0, len(picks), 512):
            rows = picks[begin : begin + 512]
            for row, sims in zip(rows, unit[rows] @ unit.T, strict=True):
                order = np.argsort(-sims, kind="stable")
                second.append(data.paths[next(j for j in order if data.paths[j] != data.paths[row])])
    copies = data.subset(picks)
    ids = [i + COPY for i in copies.ids]
    payloads = [
        p
        | {
            "id": i,
            "category": PATH_JOIN.join(path),
            "category_levels": list(path),
            "category_prefixes": category_prefixes(path),
        }
        for i, p, path in zip(ids, copies.payloads, second, strict=True)
    ]
    return LabeledSet(
        ids=data.ids + ids,
        vectors=np.concatenate([data.vectors, copies.vectors]),
        paths=data.paths + second,
        texts=data.texts + copies.texts,
        payloads=data.payloads + payloads,
        model=data.model,
        embed_seconds=data.embed_seconds,
        encoder=data.encoder,
    )


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
        f"({100 * (ours - svm):+.2f} points). semcat's ECE per level: {eces}. Realized precision of `auto` "
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
    parser.add_argument(
        "--multi-filed",
        type=float,
        default=None,
        help="file this share of the products a second time under a related category (module docstring)",
    )
    parser.add_argument(
        "--multi-filed-by",
        choices=BY,
        default="product",
        help="draw the products filed twice one by one, or as whole categories (module docstring)",
    )
    args = parser.parse_args()
    embedder = load_embedder(Settings())
    for name in args.datasets.split(","):
        data = embedded(name, catalog(name), embedder)
        if args.depth is not None:
            data = replace(data, paths=[tuple(p)[: args.depth] for p in data.paths])
        if args.multi_filed is not None:
            data = multi_filed(data, args.multi_filed, by=args.multi_filed_by)
        # every catalog scored down to its category depth (paths are cut there, as served)
        config = replace(eval_config(name, ("knn", "tfidf")), confidence=True, max_level=3, full_path=True)
        if args.calibration_folds is not None:
            config = replace(config, calibration_folds=args.calibration_folds)
        start = time.perf_counter()
        suffix = (
            ("" if args.depth is None else f"_depth{args.depth}")
            + ("" if args.calibration_folds is None else f"_folds{args.calibration_folds}")
            + ("" if args.multi_filed is None else f"_multi{round(100 * args.multi_filed)}")
            + ("" if args.multi_filed is None or args.multi_filed_by == "product" else "_by_category")
        )
        out = RESULTS / ("confidence-" + name + suffix.replace("_", "-"))
        (result,) = run_evaluation([data], replace(config, plots=True), out, progress=True)
        seconds = time.perf_counter() - start
        command = (
            f"python benchmarks/accuracy/confidence.py --datasets {name}"
            + (f" --depth {args.depth}" if args.depth is not None else "")
            + (f" --calibration-folds {args.calibration_folds}" if args.calibration_folds is not None else "")
            + (f" --multi-filed {args.multi_filed}" if args.multi_filed is not None else "")
            + (" --multi-filed-by category" if "by_category" in suffix else "")
        )
        markdown = "\n".join(
            [
                f"{LABELS[name]}"
                + ("" if args.depth is None else f", labels cut at level {args.depth}")
                + (
                    ""
                    if args.multi_filed is None
                    else f", {args.multi_filed:.0%} of the products filed a second time under a related category"
                    + (" (whole categories)" if args.multi_filed_by == "category" else "")
                )
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
