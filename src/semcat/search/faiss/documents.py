"""The FAISS backend's document store: SQLite (WAL), the source of truth.

It holds each product's payload, its vectors (float32 blobs per space), its sparse rows,
its category prefixes (what a category filter matches) and a ``generation`` counter that
every write transaction bumps, so any process can tell its in-memory indexes lag behind.

Long module: the database is the store's source of truth, and every SQL statement over it
(schema, change log, reads for requests, writes, the read-only opening another process
uses) lives here, next to the schema it depends on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from semcat.errors import StoreError, StoreMissingError
from semcat.search.base import Page, Record, SearchFilter, StoreMeta, cursor_number, level_key

SQLITE_MAX_INT = 2**63 - 1  # SQLite's largest integer: a larger cursor is past every row

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
-- (prefix, iid): a filter's products read from the index alone (at 1M products a main
-- category's 150,000 ids took 90-180 ms through the table rows, 10-30 ms from the index)
CREATE INDEX IF NOT EXISTS prefixes_prefix_iid ON prefixes(prefix, iid);
DROP INDEX IF EXISTS prefixes_prefix;
CREATE INDEX IF NOT EXISTS prefixes_iid ON prefixes(iid);
CREATE INDEX IF NOT EXISTS items_category ON items(category);
-- by product alone: reading a product's vectors of every space, and the cascade that
-- deletes them with it, would otherwise scan every stored vector (seconds at 1M products)
CREATE INDEX IF NOT EXISTS vectors_iid ON vectors(iid);
CREATE INDEX IF NOT EXISTS sparse_iid ON sparse(iid);
-- what each write changed (kind: see CHANGE_*), so that another process serving the same
-- store brings its in-memory indexes in line with the write instead of rebuilding them;
-- kept for the last CHANGE_LOG_GENERATIONS writes
CREATE TABLE IF NOT EXISTS changes (
    generation INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    iid INTEGER NOT NULL,
    space TEXT
);
CREATE INDEX IF NOT EXISTS changes_generation ON changes(generation);
"""
# kinds of change-log rows
CHANGE_FORGET = 0  # a vector of ``space`` left the store (its product deleted or replaced)
CHANGE_REMOVED = 1  # a product was deleted or replaced
CHANGE_INSERTED = 2  # a new product (its vectors, sparse rows and payload are in the tables)
CHANGE_RELABELED = 3  # a product's payload changed, same vectors
# writes whose changes stay in the log: a process more writes behind than this rebuilds
# its indexes from the tables instead of following the log (a bulk index writes a few
# hundred products per write, so the log stays a few hundred thousand rows at most)
CHANGE_LOG_GENERATIONS = 512
_CHUNK = 500  # ids per SQL IN (...) clause


