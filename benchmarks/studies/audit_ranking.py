"""Rankings of the label audit's suspects, tried on several catalogs and flip seeds.

    .venv/bin/python benchmarks/studies/audit_ranking.py --datasets flipkart20k,cdiscount --seeds 0,1

``benchmarks/accuracy/audit_noise.py``'s protocol (a seeded 5% of the labels flipped, half
to a sibling leaf, half under another main category) without the references: the audit's
out-of-fold predictions over the noisy labels are computed once per catalog and seed and
cached under ``benchmarks/.cache`` (7-8 min for cdiscount-50k, 2 min for flipkart-20k);
each ranking then orders the products cleanlab flags, and the share of flipped labels
among the first N (N = the number flipped) is printed per ranking, catalog and seed, with
the recall per kind of flip. Writes benchmarks/results/audit_ranking.json.

Rankings (low = suspect): the shipped one (:meth:`LabelScores.trust`, ``evidence``), the
one it replaced, and the pieces and ways of combining them tried on the way (the printed
names say what each multiplies or combines). *margin*: the lowest conditional share of the
stored category over the levels, divided by how sure the prediction is of its own path;
*support*: the closest same-labeled product's cosine; *relative support*: that over the
product's closest neighbor's cosine; *trust-score distance*: the distance (1 - cosine) to
the closest product under another label over that to the closest under the stored one;
*calibrated*: the calibrated probability the stored label is right; *percentiles*: each
piece's percentile among the products, combined by a geometric mean.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "accuracy"))
from audit_noise import flip

from _common import catalog, embedded, pickled, publish
from semcat.catalog import PATH_JOIN
from semcat.categorize.audit import audit_options, audit_predictions
from semcat.categorize.depth import category_depth
from semcat.categorize.label_evidence import (
    SUPPORT_FLOOR,
    LabelScores,
    geometric_percentiles,
    label_scores,
    percentile,
)
from semcat.config import Settings
from semcat.embedding import load_embedder

RATE = 0.05


def dump(name: str, seed: int) -> dict:
    """The noisy labels, the kinds of flip and the audit's out-of-fold predictions, cached."""

    def build() -> dict:
        settings = Settings()
        data = embedded(name, catalog(name), load_embedder(settings))
        depth = category_depth([PATH_JOIN.join(p) for p in data.paths])
        noisy, kinds = flip([tuple(p)[:depth] for p in data.paths], RATE, seed)
        labels = [PATH_JOIN.join(p) for p in noisy]
        start = time.perf_counter()
        options = settings.query_options()
        predictions = audit_predictions(data.vectors, data.texts, labels, options, settings.head, depth)
        seconds = time.perf_counter() - start
        return {"labels": labels, "kinds": kinds, "depth": depth, "predictions": predictions, "seconds": seconds}

    return pickled(f"audit-ranking-{name}-{seed}", build)


