"""Where the confidence stands on a catalog that files the same product twice.

    .venv/bin/python benchmarks/studies/multi_filed.py --share 0.05     # ~4 min
    .venv/bin/python benchmarks/studies/multi_filed.py --share 0.2
    .venv/bin/python benchmarks/studies/multi_filed.py --share 0.05 --dataset flipkart20k --depth 3

Runs ``benchmarks/accuracy/confidence.py --datasets flipkart1050 --multi-filed SHARE``
(or ``--dataset NAME [--depth N]``)
(stratified 5-fold CV, seed 0; its docs table is written as usual) and keeps each fold's
held-out predictions. Then groups the held-out products, pooled over the five folds, by
where their copy is: none (a product filed once), stored (the copy is in the fold's
training part, so a near-duplicate with another label is in the store) or held out with
them (nothing stored tells the two apart). Per group: products, share right, mean
confidence. Then, among the N most confident held-out products and among those the
``auto`` decision filed at each target, how many are wrong and in which group, with how
often the out-of-fold predictions above each fold's threshold were right.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "accuracy"))

import confidence as protocol  # noqa: E402

from semcat.evaluation import methods  # noqa: E402

GROUPS = ("filed once", "copy stored", "copy held out too")


def run(
    share: float, dataset: str = "flipkart1050", depth: int | None = None, by: str = "product"
) -> list[dict[str, Any]]:
    """confidence.py's run with ``--multi-filed share``, keeping each fold's held-out ids,
    true paths and predictions."""
    folds: list[dict[str, Any]] = []
    predict, decisions = methods._predict, methods._auto_decisions

    def keep(engine: Any, test: Any, opts: Any, batch: int) -> Any:
        predictions = predict(engine, test, opts, batch)
        folds.append({"ids": list(test.ids), "paths": list(test.paths), "predictions": predictions})
        return predictions

    def keep_auto(calibration: Any, predictions: list[Any]) -> dict[float, list[bool]]:
        auto = decisions(calibration, predictions)
        above = {}
        for target in auto:
            threshold = calibration.threshold(target)
            mine = calibration.ranked_confidence >= threshold if threshold is not None else []
            above[target] = (int(np.sum(mine)), int(np.sum(calibration.ranked_right[mine])))
        folds[-1] |= {"auto": auto, "out_of_fold_above": above, "near_duplicates": calibration.near_duplicates}
        return auto

    methods._predict, methods._auto_decisions = keep, keep_auto
    argv = sys.argv
    sys.argv = ["confidence.py", "--datasets", dataset, "--multi-filed", str(share), "--multi-filed-by", by]
    if depth is not None:
        sys.argv += ["--depth", str(depth)]
    try:
        protocol.main()
    finally:
        methods._predict, methods._auto_decisions, sys.argv = predict, decisions, argv
    if len(folds) != 5:  # only the evaluation's folds predict through _predict, once each
        raise SystemExit(f"expected the 5 evaluation folds, kept {len(folds)} prediction runs")
    return folds


def twin(product_id: str) -> str:
    return product_id[: -len(protocol.COPY)] if product_id.endswith(protocol.COPY) else product_id + protocol.COPY


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--top", type=int, default=400)
    parser.add_argument("--dataset", default="flipkart1050")
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--by", choices=protocol.BY, default="product")
    args = parser.parse_args()
    folds = run(args.share, args.dataset, args.depth, args.by)
    fold_of = {pid: k for k, f in enumerate(folds) for pid in f["ids"]}
    group, right, confidence = [], [], []
    for k, f in enumerate(folds):
        for pid, truth, p in zip(f["ids"], f["paths"], f["predictions"], strict=True):
            other = twin(pid)
            group.append(0 if other not in fold_of else (2 if fold_of[other] == k else 1))
            right.append(tuple(p.path) == tuple(truth)[: len(p.path)] and len(p.path) == len(truth))
            confidence.append(p.confidence or 0.0)
    g, ok, c = np.array(group), np.array(right), np.array(confidence)
    print(
        f"\n{args.share:.0%} of {args.dataset} filed twice (drawn by {args.by}): "
        f"{len(g):,} held-out products over the five folds"
    )
    print("| copy | products | right | mean confidence |\n|---|---|---|---|")
    for k, name in enumerate(GROUPS):
        mine = g == k
        print(f"| {name} | {mine.sum():,} | {ok[mine].mean():.1%} | {c[mine].mean():.3f} |")
    print("\nnear-duplicates, per fold (learned on its training part):")
    for k, f in enumerate(folds, start=1):
        print(f"  fold {k}: {f['near_duplicates'].line()}")
    top = np.argsort(-c, kind="stable")[: args.top]
    wrong = top[~ok[top]]
    parts = ", ".join(f"{name} {int((g[wrong] == k).sum())}" for k, name in enumerate(GROUPS))
    print(f"\nwrong among the {args.top} most confident: {len(wrong)} ({parts})")
    for target in folds[0]["auto"]:
        filed = np.concatenate([np.asarray(f["auto"][target], dtype=bool) for f in folds])
        missed = filed & ~ok
        parts = ", ".join(f"{name} {int((g[missed] == k).sum())}" for k, name in enumerate(GROUPS))
        n, r = (sum(f["out_of_fold_above"][target][i] for f in folds) for i in (0, 1))
        print(
            f"auto at {float(target):.2f}: filed {int(filed.sum())}, wrong {int(missed.sum())} ({parts}); "
            f"out of fold above the folds' thresholds: {r} of {n} right"
        )


if __name__ == "__main__":
    main()
