"""What a held-out product with a stored near-duplicate should be answered, per catalog.

    .venv/bin/python benchmarks/studies/near_duplicates.py --dataset flipkart1050 --multi-filed 0.2
    .venv/bin/python benchmarks/studies/near_duplicates.py --dataset flipkart1050           # the plain catalog

Stratified 5-fold CV, seed 0, the labels cut at their category depth (``--multi-filed
SHARE [--by category]``: confidence.py's catalog that files products twice). Each fold's
held-out products that have a near-duplicate (cosine >= the categorizer's threshold) in
the training part are answered five ways, and the share right is printed for each:

- ``follow``: the default categorizer, whose near-duplicate rule lets the copy's label decide;
- ``set aside``: the other dense neighbors' vote (:func:`semcat.categorize.vote.set_aside`,
  what the service answers where the calibration sets near-duplicates aside);
- ``retrained without``: the default categorizer over a store, and a head, without any
  near-duplicate of the fold's held-out products (a reference: no request can retrain);
- ``rule off``: the default categorizer with ``duplicate_threshold`` unset (the copy votes
  as one neighbor among the others);
- ``vote without, head kept``: the copies left out of the dense vote only; the head
  (trained on them) and the word vote still read them.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "accuracy"))

import confidence as protocol  # noqa: E402

from _common import catalog, embedded  # noqa: E402
from semcat.catalog import PATH_JOIN  # noqa: E402
from semcat.categorize.calibration import Labeled, _folds, predict_part  # noqa: E402
from semcat.categorize.depth import category_depth  # noqa: E402
from semcat.config import Settings  # noqa: E402
from semcat.embedding import load_embedder  # noqa: E402
from semcat.options import HEAD_DEFAULTS, QueryOptions  # noqa: E402

VOTE = sys.modules["semcat.categorize.vote"]  # the package re-exports a function of the same name
WAYS = ("follow", "set aside", "retrained without", "rule off", "vote without, head kept")


def predict(products: Labeled, train: np.ndarray, test: np.ndarray, options: QueryOptions) -> list[Any]:
    """``test``'s predictions by the default categorizer over a store and head of ``train``."""
    return [p for _, p in predict_part(products, train, test, options, HEAD_DEFAULTS)]


def without_copies_voting() -> Any:
    """A tally that leaves the near-duplicates out of the dense vote (and lists them as neighbors)."""
    original = VOTE.tally

    def tally(hits: Any, *, power: float, depth: Any, duplicate_threshold: Any, space: str) -> Any:
        if duplicate_threshold is None:
            return original(hits, power=power, depth=depth, duplicate_threshold=None, space=space)
        kept = [h for h in hits if h.score < duplicate_threshold]
        voted = original(kept, power=power, depth=depth, duplicate_threshold=None, space=space)
        listed = original(hits, power=power, depth=depth, duplicate_threshold=None, space=space)
        return VOTE.Vote(voted.mass, voted.closest, listed.neighbors, False)

    return tally


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="flipkart1050")
    parser.add_argument("--depth", type=int, default=None, help="cut the labels at this level first")
    parser.add_argument("--multi-filed", type=float, default=None)
    parser.add_argument("--by", choices=protocol.BY, default="product")
    args = parser.parse_args()
    data = embedded(args.dataset, catalog(args.dataset), load_embedder(Settings()))
    if args.depth is not None:
        data = replace(data, paths=[tuple(p)[: args.depth] for p in data.paths])
    if args.multi_filed is not None:
        data = protocol.multi_filed(data, args.multi_filed, by=args.by)
    else:
        depth = category_depth(data.labels(None)) or 1
        data = replace(data, paths=[tuple(p)[:depth] for p in data.paths])
    options = replace(QueryOptions(), depth=max(len(p) for p in data.paths))
    threshold = options.duplicate_threshold
    assert threshold is not None
    labels = [PATH_JOIN.join(p) for p in data.paths]
    products = Labeled.of(data.vectors.astype(np.float32), data.texts, labels, options, HEAD_DEFAULTS)
    unit = products.dense / np.linalg.norm(products.dense, axis=1, keepdims=True)
    right = dict.fromkeys(WAYS, 0)
    group = overall = 0
    for test in _folds(products.labels, 5, 0):
        train = np.setdiff1d(np.arange(len(products.labels)), test)
        sims = unit[test] @ unit[train].T
        has = (sims >= threshold).any(axis=1)
        mine = test[has]
        if not len(mine):
            continue
        follow = predict(products, train, test, options)
        overall += sum(p.category == products.labels[i] for i, p in zip(test.tolist(), follow, strict=True))
        follow = [follow[j] for j in np.flatnonzero(has)]
        aside = [
            VOTE.set_aside(p, duplicate_threshold=threshold, power=options.vote_power, depth=options.depth) or p
            for p in follow
        ]
        copies = train[np.unique(np.nonzero(sims >= threshold)[1])]
        retrained = predict(products, np.setdiff1d(train, copies), mine, options)
        off = predict(products, train, mine, replace(options, duplicate_threshold=None))
        original, VOTE.tally = VOTE.tally, without_copies_voting()
        try:
            head_kept = predict(products, train, mine, options)
        finally:
            VOTE.tally = original
        for way, answers in zip(WAYS, (follow, aside, retrained, off, head_kept), strict=True):
            right[way] += sum(p.category == products.labels[i] for i, p in zip(mine.tolist(), answers, strict=True))
        group += len(mine)
    n = len(products.labels)
    name = args.dataset + (
        "" if args.multi_filed is None else f", {args.multi_filed:.0%} filed twice (drawn by {args.by})"
    )
    print(f"\n{name}: {n:,} products; {group:,} held out with a stored near-duplicate ({group / n:.1%})")
    print("| answered by | right (of those) | accuracy of all held-out products |\n|---|---|---|")
    for way in WAYS:
        print(f"| {way} | {right[way] / group:.1%} | {(overall - right['follow'] + right[way]) / n:.4f} |")


if __name__ == "__main__":
    main()