def chunks(seq: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection to the database (in WAL mode; deletes cascade), read-write or read-only."""
    target = path.resolve().as_uri() + "?mode=ro" if read_only else str(path)
    db = sqlite3.connect(target, uri=read_only, check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _parse_meta(text: str) -> StoreMeta:
    stored = json.loads(text)
    return StoreMeta(
        model=stored["model"],
        spaces={k: int(v) for k, v in stored["spaces"].items()},
        sparse=tuple(stored.get("sparse", ())),
    )


def _prefix_rows(iid: int, payload: dict[str, Any]) -> list[tuple[int, int, str]]:
    return [(iid, depth, p) for depth, p in enumerate(payload.get("category_prefixes") or [], start=1)]


class Documents:
    """Payloads, vectors, sparse rows and prefixes of one collection, in ``store.sqlite``."""

    def __init__(self, directory: Path, wanted: StoreMeta | None) -> None:
        self.directory = directory
        db_path = directory / "store.sqlite"
        if wanted is None and not db_path.exists():
            raise StoreMissingError(f"no FAISS store at {directory}: index a catalog first (semcat index)")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a folder should be, no permission, ...
            raise StoreError(f"cannot create the FAISS store folder {directory}: {exc.strerror or exc}") from None
        try:
            self.db = _connect(db_path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the FAISS store database {db_path}: {exc}") from exc
        self.meta = self._check_meta(wanted)

    @classmethod
    def read_only(cls, directory: Path) -> Documents:
        """The collection in ``directory`` opened read-only, by a process that neither serves
        nor writes it (the linear head's retrain child): it creates nothing, and sees
        committed writes only."""
        if not (directory / "store.sqlite").exists():
            raise StoreMissingError(f"no FAISS store at {directory}: index a catalog first (semcat index)")
        docs = object.__new__(cls)
        docs.directory = directory
        docs.db = docs._open(read_only=True)
        row = docs.db.execute("SELECT value FROM meta WHERE key='meta'").fetchone()
        if row is None:
            raise StoreMissingError(f"the FAISS store at {directory} is empty: index a catalog first")
        docs.meta = _parse_meta(row[0])
        return docs

    def writer(self) -> Documents:
        """Another read-write connection to the database, for writes that must not hold up
        the connection requests read on (a write waits for the database's write lock,
        which another process may hold)."""
        return self._sibling(read_only=False)

    def reader(self) -> Documents:
        """Another connection to the database, read-only, for reads on another thread than
        the store's requests: it takes no lock of the store's, shares no connection with
        the request threads, and sees committed writes only (a WAL snapshot per query)."""
        return self._sibling(read_only=True)

    def _sibling(self, read_only: bool) -> Documents:
        """This collection through another connection to its database."""
        other = object.__new__(Documents)
        other.directory, other.meta = self.directory, self.meta
        other.db = other._open(read_only)
        return other

    def _open(self, read_only: bool) -> sqlite3.Connection:
        try:
            return _connect(self.directory / "store.sqlite", read_only)
        except sqlite3.DatabaseError as exc:
            doing = "read" if read_only else "write"
            raise StoreError(f"cannot {doing} the FAISS store database in {self.directory}: {exc}") from exc

    def _check_meta(self, wanted: StoreMeta | None) -> StoreMeta:
        row = self.db.execute("SELECT value FROM meta WHERE key='meta'").fetchone()
        if row is None:
            if wanted is None:
                raise StoreMissingError(f"the FAISS store at {self.directory} is empty: index a catalog first")
            # OR IGNORE: another process (an API worker) may create the same store at once
            self.db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('meta', ?), ('generation', '0')",
                (json.dumps({"model": wanted.model, "spaces": wanted.spaces, "sparse": list(wanted.sparse)}),),
            )
            row = self.db.execute("SELECT value FROM meta WHERE key='meta'").fetchone()
        have = _parse_meta(row[0])
        self._start_log()
        if wanted is not None and not wanted.same_as(have):
            raise StoreError(
                f"the store at {self.directory} holds vectors of model {have.describe()}; you asked for "
                f"{wanted.describe()}. Use another --data-dir or --collection, or delete the store to rebuild it"
            )
        return have

    def _start_log(self) -> None:
        """The change log reaches back to the generation it started at (a store made before
        the log existed starts it now)."""
        self.db.execute(
            "INSERT OR IGNORE INTO meta(key, value) SELECT 'log_floor', value FROM meta WHERE key='generation'"
        )

    def generation(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one state of the database (a read transaction under WAL), or the
        write transaction already open on this connection."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def log_changes(self, generation: int, rows: Sequence[tuple[int, int, str | None]]) -> None:
        """Record write ``generation``'s changes, (kind, internal id, space) rows, inside its
        transaction, and forget the writes older than the log keeps."""
        self.db.executemany(
            "INSERT INTO changes(generation, kind, iid, space) VALUES (?, ?, ?, ?)",
            [(generation, kind, iid, space) for kind, iid, space in rows],
        )
        floor = generation - CHANGE_LOG_GENERATIONS
        if floor > 0 and generation % 64 == 0:
            self.db.execute("DELETE FROM changes WHERE generation <= ?", (floor,))
            self.db.execute(
                "UPDATE meta SET value = ? WHERE key='log_floor' AND CAST(value AS INTEGER) < ?", (str(floor), floor)
            )

    def changes_since(self, generation: int, until: int) -> list[tuple[int, int, str | None]] | None:
        """The (kind, internal id, space) rows of the writes after ``generation`` up to
        ``until``, in order; None when the log no longer reaches back that far."""
        row = self.db.execute("SELECT value FROM meta WHERE key='log_floor'").fetchone()
        if row is None or generation < int(row[0]):
            return None
        return self.db.execute(
            "SELECT kind, iid, space FROM changes WHERE generation > ? AND generation <= ? ORDER BY generation, rowid",
            (generation, until),
        ).fetchall()

    def vectors_of(self, space: str, iids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(internal ids, vectors) of those of ``iids`` with a vector in ``space``."""
        found: list[int] = []
        blobs: list[bytes] = []
        for chunk in chunks(iids):
            marks = ",".join("?" * len(chunk))
            for iid, blob in self.db.execute(
                f"SELECT iid, vec FROM vectors WHERE space=? AND iid IN ({marks})", [space, *chunk]
            ):
                found.append(iid)
                blobs.append(blob)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(found), self.meta.spaces[space])
        return np.asarray(found, dtype=np.int64), vectors

    def sparse_of(self, space: str, iids: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The sparse rows of ``space`` of those of ``iids`` that have one."""
        rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for chunk in chunks(iids):
            marks = ",".join("?" * len(chunk))
            for iid, idx, val in self.db.execute(
                f"SELECT iid, idx, val FROM sparse WHERE space=? AND iid IN ({marks})", [space, *chunk]
            ):
                rows[iid] = (np.frombuffer(idx, dtype=np.int32), np.frombuffer(val, dtype=np.float32))
        return rows

    @contextmanager
    def transaction(self) -> Iterator[int]:
        """One write transaction (the database locked for writers); yields the generation
        as of the lock, and bumps it on commit."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.generation()
            self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # ----------------------------------------------------------------- writes
    def iids_for(self, ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            for pid, iid in self.db.execute(f"SELECT id, iid FROM items WHERE id IN ({marks})", list(chunk)):
                found[pid] = iid
        return found

    def space_members(self, iids: Sequence[int]) -> dict[str, list[int]]:
        """Which of these products have a vector in each space (not all have every space)."""
        members: dict[str, list[int]] = {}
        for chunk in chunks(iids):
            marks = ",".join("?" * len(chunk))
            for iid, space in self.db.execute(f"SELECT iid, space FROM vectors WHERE iid IN ({marks})", list(chunk)):
                members.setdefault(space, []).append(iid)
        return members

    def delete(self, iids: Sequence[int]) -> None:
        self.db.executemany("DELETE FROM items WHERE iid=?", [(i,) for i in iids])

    def insert(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> np.ndarray:
        """New items (and their prefixes); returns their internal ids in order."""
        new_iids: list[int] = []
        prefix_rows: list[tuple[int, int, str]] = []
        for pid, payload in zip(ids, payloads, strict=True):
            cur = self.db.execute(
                "INSERT INTO items(id, category, payload) VALUES (?, ?, ?)",
                (pid, payload.get("category"), json.dumps(payload, ensure_ascii=False)),
            )
            iid = int(cur.lastrowid or 0)
            new_iids.append(iid)
            prefix_rows += _prefix_rows(iid, payload)
        self.db.executemany("INSERT INTO prefixes(iid, depth, prefix) VALUES (?, ?, ?)", prefix_rows)
        return np.asarray(new_iids, dtype=np.int64)

    def insert_vectors(self, space: str, iids: np.ndarray, array: np.ndarray) -> None:
        self.db.executemany(
            "INSERT INTO vectors(iid, space, vec) VALUES (?, ?, ?)",
            [(int(iid), space, vec.tobytes()) for iid, vec in zip(iids, array, strict=True)],
        )

    def insert_sparse(self, space: str, iids: np.ndarray, rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        self.db.executemany(
            "INSERT INTO sparse(iid, space, idx, val) VALUES (?, ?, ?, ?)",
            [
                (int(iid), space, idx.tobytes(), val.tobytes())
                for iid, (idx, val) in zip(iids, rows, strict=True)
                if len(idx)
            ],
        )

    def update_payload(self, iid: int, payload: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE items SET category=?, payload=? WHERE iid=?",
            (payload.get("category"), json.dumps(payload, ensure_ascii=False), iid),
        )
        self.db.execute("DELETE FROM prefixes WHERE iid=?", (iid,))
        self.db.executemany("INSERT INTO prefixes(iid, depth, prefix) VALUES (?, ?, ?)", _prefix_rows(iid, payload))

    # ------------------------------------------------------------------ reads
    def payloads_by_iid(self, iids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        out: dict[int, tuple[str, dict[str, Any]]] = {}
        for chunk in chunks(iids):
            marks = ",".join("?" * len(chunk))
            for iid, pid, payload in self.db.execute(
                f"SELECT iid, id, payload FROM items WHERE iid IN ({marks})", list(chunk)
            ):
                out[iid] = (pid, json.loads(payload))
        return out

    def records(self, ids: Sequence[str], with_vectors: bool = False) -> list[Record]:
        found: dict[str, Record] = {}
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT iid, id, payload FROM items WHERE id IN ({marks})", list(chunk)).fetchall()
            vecs: dict[int, dict[str, np.ndarray]] = {}
            if with_vectors and rows:
                imarks = ",".join("?" * len(rows))
                for iid, space, blob in self.db.execute(
                    f"SELECT iid, space, vec FROM vectors WHERE iid IN ({imarks})", [r[0] for r in rows]
                ):
                    vecs.setdefault(iid, {})[space] = np.frombuffer(blob, dtype=np.float32).copy()
            for iid, pid, payload in rows:
                found[pid] = Record(id=pid, payload=json.loads(payload), vectors=vecs.get(iid, {}))
        return [found[i] for i in ids if i in found]

    def count(self, flt: SearchFilter | None = None) -> int:
        if flt is None or flt.empty:
            return int(self.db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        if flt.category is not None:
            return int(self.db.execute("SELECT COUNT(*) FROM prefixes WHERE prefix=?", (flt.category,)).fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM items WHERE category IS NOT NULL").fetchone()[0])

    def browse(self, flt: SearchFilter | None, limit: int, cursor: str | None) -> Page:
        """A page of products in storage order, keyed on the internal id (a category's page
        is read from the (prefix, iid) index, never sorted: constant cost at any depth)."""
        after = -1
        if cursor is not None:
            after = min(cursor_number(cursor), SQLITE_MAX_INT)  # past the last row: an empty page
        if flt is not None and flt.category is not None:
            sql = (
                "SELECT i.iid, i.id, i.payload FROM prefixes p JOIN items i ON i.iid = p.iid "
                "WHERE p.prefix = ? AND p.iid > ? ORDER BY p.iid LIMIT ?"
            )
            args: list[Any] = [flt.category, after, limit + 1]
        else:
            labeled = " AND category IS NOT NULL" if flt is not None and flt.labeled else ""
            sql = f"SELECT iid, id, payload FROM items WHERE iid > ?{labeled} ORDER BY iid LIMIT ?"
            args = [after, limit + 1]
        rows = self.db.execute(sql, args).fetchall()
        records = [Record(id=pid, payload=json.loads(payload)) for _, pid, payload in rows[:limit]]
        return Page(records, str(rows[limit - 1][0]) if len(rows) > limit else None)

    def exists(self, flt: SearchFilter | None = None) -> bool:
        if flt is None or flt.empty:
            sql, args = "SELECT EXISTS(SELECT 1 FROM items)", []
        elif flt.category is not None:
            sql, args = "SELECT EXISTS(SELECT 1 FROM prefixes WHERE prefix=?)", [flt.category]
        else:
            sql, args = "SELECT EXISTS(SELECT 1 FROM items WHERE category IS NOT NULL)", []
        return bool(self.db.execute(sql, args).fetchone()[0])

    def category_counts(self, level: int | None = None) -> dict[str, int]:
        if level is None:
            rows = self.db.execute("SELECT category, COUNT(*) FROM items WHERE category IS NOT NULL GROUP BY category")
        else:
            rows = self.db.execute("SELECT prefix, COUNT(*) FROM prefixes WHERE depth=? GROUP BY prefix", (level,))
        counts = {level_key(c, level) or "": int(n) for c, n in rows}
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def allowed(self, flt: SearchFilter) -> np.ndarray | None:
        """The internal ids a filter lets through; None when it lets every product through.
        Read as one joined string (SQLite builds it without the interpreter lock; a row per
        id held the lock per row, against the head's retrain at 1M products)."""
        if flt.category is not None:
            sql, args = "SELECT group_concat(iid) FROM prefixes WHERE prefix=?", [flt.category]
        else:
            if not self.db.execute("SELECT EXISTS(SELECT 1 FROM items WHERE category IS NULL)").fetchone()[0]:
                return None  # every product is labeled (an index lookup, not two counts)
            sql, args = "SELECT group_concat(iid) FROM items WHERE category IS NOT NULL", []
        joined = self.db.execute(sql, args).fetchone()[0]
        return np.fromstring(joined, dtype=np.int64, sep=",") if joined else np.zeros(0, dtype=np.int64)

    def space_count(self, space: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM vectors WHERE space=?", (space,)).fetchone()[0])

    def sparse_count(self, space: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM sparse WHERE space=?", (space,)).fetchone()[0])

    def iter_space(self, space: str, batch: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(iids, vectors) of one space in internal-id order, in batches."""
        dim = self.meta.spaces[space]
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT iid, vec FROM vectors WHERE space=? AND iid>? ORDER BY iid LIMIT ?", (space, last, batch)
            ).fetchall()
            if not rows:
                return
            iids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield iids, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            last = int(iids[-1])

    def close(self) -> None:
        self.db.close()