def closest(dense: np.ndarray, labels: list[str], k: int = 64) -> np.ndarray:
    """Per product, the cosine of its closest product under another label (among the ``k``
    closest; else the k-th's cosine)."""
    import faiss

    vectors = np.ascontiguousarray(dense, dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    scores, rows = index.search(vectors, k + 1)
    other = np.zeros(len(labels))
    names = np.asarray(labels, dtype=object)
    for i in range(len(labels)):
        keep = rows[i] != i
        s, r = scores[i][keep][:k], rows[i][keep][:k]
        differ = names[r] != labels[i]
        other[i] = s[differ][0] if differ.any() else s[-1]
    return other


def geometric(*pieces: np.ndarray, mean: str = "geometric") -> np.ndarray:
    """The pieces' percentiles among the products, combined by their geometric (the
    shipped :func:`geometric_percentiles`) or arithmetic mean."""
    filled = [np.nan_to_num(piece, nan=1.0) for piece in pieces]
    if mean == "geometric":
        return geometric_percentiles(*filled)
    return np.mean([percentile(piece) for piece in filled], axis=0)


def rankings(scores: LabelScores, labels: list[str], other: np.ndarray) -> dict[str, np.ndarray]:
    conditional = scores.trust("conditional")
    sure = np.maximum(scores.sure, 1e-6)
    support = np.nan_to_num(scores.support, nan=1.0)
    clipped = np.clip(support, SUPPORT_FLOOR, 1.0)
    relative = np.clip(support / np.maximum(scores.nearest, SUPPORT_FLOOR), SUPPORT_FLOOR, 1.0)
    distance = np.clip((1.0 - other) / np.maximum(1.0 - np.clip(support, -1, 1), 1e-3), SUPPORT_FLOOR, 1.0)
    right = np.maximum(scores.right, 1e-6)
    margin = conditional / sure
    return {
        "shipped: percentiles of calibrated, margin, relative support": scores.trust("evidence"),
        "before: margin x support": margin * clipped,
        "conditional share alone": conditional,
        "margin x relative support": margin * relative,
        "margin x trust-score distance": margin * distance,
        "margin x support / label's mean share": margin * clipped / class_mean(conditional, labels),
        "calibrated alone": right,
        "calibrated x support": right * clipped,
        "sqrt(calibrated x margin) x support": np.sqrt(right * margin) * clipped,
        "sqrt(calibrated x margin) x relative^2": np.sqrt(right * margin) * relative**2,
        "percentiles of calibrated, margin, support": geometric(right, margin, clipped),
        "percentiles of sqrt(calibrated x margin), relative": geometric(np.sqrt(right * margin), relative),
        "percentiles, arithmetic mean": geometric(right, margin, relative, mean="arithmetic"),
    }


def class_mean(conditional: np.ndarray, labels: list[str]) -> np.ndarray:
    """Per product, the mean conditional share of the products stored under its label (a
    label the categorizer always doubts is less suspect for being doubted)."""
    _, inverse = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    value = np.nan_to_num(conditional, nan=1.0)
    means = np.bincount(inverse, weights=value) / np.maximum(np.bincount(inverse), 1)
    return np.maximum(means[inverse], 1e-3)


def measure(trust: np.ndarray, flagged: np.ndarray, kinds: dict[int, str]) -> dict:
    doubt = -np.nan_to_num(trust, nan=np.inf)
    n = len(kinds)
    top = set([i for i in np.argsort(-doubt, kind="stable").tolist() if flagged[i]][:n])
    flipped = set(kinds)
    per_kind = {
        kind: round(len({i for i in flipped if kinds[i] == kind} & top) / max(1, list(kinds.values()).count(kind)), 4)
        for kind in ("sibling", "main")
    }
    return {"precision_at_n": round(len(top & flipped) / n, 4), **per_kind}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart20k,cdiscount")
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    embedder = load_embedder(Settings())
    results: dict[str, dict] = {}
    for name in args.datasets.split(","):
        data = embedded(name, catalog(name), embedder)
        for seed in (int(s) for s in args.seeds.split(",")):
            run = dump(name, seed)
            options = audit_options(Settings().query_options(), run["depth"])
            scores = label_scores(run["predictions"], run["labels"], run["depth"], data.vectors, options)
            other = closest(data.vectors, run["labels"])
            flagged = scores.flagged > 0
            for variant, trust in rankings(scores, run["labels"], other).items():
                row = measure(trust, flagged, run["kinds"])
                results.setdefault(variant, {})[f"{name}/{seed}"] = row
                print(f"{name} seed {seed} {variant}: {row}", flush=True)
    catalogs = sorted({key for rows in results.values() for key in rows})
    print("\n| ranking | " + " | ".join(catalogs) + " |")
    print("|---|" + "---|" * len(catalogs))
    for variant, rows in results.items():
        print(f"| {variant} | " + " | ".join(f"{rows[c]['precision_at_n']:.3f}" for c in catalogs) + " |")
    publish(
        "audit_ranking",
        {"command": f"audit_ranking.py --datasets {args.datasets} --seeds {args.seeds}", "results": results},
    )


if __name__ == "__main__":
    main()
