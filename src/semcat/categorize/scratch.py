"""A throw-away flat FAISS store of labeled vectors, for predictions made without some
products (the calibration's out-of-fold predictions, the evaluation's held-out folds)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.search.base import DEFAULT_SPACE, StoreMeta
from semcat.search.faiss import FaissStore
from semcat.spaces import LEXICAL_SPACE

WRITE_BATCH = 4096


def scratch_store(
    folder: Path,
    dense: np.ndarray,
    labels: Sequence[str | Sequence[str]],
    titles: Sequence[str],
    word_rows: Sequence[Any] | None = None,
    ids: Sequence[str] | None = None,
    payloads: Sequence[dict[str, Any]] | None = None,
    model: str = "scratch",
) -> FaissStore:
    """A flat FAISS store in ``folder`` holding ``dense`` (and the word rows, when given),
    labeled with ``labels`` (full paths, ' > '-joined or as levels)."""
    sparse = (LEXICAL_SPACE,) if word_rows is not None else ()
    meta = StoreMeta(model=model, spaces={DEFAULT_SPACE: int(dense.shape[1])}, sparse=sparse)
    store = FaissStore(folder, meta, "flat")
    ids = list(ids) if ids is not None else [str(i) for i in range(len(labels))]
    if payloads is None:
        payloads = []
        for label, title in zip(labels, titles, strict=True):
            levels = list(label) if not isinstance(label, str) else str(label).split(PATH_JOIN)
            payloads.append({"category": PATH_JOIN.join(levels), "category_levels": levels, "title": title[:200]})
    for begin in range(0, len(ids), WRITE_BATCH):
        end = begin + WRITE_BATCH
        vectors: Any = dense[begin:end]
        if word_rows is not None:
            vectors = {DEFAULT_SPACE: vectors, LEXICAL_SPACE: list(word_rows[begin:end])}
        store.upsert(ids[begin:end], vectors, list(payloads[begin:end]))
    return store
