"""How consistently a catalog files the products that look most alike.

    .venv/bin/python benchmarks/studies/self_consistency.py --datasets cdiscount,flipkart20k,flipkart1050

For every product, its nearest other product in the whole catalog (dense cosine over the
stored MiniLM vectors, the benchmarks' embedding cache) and whether the two carry the same
path, with the labels cut at the catalog's category depth (3 for each catalog here:
flipkart-20k's deeper levels name brands and products). Printed per cosine floor: how many
products have their nearest other product at least that close, and the share of them whose
full path (and main category) differs from it. Then the products whose text is exactly
another's, and how many of them sit in a group of such texts filed under more than one
path.

What it tells: the precision that the surest answers any method can give (a stored copy
of the same text) are bounded by. A catalog that files 3% of its near-identical products
apart cannot have those filed at 99% precision by their copy's label, whatever ranks them.
Writes benchmarks/results/self_consistency.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import catalog, embedded, publish
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.base import l2_normalize

FLOORS = (0.999, 0.99, 0.98, 0.95)
DEPTH = 3
CHUNK = 2_000  # query rows per matrix product (2,000 x 50,000 float32: 400 MB)


def nearest(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest other row and its cosine."""
    v = l2_normalize(vectors)
    n = len(v)
    which, best = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.float32)
    for start in range(0, n, CHUNK):
        sims = v[start : start + CHUNK] @ v.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -2.0  # not itself
        which[start : start + CHUNK] = sims.argmax(axis=1)
        best[start : start + CHUNK] = sims[rows, which[start : start + CHUNK]]
    return which, best


def study(name: str) -> dict[str, Any]:
    data = embedded(name, catalog(name), load_embedder(Settings()))
    paths = [tuple(p)[:DEPTH] for p in data.paths]
    which, best = nearest(data.vectors)
    floors = {}
    for floor in FLOORS:
        rows = np.flatnonzero(best >= floor)
        full = float(np.mean([paths[i] != paths[which[i]] for i in rows])) if len(rows) else 0.0
        main = float(np.mean([paths[i][:1] != paths[which[i]][:1] for i in rows])) if len(rows) else 0.0
        floors[f"{floor}"] = {"products": len(rows), "path_differs": round(full, 4), "main": round(main, 4)}
        print(
            f"{name}: nearest other product at cosine >= {floor}: {len(rows):,} products "
            f"({len(rows) / len(paths):.1%}); full path differs {full:.1%}, main category {main:.1%}",
            flush=True,
        )
    groups: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for text, path in zip(data.texts, paths, strict=True):
        groups[text.strip().lower()].append(path)
    shared = [g for g in groups.values() if len(g) > 1]
    in_shared = sum(len(g) for g in shared)
    split = sum(len(g) for g in shared if len(set(g)) > 1)
    print(
        f"{name}: {in_shared:,} products share their exact text with another; {split:,} of them "
        f"({split / max(in_shared, 1):.1%}) in a group filed under more than one path",
        flush=True,
    )
    return {"products": len(paths), "floors": floors, "same_text": in_shared, "same_text_split": split}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="cdiscount,flipkart20k,flipkart1050")
    args = parser.parse_args()
    names = args.datasets.split(",")
    results = {name: study(name) for name in names}
    publish(
        "self_consistency",
        {"command": f"python benchmarks/studies/self_consistency.py --datasets {args.datasets}", "results": results},
    )


if __name__ == "__main__":
    main()
