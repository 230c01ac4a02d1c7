"""FAISS backend: the embedded default.

SQLite (WAL) is the source of truth: payloads, vectors (as float32 blobs) and a
``generation`` counter bumped by every write transaction. The FAISS indexes (one per
vector space) are a derived cache, saved atomically (write + ``os.replace``) on
:meth:`FaissStore.flush` and tagged with the generation they reflect. On open, an
index file whose generation matches the database is loaded; any other is rebuilt
from SQLite. So a process killed at any instant loses at most the write in flight,
and never leaves a duplicate: upsert deletes the old row and inserts the new one in
one transaction.

Index kinds: exact inner product (``IndexFlatIP``) below ``hnsw_threshold`` vectors,
HNSW above it (``auto``), or forced. HNSW cannot remove vectors, so replaced or
deleted products leave tombstones that searches skip and a rebuild clears.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from semcat.errors import NotFoundError, StoreError, StoreMissingError
from semcat.search.base import (
    DEFAULT_SPACE,
    Hit,
    Record,
    SearchFilter,
    SingleQueryMixin,
    StoreMeta,
    VectorsIn,
    as_space_arrays,
    as_sparse_rows,
    check_query,
    check_sparse_query,
    level_key,
)

IndexKind = Literal["auto", "flat", "hnsw"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    iid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    category TEXT,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    iid INTEGER NOT NULL REFERENCES items(iid) ON DELETE CASCADE,
    space TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (space, iid)
);
CREATE TABLE IF NOT EXISTS sparse (
    iid INTEGER NOT NULL REFERENCES items(iid) ON DELETE CASCADE,
    space TEXT NOT NULL,
    idx BLOB NOT NULL,
    val BLOB NOT NULL,
    PRIMARY KEY (space, iid)
);
CREATE TABLE IF NOT EXISTS prefixes (
    iid INTEGER NOT NULL REFERENCES items(iid) ON DELETE CASCADE,
    depth INTEGER NOT NULL,
    prefix TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS prefixes_prefix ON prefixes(prefix);
CREATE INDEX IF NOT EXISTS prefixes_iid ON prefixes(iid);
CREATE INDEX IF NOT EXISTS items_category ON items(category);
"""
_CHUNK = 500  # ids per SQL IN (...) clause
_REBUILD_STALE_FRACTION = 0.2


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - broken install
        raise StoreError(f"faiss is not importable ({exc}); pip install faiss-cpu") from exc
    return faiss


