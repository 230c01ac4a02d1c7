"""FAISS backend: the embedded default, assembled from three parts.

- :class:`~semcat.search.faiss.documents.Documents`: SQLite (WAL), the source of truth
  (payloads, vectors as float32 blobs, sparse rows, category prefixes, a ``generation``
  counter bumped by every write transaction, and a change log of the last writes);
- :class:`~semcat.search.faiss.vectors.VectorIndexes`: the FAISS indexes, a derived
  cache saved atomically on :meth:`FaissStore.flush` and tagged with the generation they
  reflect (on open, older files are caught up from the change log, or rebuilt);
- :class:`~semcat.search.faiss.sparse.SparseIndex`: the word vectors as a CSR matrix,
  loaded on the first sparse search, then updated in place by every write.

Every write reaches the in-memory indexes the same way (:class:`~.writes.Write`): ours as
it commits, another process's (API workers) replayed from the change log on our next query.

So a process killed at any instant loses at most the write in flight, and never leaves a
duplicate: upsert deletes the old row and inserts the new one in one transaction.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from semcat.errors import NotFoundError, StoreError
from semcat.options import HNSW_DEFAULTS
from semcat.search.base import (
    DEFAULT_SPACE,
    Hit,
    Page,
    Record,
    SearchFilter,
    StoreMeta,
    VectorStore,
)
from semcat.search.faiss.documents import Documents
from semcat.search.faiss.filters import FILTER_CACHE_MAX, Allowed, matches
from semcat.search.faiss.reader import rows_of_space
from semcat.search.faiss.sparse import SparseIndex
from semcat.search.faiss.vectors import IndexKind, VectorIndexes
from semcat.search.faiss.writes import Write
from semcat.threads import in_background


class FaissStore(VectorStore):
    """A persisted FAISS collection under ``directory``."""

    backend = "faiss"
    generation_is_global = True  # the database's counter: every process's writes bump it

    def __init__(
        self,
        directory: Path,
        meta: StoreMeta | None,
        index_kind: IndexKind = "auto",
        hnsw_threshold: int = HNSW_DEFAULTS.threshold,
        hnsw_m: int = HNSW_DEFAULTS.m,
        ef_construction: int = HNSW_DEFAULTS.ef_construction,
        ef_search: int = HNSW_DEFAULTS.ef_search,
    ) -> None:
        self.directory = Path(directory)
        self._lock = threading.RLock()
        self._docs: Documents | None = Documents(self.directory, meta)
        self.meta = self._docs.meta
        self._vectors = VectorIndexes(
            self.directory, self.meta.spaces, index_kind, hnsw_threshold, hnsw_m, ef_construction, ef_search
        )
        # filter -> (generation, the ids it lets through or None for all); own writes update it
        self._filters: OrderedDict[tuple[str | None, bool], tuple[int, Allowed | None]] = OrderedDict()
        self._sparse_cache: dict[str, tuple[int, SparseIndex]] = {}
        self._generation = -1  # the database generation the in-memory indexes reflect
        self._background = threading.local()  # background threads' own read connections
        self._write_lock = threading.Lock()
        self._writer_docs: Documents | None = None  # the connection writes go through
        self._dirty = False
        self._load()

    @property
    def docs(self) -> Documents:
        if self._docs is None:
            raise StoreError(f"the FAISS store at {self.directory} is closed")
        return self._docs

    # ------------------------------------------------------------------ state
    def _load(self) -> None:
        """Load the saved index files and replay the writes they miss from the change log;
        rebuild when there are none or the log does not reach back to them."""
        with self._lock, self.docs.snapshot():
            generation = self.docs.generation()
            saved = self._vectors.load(generation)
            if saved is None:
                self.rebuild()
                return
            self._generation = saved
            self._dirty = False
            self._catch_up()

    def rebuild(self) -> None:
        """Rebuild every index from the vectors in SQLite (clears HNSW tombstones)."""
        with self._lock, self.docs.snapshot():  # the rows and the generation of one state
            generation = self.docs.generation()
            self._vectors.rebuild(self.docs.space_count, self.docs.iter_space)
            self._generation = generation
            self._filters.clear()
            self._sparse_cache.clear()
            self._dirty = True

    def _sync(self) -> None:
        """Another process wrote since we loaded: follow its writes (cheap check on every read)."""
        if self.docs.generation() != self._generation:
            with self.docs.snapshot():
                self._catch_up()

    def _catch_up(self, until: int | None = None) -> None:
        """Bring the in-memory indexes to the database's generation, or to ``until`` (within
        a snapshot): other processes' writes are replayed from the change log like our own
        (vectors added or tombstoned, word rows and filters updated), so API workers over
        one store each see the others' writes on their next request without rebuilding;
        rebuild only when the log no longer reaches back."""
        target = self.docs.generation() if until is None else until
        if target <= self._generation:
            return
        rows = self.docs.changes_since(self._generation, target) if self._generation >= 0 else None
        if rows is None:
            self.rebuild()
            return
        self._apply(Write.replay(self.docs, rows), target)

    def generation(self) -> int:
        return self.docs.generation()

    # ----------------------------------------------------------------- writes
    @contextmanager
    def _writing(self) -> Iterator[Write]:
        """One write: the database transaction on the writer's own connection, without the
        store's lock (requests keep reading meanwhile, also while another process holds
        the database's write lock), then the in-memory indexes brought in line under it."""
        with self._write_lock:  # one writing thread per process
            docs = self._writer()
            write = Write(docs)
            with docs.transaction() as before:
                yield write
                docs.log_changes(before + 1, write.log_rows())
            with self._lock:
                if self._generation < before:  # other processes' writes this one came after
                    with self.docs.snapshot():
                        self._catch_up(until=before)
                if self._generation == before:  # else a request already replayed it from the log
                    self._apply(write, before + 1)

    def _writer(self) -> Documents:
        docs = self.docs  # a closed store says so
        if self._writer_docs is None:
            self._writer_docs = docs.writer()
        return self._writer_docs

    def _apply(self, write: Write, generation: int) -> None:
        """A committed write (ours, or another process's replayed from the log) applied to
        the in-memory indexes, which then reflect ``generation``."""
        self._vectors.forget(write.forgotten)
        for space, vectors, iids in write.added:
            self._vectors.add(space, vectors, iids)
        previous = self._generation
        self._generation = generation
        self._dirty = True
        self._update_sparse(write, previous)
        self._update_filters(write, previous)

    def _update_sparse(self, write: Write, previous: int) -> None:
        """Bring the loaded sparse indexes in line with a write (no reload); one that lags
        is dropped and reloaded on its next search."""
        for space, (generation, index) in list(self._sparse_cache.items()):
            if generation != previous:
                del self._sparse_cache[space]
                continue
            iids, rows = write.sparse_added.get(space, (np.zeros(0, dtype=np.int64), []))
            index.apply(write.removed, iids, rows)
            self._sparse_cache[space] = (self._generation, index)

    def _update_filters(self, write: Write, previous: int) -> None:
        """Bring the filters in memory in line with a write: its removed and relabeled
        products leave them, its new products and new labels join those they match (a
        bitmap update, not a read of every product of a category again). One that lags is
        dropped."""
        changed = write.inserted + write.relabeled
        off = write.removed + [iid for iid, _ in write.relabeled]
        for key, (generation, allowed) in list(self._filters.items()):
            category, labeled = key
            if generation != previous:
                del self._filters[key]
            elif allowed is None:  # "every product passes": true while every new one does
                if all(matches(payload, category, labeled) for _, payload in changed):
                    self._filters[key] = (self._generation, None)
                else:
                    del self._filters[key]
            else:
                allowed.apply(off, (iid for iid, payload in changed if matches(payload, category, labeled)))
                self._filters[key] = (self._generation, allowed)

    def _upsert(
        self,
        ids: list[str],
        arrays: dict[str, tuple[np.ndarray, np.ndarray]],
        sparse_rows: dict[str, list[tuple[np.ndarray, np.ndarray]]],
        payloads: Sequence[dict[str, Any]],
    ) -> None:
        if not ids:
            return
        with self._writing() as write:
            write.remove(ids)
            new_iids = write.docs.insert(ids, payloads)
            write.inserted += zip(new_iids.tolist(), payloads, strict=True)
            for space, (rows, array) in arrays.items():
                write.docs.insert_vectors(space, new_iids[rows], array)
                if len(rows):
                    write.added.append((space, array, new_iids[rows]))
            for space, sparse in sparse_rows.items():
                write.docs.insert_sparse(space, new_iids, sparse)
                write.sparse_added[space] = (new_iids, sparse)

    def update_payloads(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        ids = [str(i) for i in ids]
        with self._writing() as write:
            existing = write.docs.iids_for(ids)
            missing = [i for i in ids if i not in existing]
            if missing:
                raise NotFoundError(f"unknown product id(s): {', '.join(missing[:10])}")
            for pid, payload in zip(ids, payloads, strict=True):
                write.docs.update_payload(existing[pid], payload)
                write.relabeled.append((existing[pid], payload))

    def delete(self, ids: Sequence[str]) -> int:
        with self._writing() as write:
            return write.remove([str(i) for i in ids])

    def flush(self) -> None:
        """Save the indexes (switching kind or clearing tombstones first when due)."""
        with self._lock:
            if not self._dirty:
                return
            if self._vectors.due_for_rebuild():
                self.rebuild()
            self._vectors.save(self._generation)
            self._dirty = False

    # ------------------------------------------------------------------ reads
    def _allowed(self, flt: SearchFilter | None) -> Allowed | None:
        """The internal ids a filter lets through; None when it lets every product through.
        Kept per filter (the last FILTER_CACHE_MAX used) and updated by every write. Read
        from the database in a snapshot caught up to first: a write commits before the
        indexes take it (without the store's lock), and a bitmap read from a later state
        than its tag would take that write twice."""
        if flt is None or flt.empty:
            return None
        key = (flt.category, flt.labeled)
        cached = self._filters.get(key)
        if cached is None or cached[0] != self._generation:
            with self.docs.snapshot():  # read at the generation the indexes reflect
                self._catch_up()
                iids = self.docs.allowed(flt)
                cached = (self._generation, None if iids is None else Allowed(self._vectors.faiss, iids))
            self._filters[key] = cached
            while len(self._filters) > FILTER_CACHE_MAX:
                self._filters.popitem(last=False)
        self._filters.move_to_end(key)
        return cached[1]

    def _search(self, queries: np.ndarray, k: int, filter: SearchFilter | None, space: str) -> list[list[Hit]]:
        with self._lock:
            self._sync()
            allowed = self._allowed(filter)
            if allowed is not None and allowed.count == 0:
                return [[] for _ in range(len(queries))]
            found = self._vectors.search(space, queries, k, allowed and allowed.selector)
            if found is None:
                return [[] for _ in range(len(queries))]
            results = self._hits(*found, k)
            if allowed is not None and self._vectors.is_hnsw(space):
                # HNSW with a narrow filter can come back short: finish those exactly
                want = min(k, allowed.count)
                short = [row for row, hits in enumerate(results) if len(hits) < want]
                if short:
                    exact = self._vectors.search_exact(space, queries[short], k, allowed.selector)
                    for row, hits in zip(short, self._hits(*exact, k), strict=True):
                        results[row] = hits
            return results

    def _search_sparse(
        self, queries: Sequence[tuple[np.ndarray, np.ndarray]], k: int, filter: SearchFilter | None, space: str
    ) -> list[list[Hit]]:
        with self._lock:
            self._sync()
            cached = self._sparse_cache.get(space)
            if cached is None or cached[0] != self._generation:
                with self.docs.snapshot():  # loaded at the generation the indexes reflect
                    self._catch_up()
                    cached = (self._generation, SparseIndex.load(self.docs.db, space))
                self._sparse_cache[space] = cached
            index = cached[1]
            if index.n_docs == 0 or not queries:
                return [[] for _ in queries]
            allowed = self._allowed(filter)
            scores, iids = index.top(queries, k, allowed)
            return self._hits(scores, iids, k)

    def _hits(self, scores: np.ndarray, iids: np.ndarray, k: int) -> list[list[Hit]]:
        wanted = {int(i) for i in iids.ravel() if i >= 0}
        payloads = self.docs.payloads_by_iid(list(wanted))
        results: list[list[Hit]] = []
        for row_scores, row_iids in zip(scores, iids, strict=True):
            hits: list[Hit] = []
            for score, iid in zip(row_scores, row_iids, strict=True):
                if iid < 0 or int(iid) not in payloads:  # padding or an HNSW tombstone
                    continue
                pid, payload = payloads[int(iid)]
                hits.append(Hit(id=pid, score=float(score), payload=payload))
                if len(hits) == k:
                    break
            results.append(hits)
        return results

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Record]:
        if in_background():
            # background work (the head's retrain reads its sample back 50,000 products at
            # a time) reads on a connection of its own: holding the store's lock while
            # parsing payloads at a low CPU priority made requests wait behind it
            docs = self.docs  # a closed store says so
            if getattr(self._background, "docs", None) is None:
                self._background.docs = docs.reader()
            return self._background.docs.records([str(i) for i in ids], with_vectors)
        with self._lock:
            return self.docs.records([str(i) for i in ids], with_vectors)

    def count(self, filter: SearchFilter | None = None) -> int:
        with self._lock:
            return self.docs.count(filter)

    def exists(self, filter: SearchFilter | None = None) -> bool:
        with self._lock:
            return self.docs.exists(filter)

    def _browse(self, filter: SearchFilter | None, limit: int, cursor: str | None) -> Page:
        with self._lock:
            return self.docs.browse(filter, limit, cursor)

    def category_counts(self, level: int | None = None) -> dict[str, int]:
        with self._lock:
            return self.docs.category_counts(level)

    def iter_vectors(
        self, space: str = DEFAULT_SPACE, batch_size: int = 1024
    ) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        if space not in self.meta.spaces:
            raise StoreError(f"unknown vector space {space!r}")
        # a long read (every product, between the caller's own work): on a connection of its
        # own, so it neither shares the request threads' connection nor sees a write half done
        docs = self.docs.reader()
        try:
            yield from rows_of_space(docs, space, batch_size)
        finally:
            docs.close()

    def reader_spec(self) -> dict[str, Any] | None:
        return {"backend": self.backend, "directory": str(self.directory)}

    def describe(self) -> dict[str, Any]:
        with self._lock:
            self._sync()
            return {
                "backend": "faiss",
                "location": str(self.directory),
                "model": self.meta.model,
                "spaces": {space: self._vectors.describe(space) for space in self._vectors.indexes},
                "sparse": {space: {"vectors": self.docs.sparse_count(space)} for space in self.meta.sparse},
                "products": self.docs.count(),
            }

    def close(self) -> None:
        with self._lock:
            if self._docs is None:
                return
            try:
                self.flush()
            finally:
                if self._writer_docs is not None:
                    self._writer_docs.close()
                    self._writer_docs = None
                self._docs.close()
                self._docs = None
