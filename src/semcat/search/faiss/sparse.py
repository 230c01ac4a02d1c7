"""The FAISS backend's sparse (word-vector) index: FAISS has none, so the stored rows of
a sparse space become a CSR matrix, searched by a BM25-IDF-weighted dot product (the
same formula as Qdrant's ``Modifier.IDF``, so both backends score alike).

Loaded once from SQLite, then kept in line with this process's own writes (:meth:`apply`)
instead of reloaded: a write marks the rows it replaces dead and appends its rows to a
small tail, so the first query after a write costs no more than any other (reloading
cost seconds per write at 50k products). The tail is folded into the main matrix when it
outgrows :data:`TAIL_FRACTION` of it. The matrix is kept by term too (its transpose as
CSR), so a query gathers only its own terms' rows instead of converting the whole
matrix on every search.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from semcat.search.faiss.filters import Allowed
from semcat.search.idf import bm25_idf
from semcat.spaces import N_FEATURES, rows_to_csr

TAIL_FRACTION = 0.05  # fold the tail of new rows into the main matrix past this share (and past TAIL_MIN rows)
TAIL_MIN = 256

Row = tuple[np.ndarray, np.ndarray]


class SparseIndex:
    """The stored sparse rows of one space, with document frequencies."""

    def __init__(self, iids: np.ndarray, rows: Sequence[Row]) -> None:

        iids = np.asarray(iids, dtype=np.int64)
        order = np.argsort(iids, kind="stable")
        self._main(iids[order], rows_to_csr([rows[i] for i in order]))

    def _main(self, iids: np.ndarray, matrix: Any) -> None:
        """Make ``matrix`` (docs x terms, CSR, rows in ``iids`` order, ascending) the main part."""

        self.main_iids = iids
        self.matrix = matrix
        self.by_term = matrix.T.tocsr()  # (terms, docs): a query's terms select its rows
        self.alive = np.ones(len(iids), dtype=bool)
        self.doc_freq = np.bincount(matrix.indices, minlength=N_FEATURES).astype(np.int64)
        self.tail_iids: list[int] = []
        self.tail_rows: list[Row] = []
        self._tail: Any = None
        self._cols: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def load(cls, db: sqlite3.Connection, space: str) -> SparseIndex:
        iids: list[int] = []
        rows: list[Row] = []
        for iid, idx, val in db.execute("SELECT iid, idx, val FROM sparse WHERE space=? ORDER BY iid", (space,)):
            iids.append(iid)
            rows.append((np.frombuffer(idx, dtype=np.int32), np.frombuffer(val, dtype=np.float32)))
        return cls(np.asarray(iids, dtype=np.int64), rows)

    @property
    def n_docs(self) -> int:
        return int(self.alive.sum()) + len(self.tail_iids)

    @property
    def iids(self) -> np.ndarray:
        """Internal ids of the score columns (main rows, then the tail; dead main rows included)."""
        return self._columns()[0]

    def apply(self, removed: Sequence[int], added_iids: Sequence[int], added_rows: Sequence[Row]) -> None:
        """One committed write: rows ``removed`` (internal ids) are gone, ``added_rows`` are new."""
        removed = np.asarray(removed, dtype=np.int64)
        if len(removed):
            pos = np.searchsorted(self.main_iids, removed)
            found = pos < len(self.main_iids)
            pos = pos[found][self.main_iids[pos[found]] == removed[found]]
            for p in pos[self.alive[pos]]:
                self.doc_freq[self.matrix.indices[self.matrix.indptr[p] : self.matrix.indptr[p + 1]]] -= 1
            self.alive[pos] = False
            gone = set(removed.tolist())
            for iid, row in zip(self.tail_iids, self.tail_rows, strict=True):
                if iid in gone:
                    self.doc_freq[row[0]] -= 1
            kept = [n for n, iid in enumerate(self.tail_iids) if iid not in gone]
            self.tail_iids = [self.tail_iids[n] for n in kept]
            self.tail_rows = [self.tail_rows[n] for n in kept]
        for iid, row in zip(added_iids, added_rows, strict=True):
            if not len(row[0]):  # stored as no row at all
                continue
            self.tail_iids.append(int(iid))
            self.tail_rows.append(row)
            self.doc_freq[row[0]] += 1
        self._tail = None
        self._cols = None
        limit = max(TAIL_MIN, TAIL_FRACTION * len(self.main_iids))
        if len(self.tail_iids) > limit or (~self.alive).sum() > limit:
            self._compact()

    def _compact(self) -> None:
        """Fold the tail into the main matrix and drop dead rows."""
        from scipy import sparse

        live = np.flatnonzero(self.alive)
        iids = np.concatenate([self.main_iids[live], np.asarray(self.tail_iids, dtype=np.int64)])
        matrix = sparse.vstack([self.matrix[live], rows_to_csr(self.tail_rows)], format="csr")
        order = np.argsort(iids, kind="stable")
        self._main(iids[order], matrix[order])

    def _columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(iids, alive) of the score columns: main rows, then the tail (kept until the next write)."""
        if self._cols is None:
            tail = np.asarray(self.tail_iids, dtype=np.int64)
            self._cols = (
                np.concatenate([self.main_iids, tail]),
                np.concatenate([self.alive, np.ones(len(tail), bool)]),
            )
        return self._cols

    def scores(self, queries: Sequence[Row]) -> Any:
        """(queries, columns of :attr:`iids`) sparse scores, CSR: sum over shared terms of
        idf * query * doc, stored only for the documents that share a word with the query."""
        from scipy import sparse

        # IDF at the queries' own terms only: over every hashed term it would be paid again
        # on the first search after every write
        weighted = rows_to_csr(queries)
        weighted.data *= bm25_idf(self.doc_freq[weighted.indices], self.n_docs).astype(np.float32)
        main = (weighted @ self.by_term).tocsr()
        if not self.tail_iids:
            return main
        if self._tail is None:
            self._tail = rows_to_csr(self.tail_rows).T.tocsr()
        return sparse.hstack([main, (weighted @ self._tail).tocsr()], format="csr")

    def top(self, queries: Sequence[Row], k: int, allowed: Allowed | None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, iids) of the ``k`` best documents per query, best first; ``allowed``
        restricts them; -1 marks "no shared word" (not a neighbor). Only the
        documents sharing a word with a query are ranked (dense rows of every document
        cost 4 MB and a partition over all of them per query at 1M products)."""
        scores = self.scores(queries)
        iids, alive = self._columns()
        out_scores = np.zeros((len(queries), k), dtype=np.float32)
        out_iids = np.full((len(queries), k), -1, dtype=np.int64)
        for q in range(len(queries)):
            lo, hi = scores.indptr[q], scores.indptr[q + 1]
            cols, vals = scores.indices[lo:hi], scores.data[lo:hi]
            keep = alive[cols] & (vals > 0)
            if allowed is not None:
                keep &= allowed.contains(iids[cols])
            cols, vals = cols[keep], vals[keep]
            if not len(cols):
                continue
            fetch = min(k, len(cols))
            best = np.argpartition(-vals, fetch - 1)[:fetch] if len(cols) > fetch else np.arange(len(cols))
            best = best[np.argsort(-vals[best], kind="stable")]
            out_scores[q, : len(best)] = vals[best]
            out_iids[q, : len(best)] = iids[cols[best]]
        return out_scores, out_iids
