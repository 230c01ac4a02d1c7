"""What the linear head learns from: the store's labeled products (:func:`training_set`),
a sample of them past a size (:func:`training_sample`), and a digest of both that tells a
saved head from a stale one (:func:`fingerprint`)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from semcat.catalog import Product
from semcat.errors import EmptyIndexError
from semcat.search.base import DEFAULT_SPACE, VectorStore

HEAD_FORMAT = 4  # bump when the saved head's layout or features change: older files are retrained

TrainingSet = tuple[np.ndarray, list[str], list[str]]  # dense vectors, texts, full category paths


def training_sample(labels: Sequence[str], max_products: int | None, seed: int = 0) -> np.ndarray | None:
    """The rows the head trains on when there are more than ``max_products`` labeled
    products (None: all of them): every product of a leaf category with at most q
    products, q random ones of each larger leaf, q the largest quota that fits. Rare
    categories, the ones a linear model struggles with most, keep all their examples."""
    if max_products is None or len(labels) <= max_products:
        return None
    groups: dict[str, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        groups[str(label)].append(row)
    sizes = np.sort(np.fromiter((len(g) for g in groups.values()), dtype=np.int64))
    low, high = 1, int(sizes[-1])  # the largest q with sum(min(size, q)) <= max_products
    while low < high:
        mid = (low + high + 1) // 2
        if int(np.minimum(sizes, mid).sum()) <= max_products:
            low = mid
        else:
            high = mid - 1
    rng = np.random.default_rng(seed)
    rows = [r for g in groups.values() for r in (g if len(g) <= low else rng.choice(g, low, replace=False).tolist())]
    return np.sort(np.asarray(rows, dtype=np.int64))


def training_set(store: VectorStore, fields: Sequence[str]) -> TrainingSet:
    """The store's labeled products as the head trains on them (labels: full paths)."""
    dense: list[np.ndarray] = []
    texts: list[str] = []
    labels: list[str] = []
    for _, vectors, payloads in store.iter_vectors(DEFAULT_SPACE):
        for vector, p in zip(vectors, payloads, strict=True):
            path = p.get("category")
            if not path:
                continue
            dense.append(vector)
            texts.append(Product.from_payload(p).text(fields))
            labels.append(path)
    if not labels:
        raise EmptyIndexError("the store holds no labeled product to train the linear head on")
    return np.stack(dense).astype(np.float32), texts, labels


def fingerprint(data: TrainingSet, model: str, **options: Any) -> str:
    """A digest of everything a trained head depends on: the labeled products' vectors,
    texts and labels (in store order), the model name and the head's options."""
    dense, texts, labels = data
    digest = hashlib.sha256()
    digest.update(repr((HEAD_FORMAT, model, sorted(options.items()), len(labels))).encode())
    digest.update(np.ascontiguousarray(dense).tobytes())
    for text, label in zip(texts, labels, strict=True):
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
        digest.update(label.encode("utf-8", "surrogatepass"))
        digest.update(b"\x01")
    return digest.hexdigest()
