"""The FAISS backend's sparse (word-vector) index: FAISS has none, so the stored rows of
a sparse space become a CSR matrix, searched by a BM25-IDF-weighted dot product (the
same formula as Qdrant's ``Modifier.IDF``, so both backends score alike)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np


class SparseIndex:
    """The stored sparse rows of one space as a CSR matrix, with document frequencies."""

    def __init__(self, iids: np.ndarray, matrix: Any) -> None:
        from semcat.embedding.lexical import N_FEATURES, bm25_idf

        self.iids = iids
        self.matrix = matrix
        self.n_docs = len(iids)
        doc_freq = np.bincount(matrix.indices, minlength=N_FEATURES) if self.n_docs else np.zeros(N_FEATURES)
        self.idf = bm25_idf(doc_freq, self.n_docs).astype(np.float32)

    @classmethod
    def load(cls, db: sqlite3.Connection, space: str) -> SparseIndex:
        from semcat.embedding.lexical import rows_to_csr

        iids: list[int] = []
        rows: list[tuple[np.ndarray, np.ndarray]] = []
        for iid, idx, val in db.execute("SELECT iid, idx, val FROM sparse WHERE space=? ORDER BY iid", (space,)):
            iids.append(iid)
            rows.append((np.frombuffer(idx, dtype=np.int32), np.frombuffer(val, dtype=np.float32)))
        return cls(np.asarray(iids, dtype=np.int64), rows_to_csr(rows))

    def scores(self, queries: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """(queries, docs) dense scores: sum over shared terms of idf * query * doc."""
        from semcat.embedding.lexical import rows_to_csr

        weighted = rows_to_csr(queries, values_scale=self.idf)
        return np.asarray((weighted @ self.matrix.T).todense(), dtype=np.float32)

    def top(
        self, queries: Sequence[tuple[np.ndarray, np.ndarray]], k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, iids) of the ``k`` best documents per query, best first; ``allowed``
        (iids) restricts them; -1 marks "no shared word" (not a neighbor)."""
        scores = self.scores(queries)
        if allowed is not None:
            scores[:, ~np.isin(self.iids, allowed)] = 0.0
        fetch = min(k, self.n_docs)
        top = np.argpartition(-scores, fetch - 1, axis=1)[:, :fetch]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1)
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        return top_scores, np.where(top_scores > 0, self.iids[top], -1)