def _chunks(seq: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def _prefix_rows(iid: int, payload: dict[str, Any]) -> list[tuple[int, int, str]]:
    return [(iid, depth, p) for depth, p in enumerate(payload.get("category_prefixes") or [], start=1)]


class FaissStore(SingleQueryMixin):
    """A persisted FAISS collection under ``directory``."""

    backend = "faiss"

    def __init__(
        self,
        directory: Path,
        meta: StoreMeta | None,
        index_kind: IndexKind = "auto",
        hnsw_threshold: int = 100_000,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
    ) -> None:
        self._faiss = _import_faiss()
        self.directory = Path(directory)
        self.index_kind = index_kind
        self.hnsw_threshold = hnsw_threshold
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self._lock = threading.RLock()
        db_path = self.directory / "store.sqlite"
        if meta is None and not db_path.exists():
            raise StoreMissingError(f"no FAISS store at {self.directory}: index a catalog first (semcat index)")
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the FAISS store database {db_path}: {exc}") from exc
        self.meta = self._check_meta(meta)
        self._indexes: dict[str, Any] = {}
        self._stale: dict[str, int] = {}
        self._selector_cache: dict[tuple[str | None, bool], tuple[int, Any, int]] = {}
        self._sparse_cache: dict[str, tuple[int, _SparseIndex]] = {}
        self._generation = -1
        self._dirty = False
        self._foreign_write = False
        self._load_indexes()

    # ------------------------------------------------------------------ setup
    def _check_meta(self, wanted: StoreMeta | None) -> StoreMeta:
        row = self._db.execute("SELECT value FROM meta WHERE key='meta'").fetchone()
        if row is None:
            if wanted is None:
                raise StoreMissingError(f"the FAISS store at {self.directory} is empty: index a catalog first")
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('meta', ?), ('generation', '0')",
                (json.dumps({"model": wanted.model, "spaces": wanted.spaces, "sparse": list(wanted.sparse)}),),
            )
            return wanted
        stored = json.loads(row[0])
        have = StoreMeta(
            model=stored["model"],
            spaces={k: int(v) for k, v in stored["spaces"].items()},
            sparse=tuple(stored.get("sparse", ())),
        )
        if wanted is not None and not wanted.same_as(have):
            raise StoreError(
                f"the store at {self.directory} holds vectors of model {have.describe()}; you asked for "
                f"{wanted.describe()}. Use another --data-dir or --collection, or delete the store to rebuild it"
            )
        return have

    def _db_generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def _index_path(self, space: str) -> Path:
        return self.directory / f"{space}.faiss"

    def _load_indexes(self) -> None:
        """Load saved index files if they reflect the database, else rebuild."""
        generation = self._db_generation()
        state_path = self.directory / "index.json"
        state: dict[str, Any] = {}
        if state_path.exists():
            try:
                state = json.loads(state_path.read_text())
            except ValueError:
                state = {}
        loaded: dict[str, Any] = {}
        if state.get("generation") == generation:
            try:
                for space in self.meta.spaces:
                    loaded[space] = self._faiss.read_index(str(self._index_path(space)))
            except RuntimeError:
                loaded = {}
        if len(loaded) == len(self.meta.spaces):
            self._indexes = loaded
            self._stale = {s: int(state.get("stale", {}).get(s, 0)) for s in self.meta.spaces}
            self._apply_search_params()
            self._generation = generation
            self._dirty = False
        else:
            self.rebuild()

    def _new_index(self, space: str, n: int) -> Any:
        faiss = self._faiss
        dim = self.meta.spaces[space]
        use_hnsw = self.index_kind == "hnsw" or (self.index_kind == "auto" and n >= self.hnsw_threshold)
        if use_hnsw:
            inner = faiss.IndexHNSWFlat(dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.ef_construction
            inner.hnsw.efSearch = self.ef_search
        else:
            inner = faiss.IndexFlatIP(dim)
        return faiss.IndexIDMap2(inner)

    def _is_hnsw(self, space: str) -> bool:
        return isinstance(self._faiss.downcast_index(self._indexes[space].index), self._faiss.IndexHNSW)

    def _apply_search_params(self) -> None:
        for space in self._indexes:
            if self._is_hnsw(space):
                self._faiss.downcast_index(self._indexes[space].index).hnsw.efSearch = self.ef_search

    def rebuild(self) -> None:
        """Rebuild every index from the vectors in SQLite (clears HNSW tombstones)."""
        with self._lock:
            generation = self._db_generation()
            for space in self.meta.spaces:
                n = self._db.execute("SELECT COUNT(*) FROM vectors WHERE space=?", (space,)).fetchone()[0]
                index = self._new_index(space, n)
                for iids, vecs in self._iter_space_blobs(space):
                    index.add_with_ids(vecs, iids)
                self._indexes[space] = index
                self._stale[space] = 0
            self._generation = generation
            self._selector_cache.clear()
            self._dirty = True

    def _iter_space_blobs(self, space: str, batch: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        dim = self.meta.spaces[space]
        last = -1
        while True:
            rows = self._db.execute(
                "SELECT iid, vec FROM vectors WHERE space=? AND iid>? ORDER BY iid LIMIT ?", (space, last, batch)
            ).fetchall()
            if not rows:
                return
            iids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            yield iids, vecs
            last = int(iids[-1])

    def _sync(self) -> None:
        """Another process wrote since we loaded: reload (cheap check on every read)."""
        if self._db_generation() != self._generation:
            if self._dirty:
                self.rebuild()
            else:
                self._load_indexes()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        # Another process may have written between our last read and this lock.
        self._foreign_write = self._db_generation() != self._generation
        try:
            yield self._db
            self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # ----------------------------------------------------------------- writes
    def upsert(self, ids: Sequence[str], vectors: VectorsIn, payloads: Sequence[dict[str, Any]]) -> None:
        ids = [str(i) for i in ids]
        if len(payloads) != len(ids):
            raise StoreError(f"{len(ids)} ids but {len(payloads)} payloads")
        arrays = as_space_arrays(ids, vectors, self.meta)
        sparse_rows = as_sparse_rows(ids, vectors, self.meta)
        if not ids:
            return
        with self._lock:
            self._sync()
            with self._transaction() as db:
                old = self._iids_for(ids)
                members = self._space_members(list(old.values()))
                if old:
                    db.executemany("DELETE FROM items WHERE iid=?", [(i,) for i in old.values()])
                new_iids: list[int] = []
                prefix_rows: list[tuple[int, int, str]] = []
                for pid, payload in zip(ids, payloads, strict=True):
                    cur = db.execute(
                        "INSERT INTO items(id, category, payload) VALUES (?, ?, ?)",
                        (pid, payload.get("category"), json.dumps(payload, ensure_ascii=False)),
                    )
                    iid = int(cur.lastrowid or 0)
                    new_iids.append(iid)
                    prefix_rows += _prefix_rows(iid, payload)
                iid_array = np.asarray(new_iids, dtype=np.int64)
                for space, (rows, array) in arrays.items():
                    db.executemany(
                        "INSERT INTO vectors(iid, space, vec) VALUES (?, ?, ?)",
                        [(int(iid), space, vec.tobytes()) for iid, vec in zip(iid_array[rows], array, strict=True)],
                    )
                for space, rows in sparse_rows.items():
                    db.executemany(
                        "INSERT INTO sparse(iid, space, idx, val) VALUES (?, ?, ?, ?)",
                        [
                            (iid, space, idx.tobytes(), val.tobytes())
                            for iid, (idx, val) in zip(new_iids, rows, strict=True)
                            if len(idx)
                        ],
                    )
                db.executemany("INSERT INTO prefixes(iid, depth, prefix) VALUES (?, ?, ?)", prefix_rows)
            self._forget(members)
            for space, (rows, array) in arrays.items():
                if len(rows):
                    self._indexes[space].add_with_ids(array, iid_array[rows])
            self._after_write()

    def update_payloads(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        ids = [str(i) for i in ids]
        with self._lock:
            self._sync()
            with self._transaction() as db:
                existing = self._iids_for(ids)
                missing = [i for i in ids if i not in existing]
                if missing:
                    raise NotFoundError(f"unknown product id(s): {', '.join(missing[:10])}")
                for pid, payload in zip(ids, payloads, strict=True):
                    iid = existing[pid]
                    db.execute(
                        "UPDATE items SET category=?, payload=? WHERE iid=?",
                        (payload.get("category"), json.dumps(payload, ensure_ascii=False), iid),
                    )
                    db.execute("DELETE FROM prefixes WHERE iid=?", (iid,))
                    db.executemany(
                        "INSERT INTO prefixes(iid, depth, prefix) VALUES (?, ?, ?)", _prefix_rows(iid, payload)
                    )
            self._after_write()

    def delete(self, ids: Sequence[str]) -> int:
        ids = [str(i) for i in ids]
        with self._lock:
            self._sync()
            with self._transaction() as db:
                old = self._iids_for(ids)
                members = self._space_members(list(old.values()))
                db.executemany("DELETE FROM items WHERE iid=?", [(i,) for i in old.values()])
            self._forget(members)
            self._after_write()
            return len(old)

    def _iids_for(self, ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for pid, iid in self._db.execute(f"SELECT id, iid FROM items WHERE id IN ({marks})", list(chunk)):
                found[pid] = iid
        return found

    def _space_members(self, iids: list[int]) -> dict[str, list[int]]:
        """Which of these products have a vector in each space (not all have every space)."""
        members: dict[str, list[int]] = {}
        for chunk in _chunks(iids):
            marks = ",".join("?" * len(chunk))
            for iid, space in self._db.execute(f"SELECT iid, space FROM vectors WHERE iid IN ({marks})", list(chunk)):
                members.setdefault(space, []).append(iid)
        return members

    def _forget(self, members: dict[str, list[int]]) -> None:
        for space, iids in members.items():
            if space not in self._indexes or not iids:
                continue
            if self._is_hnsw(space):
                self._stale[space] += len(iids)  # tombstones: skipped at search, cleared by rebuild
            else:
                self._indexes[space].remove_ids(np.asarray(iids, dtype=np.int64))

    def _after_write(self) -> None:
        self._selector_cache.clear()
        self._dirty = True
        if self._foreign_write:
            self.rebuild()  # our in-memory index missed the other writer's changes
        self._generation = self._db_generation()

    def flush(self) -> None:
        """Save the indexes (switching kind or clearing tombstones first when due)."""
        with self._lock:
            if not self._dirty:
                return
            for space, index in self._indexes.items():
                live = index.ntotal - self._stale[space]
                hnsw = self._is_hnsw(space)
                wants_hnsw = self.index_kind == "hnsw" or (self.index_kind == "auto" and live >= self.hnsw_threshold)
                if hnsw != wants_hnsw or (hnsw and self._stale[space] > _REBUILD_STALE_FRACTION * max(live, 1)):
                    self.rebuild()
                    break
            for space, index in self._indexes.items():
                tmp = self._index_path(space).with_suffix(".faiss.tmp")
                self._faiss.write_index(index, str(tmp))
                os.replace(tmp, self._index_path(space))
            state = {"generation": self._generation, "stale": self._stale}
            tmp_state = self.directory / "index.json.tmp"
            tmp_state.write_text(json.dumps(state))
            os.replace(tmp_state, self.directory / "index.json")
            self._dirty = False

    # ------------------------------------------------------------------ reads
    def _selector(self, flt: SearchFilter) -> tuple[Any, int] | None:
        """(IDSelector, allowed count) for a filter, or None when it lets all through."""
        key = (flt.category, flt.labeled)
        cached = self._selector_cache.get(key)
        if cached and cached[0] == self._generation:
            return None if cached[1] is None else (cached[1], cached[2])
        if flt.category is not None:
            sql, args = "SELECT p.iid FROM prefixes p WHERE p.prefix=?", [flt.category]
        else:
            sql, args = "SELECT iid FROM items WHERE category IS NOT NULL", []
            total = self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            labeled = self._db.execute("SELECT COUNT(*) FROM items WHERE category IS NOT NULL").fetchone()[0]
            if labeled == total:
                self._selector_cache[key] = (self._generation, None, total)
                return None
        allowed = np.fromiter((r[0] for r in self._db.execute(sql, args)), dtype=np.int64)
        selector = self._faiss.IDSelectorBatch(allowed)
        self._selector_cache[key] = (self._generation, (selector, allowed), len(allowed))
        return (selector, allowed), len(allowed)

    def search_batch(
        self, vectors: np.ndarray, k: int, filter: SearchFilter | None = None, space: str = DEFAULT_SPACE
    ) -> list[list[Hit]]:
        queries = check_query(vectors, self.meta, space, k)
        with self._lock:
            self._sync()
            index = self._indexes[space]
            hnsw = self._is_hnsw(space)
            params = None
            allowed_iids: np.ndarray | None = None
            if filter is not None and not filter.empty:
                sel = self._selector(filter)
                if sel is not None:
                    (selector, allowed_iids), n_allowed = sel
                    if n_allowed == 0:
                        return [[] for _ in range(len(queries))]
                    params = (
                        self._faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef_search, k))
                        if hnsw
                        else self._faiss.SearchParameters(sel=selector)
                    )
            fetch = min(k + (self._stale[space] if hnsw else 0), max(index.ntotal, 1))
            if index.ntotal == 0:
                return [[] for _ in range(len(queries))]
            if hnsw and params is None:
                params = self._faiss.SearchParametersHNSW(efSearch=max(self.ef_search, fetch))
            scores, iids = index.search(queries, fetch, params=params)
            results = self._hits(scores, iids, k)
            if hnsw and allowed_iids is not None:
                # HNSW with a narrow filter can come back short: finish those exactly.
                want = min(k, len(allowed_iids))
                for row, hits in enumerate(results):
                    if len(hits) < want:
                        results[row] = self._exact_subset(queries[row], allowed_iids, k, space)
            return results

    def search_sparse(
        self, queries: Sequence[tuple[np.ndarray, np.ndarray]], k: int, filter: SearchFilter | None, space: str
    ) -> list[list[Hit]]:
        check_sparse_query(self.meta, space, k)
        with self._lock:
            self._sync()
            cached = self._sparse_cache.get(space)
            if cached is None or cached[0] != self._generation:
                cached = (self._generation, _SparseIndex.load(self._db, space))
                self._sparse_cache[space] = cached
            index = cached[1]
            if index.n_docs == 0 or not queries:
                return [[] for _ in queries]
            allowed = None
            if filter is not None and not filter.empty:
                sel = self._selector(filter)
                if sel is not None:
                    allowed = np.isin(index.iids, sel[0][1])
            scores = index.scores(queries)
            if allowed is not None:
                scores[:, ~allowed] = 0.0
            fetch = min(k, index.n_docs)
            top = np.argpartition(-scores, fetch - 1, axis=1)[:, :fetch]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1)
            top = np.take_along_axis(top, order, axis=1)
            top_scores = np.take_along_axis(top_scores, order, axis=1)
            iids = np.where(top_scores > 0, index.iids[top], -1)  # no shared word: not a neighbor
            return self._hits(top_scores, iids, k)

    def _hits(self, scores: np.ndarray, iids: np.ndarray, k: int) -> list[list[Hit]]:
        wanted = {int(i) for i in iids.ravel() if i >= 0}
        payloads = self._payloads_by_iid(list(wanted))
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

    def _exact_subset(self, query: np.ndarray, allowed: np.ndarray, k: int, space: str) -> list[Hit]:
        dim = self.meta.spaces[space]
        iids: list[int] = []
        blobs: list[bytes] = []
        for chunk in _chunks(allowed.tolist()):
            marks = ",".join("?" * len(chunk))
            for iid, vec in self._db.execute(
                f"SELECT iid, vec FROM vectors WHERE space=? AND iid IN ({marks})", [space, *chunk]
            ):
                iids.append(iid)
                blobs.append(vec)
        if not iids:
            return []
        matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(iids), dim)
        sims = matrix @ query
        order = np.argsort(-sims)[:k]
        return self._hits(sims[order][None, :], np.asarray(iids, dtype=np.int64)[order][None, :], k)[0]

    def _payloads_by_iid(self, iids: list[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        out: dict[int, tuple[str, dict[str, Any]]] = {}
        for chunk in _chunks(iids):
            marks = ",".join("?" * len(chunk))
            for iid, pid, payload in self._db.execute(
                f"SELECT iid, id, payload FROM items WHERE iid IN ({marks})", list(chunk)
            ):
                out[iid] = (pid, json.loads(payload))
        return out

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Record]:
        ids = [str(i) for i in ids]
        with self._lock:
            found: dict[str, Record] = {}
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT iid, id, payload FROM items WHERE id IN ({marks})", list(chunk)
                ).fetchall()
                vecs: dict[int, dict[str, np.ndarray]] = {}
                if with_vectors and rows:
                    imarks = ",".join("?" * len(rows))
                    for iid, space, blob in self._db.execute(
                        f"SELECT iid, space, vec FROM vectors WHERE iid IN ({imarks})", [r[0] for r in rows]
                    ):
                        vecs.setdefault(iid, {})[space] = np.frombuffer(blob, dtype=np.float32).copy()
                for iid, pid, payload in rows:
                    found[pid] = Record(id=pid, payload=json.loads(payload), vectors=vecs.get(iid, {}))
            return [found[i] for i in ids if i in found]

    def count(self, filter: SearchFilter | None = None) -> int:
        with self._lock:
            if filter is None or filter.empty:
                return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
            if filter.category is not None:
                return int(
                    self._db.execute("SELECT COUNT(*) FROM prefixes WHERE prefix=?", (filter.category,)).fetchone()[0]
                )
            return int(self._db.execute("SELECT COUNT(*) FROM items WHERE category IS NOT NULL").fetchone()[0])

    def category_counts(self, level: int | None = None) -> dict[str, int]:
        with self._lock:
            if level is None:
                rows = self._db.execute(
                    "SELECT category, COUNT(*) FROM items WHERE category IS NOT NULL GROUP BY category"
                )
            else:
                rows = self._db.execute("SELECT prefix, COUNT(*) FROM prefixes WHERE depth=? GROUP BY prefix", (level,))
            counts = {level_key(c, level) or "": int(n) for c, n in rows}
            return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def iter_vectors(
        self, space: str = DEFAULT_SPACE, batch_size: int = 1024
    ) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        if space not in self.meta.spaces:
            raise StoreError(f"unknown vector space {space!r}")
        for iids, vecs in self._iter_space_blobs(space, batch_size):
            payloads = self._payloads_by_iid(iids.tolist())
            keep = [n for n, iid in enumerate(iids.tolist()) if iid in payloads]
            yield (
                [payloads[int(iids[n])][0] for n in keep],
                vecs[keep],
                [payloads[int(iids[n])][1] for n in keep],
            )

    def describe(self) -> dict[str, Any]:
        with self._lock:
            self._sync()
            return {
                "backend": "faiss",
                "location": str(self.directory),
                "model": self.meta.model,
                "spaces": {
                    space: {
                        "dim": self.meta.spaces[space],
                        "index": "hnsw" if self._is_hnsw(space) else "flat (exact)",
                        "vectors": int(index.ntotal - self._stale[space]),
                        "tombstones": int(self._stale[space]),
                    }
                    for space, index in self._indexes.items()
                },
                "sparse": {
                    space: {
                        "vectors": int(
                            self._db.execute("SELECT COUNT(*) FROM sparse WHERE space=?", (space,)).fetchone()[0]
                        )
                    }
                    for space in self.meta.sparse
                },
                "products": self.count(),
            }

    def close(self) -> None:
        with self._lock:
            if getattr(self, "_db", None) is None:
                return
            try:
                self.flush()
            finally:
                self._db.close()
                self._db = None  # type: ignore[assignment]


class _SparseIndex:
    """The stored sparse rows of one space as a CSR matrix, with document frequencies."""

    def __init__(self, iids: np.ndarray, matrix: Any) -> None:
        from semcat.embedding.lexical import N_FEATURES, bm25_idf

        self.iids = iids
        self.matrix = matrix
        self.n_docs = len(iids)
        doc_freq = np.bincount(matrix.indices, minlength=N_FEATURES) if self.n_docs else np.zeros(N_FEATURES)
        self.idf = bm25_idf(doc_freq, self.n_docs).astype(np.float32)

    @classmethod
    def load(cls, db: sqlite3.Connection, space: str) -> _SparseIndex:
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
