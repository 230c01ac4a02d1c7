"""The label history: every change of a stored product's category, whatever made it.

Every write path (``semcat index``, ``PUT``/``POST /products``, the review queue, a Python
caller) goes through :meth:`semcat.engine.Engine.index`, which records here what it
changed: the product, when, the label before (None: the product was new or unlabeled) and
after (None: the label was removed, or the product deleted), the source and, where the
caller is named, who. One SQLite file per store collection, beside the linear heads
(``<data_dir>/history/<store>-<collection>.sqlite``), in WAL mode with full syncs: a change
is on disk before the write that made it is acknowledged. API workers of one server share
the file (SQLite locks it); a Qdrant server used by API replicas on several hosts needs
``data_dir`` on storage they share for one history (docs/design-notes.md, "Label history").
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from semcat.catalog import PATH_JOIN

SOURCES = ("cli", "api", "review", "python")  # who wrote: `semcat index`, /products, a review session, a library call
BUSY_MS = 30_000  # how long a write waits for another process's write to the same file


def under(column: str, category: str) -> tuple[str, list[str]]:
    """A WHERE clause (and its parameters) for a ``column`` holding category paths: the
    path ``category`` itself or any path below it (LIKE's wildcards in it taken literally)."""
    escaped = category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"({column} = ? OR {column} LIKE ? ESCAPE '\\')", [category, f"{escaped}{PATH_JOIN}%"]


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """A review database (created with ``schema`` if new), shared by threads (callers
    lock) and processes (SQLite locks; a writer waits up to BUSY_MS for another): WAL, and
    full syncs so a committed change is on disk before the write it records is answered."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_MS / 1000)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db


@dataclass(frozen=True, slots=True)
class LabelChange:
    """One change of one product's label."""

    product_id: str
    old: str | None  # the category before (' > '-joined); None: new, or unlabeled
    new: str | None  # the category after; None: unlabeled, or deleted
    source: str
    at: float = 0.0  # seconds since the epoch
    actor: str | None = None
    seq: int = 0  # the change's place in the history (0: not recorded yet)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LabelHistory:
    """The label changes of one store collection (opened on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(
                self.path,
                "CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, product_id TEXT NOT NULL, "
                "at REAL NOT NULL, old TEXT, new TEXT, source TEXT NOT NULL, actor TEXT);"
                "CREATE INDEX IF NOT EXISTS changes_product ON changes (product_id, seq);",
            )
        return self._db

    def record(self, changes: Iterable[LabelChange]) -> int:
        """Append the changes in one transaction; how many were recorded."""
        rows = [(c.product_id, c.at or time.time(), c.old, c.new, c.source, c.actor) for c in changes]
        if not rows:
            return 0
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO changes (product_id, at, old, new, source, actor) VALUES (?, ?, ?, ?, ?, ?)", rows
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return len(rows)

    def of(self, product_id: str, limit: int | None = None) -> list[LabelChange]:
        """A product's changes, oldest first (``limit``: the latest ones)."""
        query = (
            "SELECT seq, product_id, at, old, new, source, actor FROM changes WHERE product_id = ? ORDER BY seq DESC"
        )
        params: Sequence[Any] = (product_id,)
        if limit is not None:
            query += " LIMIT ?"
            params = (product_id, limit)
        with self._lock:
            found = self._conn().execute(query, params).fetchall()
        return [
            LabelChange(product_id=pid, at=at, old=old, new=new, source=source, actor=actor, seq=seq)
            for seq, pid, at, old, new, source, actor in reversed(found)
        ]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
