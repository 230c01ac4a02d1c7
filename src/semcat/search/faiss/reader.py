"""A FAISS collection read by a process that does not serve it: the database alone.

The linear head's retrain child (:mod:`semcat.categorize.retrain`) reads every labeled
product of the store the server holds open. It needs the stored vectors and payloads,
not the search indexes, so it opens the SQLite database read-only
(:meth:`Documents.read_only`) and loads no FAISS index: opening takes milliseconds at any
size, and nothing it does can change the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semcat.errors import StoreError
from semcat.search.base import DEFAULT_SPACE, Record, StoreMeta
from semcat.search.faiss.documents import Documents


def rows_of_space(
    docs: Documents, space: str, batch_size: int
) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
    """(ids, vectors, payloads) of every product with a vector in ``space``, in batches,
    read through ``docs`` (a connection the caller owns)."""
    if space not in docs.meta.spaces:
        raise StoreError(f"unknown vector space {space!r}")
    for iids, vecs in docs.iter_space(space, batch_size):
        payloads = docs.payloads_by_iid(iids.tolist())
        keep = [n for n, iid in enumerate(iids.tolist()) if iid in payloads]
        yield (
            [payloads[int(iids[n])][0] for n in keep],
            vecs[keep],
            [payloads[int(iids[n])][1] for n in keep],
        )


class FaissReader:
    """The products of the FAISS collection in ``directory``, read-only (what
    :class:`~semcat.categorize.head_data.LabeledProducts` reads: :meth:`iter_vectors`,
    :meth:`get`)."""

    backend = "faiss"

    def __init__(self, directory: Path) -> None:
        self._docs = Documents.read_only(Path(directory))
        self.meta: StoreMeta = self._docs.meta

    def iter_vectors(
        self, space: str = DEFAULT_SPACE, batch_size: int = 1024
    ) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        return rows_of_space(self._docs, space, batch_size)

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Record]:
        return self._docs.records([str(i) for i in ids], with_vectors)

    def close(self) -> None:
        self._docs.close()
