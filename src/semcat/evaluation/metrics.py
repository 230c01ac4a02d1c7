"""Metrics: classification scores, per-level accuracy, clustering agreement (ARI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN


def cut(paths: Sequence[Sequence[str]], level: int | None) -> np.ndarray:
    return np.array([PATH_JOIN.join(tuple(p)[:level] if level else tuple(p)) for p in paths], dtype=object)


def classification_scores(true: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    true_arr, pred_arr = np.asarray(true, dtype=object), np.asarray(predicted, dtype=object)
    return {
        "accuracy": float(accuracy_score(true_arr, pred_arr)),
        "macro_f1": float(f1_score(true_arr, pred_arr, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(true_arr, pred_arr, average="weighted", zero_division=0)),
    }


def level_accuracy(
    true_paths: Sequence[Sequence[str]], predicted_paths: Sequence[Sequence[str]], max_level: int = 3
) -> dict[int, float]:
    """Accuracy of the path prefix at each level, over the products whose label is that deep."""
    out: dict[int, float] = {}
    for level in range(1, max_level + 1):
        pairs = [(t, p) for t, p in zip(true_paths, predicted_paths, strict=True) if len(t) >= level]
        if pairs:
            out[level] = sum(tuple(t[:level]) == tuple(p[:level]) for t, p in pairs) / len(pairs)
    return out


def report_dict(true: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import classification_report

    return classification_report(
        np.asarray(true, dtype=object), np.asarray(predicted, dtype=object), output_dict=True, zero_division=0
    )


def kmeans_ari(
    vectors: np.ndarray,
    labels: Sequence[Any],
    n_clusters: int,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_init: int = 20,
) -> dict[str, Any]:
    """Adjusted Rand index between KMeans clusters (k = number of categories) and labels."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    scores = []
    for seed in seeds:
        clusters = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(vectors)
        scores.append(float(adjusted_rand_score(labels, clusters)))
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "per_seed": scores, "k": n_clusters}


def tsne_kmeans(
    vectors: np.ndarray,
    labels: Sequence[Any],
    n_clusters: int,
    max_points: int = 5000,
    seed: int = 0,
    n_init: int = 20,
) -> dict[str, Any]:
    """KMeans on a 2-D t-SNE projection (what some reference studies report as "ARI").

    Returned separately from :func:`kmeans_ari`: t-SNE distorts global structure, so this
    ARI is a property of the plot, not of the stored vectors. Larger sets are
    subsampled (stratified by nothing: a fixed random sample) to ``max_points``.
    """
    from sklearn.cluster import KMeans
    from sklearn.manifold import TSNE
    from sklearn.metrics import adjusted_rand_score

    labels_arr = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    index = (
        np.arange(len(vectors))
        if len(vectors) <= max_points
        else np.sort(rng.choice(len(vectors), max_points, replace=False))
    )
    perplexity = float(min(30, max(5, (len(index) - 1) // 3)))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors[index])
    clusters = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(points)
    return {
        "ari": float(adjusted_rand_score(labels_arr[index], clusters)),
        "points": points,
        "clusters": clusters,
        "labels": labels_arr[index],
        "n": len(index),
    }
