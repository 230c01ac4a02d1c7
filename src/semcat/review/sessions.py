"""Review sessions: a file of new products, their predictions, and what the team did with
each, kept on the server so every tab and client sees one state.

One SQLite file per store collection (beside the label history, same durability: WAL,
full syncs; an action is on disk before it is acknowledged). A session holds its items in
the file's order, each with the file's own cells, the product as read, its prediction once
categorized, its state (``to review``, ``accepted``, ``corrected``, ``skipped``), the final
category and a version that every action bumps (an action naming an older version is
refused: another tab acted first). Every action is logged with what it changed (the item's
state and final category before, and the stored product's label before), so the last ones
can be undone in order. The label writes themselves go through the engine
(:mod:`semcat.workbench`): this module stores the queue.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from semcat.errors import ConflictError, NotFoundError
from semcat.review.history import connect, under

TO_REVIEW, ACCEPTED, CORRECTED, SKIPPED = "to review", "accepted", "corrected", "skipped"
STATES = (TO_REVIEW, ACCEPTED, CORRECTED, SKIPPED)
CATEGORIZING, READY, FAILED = "categorizing", "ready", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, status TEXT NOT NULL,
    total INTEGER NOT NULL, error TEXT,
    header TEXT NOT NULL, options TEXT NOT NULL, rejected TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    session TEXT NOT NULL, position INTEGER NOT NULL, row INTEGER NOT NULL, product_id TEXT NOT NULL,
    cells TEXT NOT NULL, product TEXT NOT NULL, prediction TEXT, confidence REAL, decision TEXT,
    predicted TEXT, state TEXT NOT NULL, final TEXT, version INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session, position)
);
CREATE INDEX IF NOT EXISTS items_state ON items (session, state);
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL, position INTEGER NOT NULL, at REAL NOT NULL,
    old_state TEXT NOT NULL, new_state TEXT NOT NULL, old_final TEXT, new_final TEXT,
    stored INTEGER NOT NULL, stored_label TEXT, undone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS actions_session ON actions (session, undone, seq);
"""


@dataclass(frozen=True, slots=True)
class Item:
    """One product of a session (``position``: its place in the file, from 0)."""

    session: str
    position: int
    row: int  # its line in the file (a CSV header is line 1), as the reader numbers rejected rows
    product_id: str
    cells: dict[str, Any]
    product: dict[str, Any]
    prediction: dict[str, Any] | None
    state: str
    final: str | None
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "row": self.row,
            "id": self.product_id,
            "product": self.product,
            "prediction": self.prediction,
            "state": self.state,
            "final": self.final,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class Action:
    """A logged action: what it changed, to undo it."""

    seq: int
    session: str
    position: int
    old_state: str
    new_state: str
    old_final: str | None
    new_final: str | None
    stored: bool  # whether the product was stored before the action
    stored_label: str | None  # its label then


def _changed(item: Item) -> ConflictError:
    """The answer to an action on ``item`` as read, once another action changed it."""
    return ConflictError(
        f"item {item.position} of review session {item.session!r} changed since version {item.version}: read it again"
    )


class ReviewSessions:
    """The review sessions of one store collection (the database is opened on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path, _SCHEMA)
        return self._db

    def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """The statements in one transaction."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    db.execute(sql, params)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn().execute(sql, params).fetchall()

    # ------------------------------------------------------------------ sessions
    def create(
        self,
        name: str,
        items: Sequence[tuple[int, str, dict[str, Any], dict[str, Any]]],
        header: Sequence[str],
        options: dict[str, Any],
        rejected: Sequence[tuple[int, str]] = (),
    ) -> str:
        """A new session of ``items`` (row number, product id, the row's cells, the
        product), waiting to be categorized; its id."""
        sid = uuid.uuid4().hex[:12]
        rows = [
            (sid, position, row, pid, json.dumps(cells, default=str), json.dumps(product), TO_REVIEW)
            for position, (row, pid, cells, product) in enumerate(items)
        ]
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO sessions (id, name, created, status, total, header, options, rejected) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        sid,
                        name,
                        time.time(),
                        CATEGORIZING,
                        len(rows),
                        json.dumps(list(header)),
                        json.dumps(options),
                        json.dumps([{"row": r, "reason": why} for r, why in rejected]),
                    ),
                )
                db.executemany(
                    "INSERT INTO items (session, position, row, product_id, cells, product, state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return sid

    def store_predictions(self, sid: str, predictions: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Record the predictions of some items (by position) and the progress."""
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "UPDATE items SET prediction = ?, confidence = ?, decision = ?, predicted = ? "
                "WHERE session = ? AND position = ?",
                (json.dumps(p, default=float), p.get("confidence"), p.get("decision"), p.get("category"), sid, at),
            )
            for at, p in predictions
        ]
        self._write(statements)

    def finish(self, sid: str, error: str | None = None) -> None:
        status = FAILED if error else READY
        self._write([("UPDATE sessions SET status = ?, error = ? WHERE id = ?", (status, error, sid))])

    def session(self, sid: str) -> dict[str, Any]:
        """A session's summary: progress, counts per state and decision, rejected rows."""
        found = self._read(
            "SELECT id, name, created, status, total, error, header, options, rejected FROM sessions WHERE id = ?",
            (sid,),
        )
        if not found:
            raise NotFoundError(f"no review session {sid!r}")
        return self._summary(found[0])

    def sessions(self) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT id, name, created, status, total, error, header, options, rejected FROM sessions "
            "ORDER BY created DESC"
        )
        return [self._summary(row) for row in rows]

    def _summary(self, row: tuple[Any, ...]) -> dict[str, Any]:
        sid, name, created, status, total, error, header, options, rejected = row
        states = dict.fromkeys(STATES, 0)
        for state, count in self._read("SELECT state, COUNT(*) FROM items WHERE session = ? GROUP BY state", (sid,)):
            states[state] = count
        auto, categorized = self._read(
            "SELECT COALESCE(SUM(decision = 'auto'), 0), COUNT(prediction) FROM items WHERE session = ?", (sid,)
        )[0]
        return {
            "id": sid,
            "name": name,
            "created": created,
            "status": status,
            "total": total,
            "categorized": categorized,
            "error": error,
            "states": states,
            "auto": auto,
            "header": json.loads(header),
            "options": json.loads(options),
            "rejected": json.loads(rejected),
        }

    # --------------------------------------------------------------------- items
    _ITEM = "session, position, row, product_id, cells, product, prediction, state, final, version"

    def _item(self, row: tuple[Any, ...]) -> Item:
        sid, position, number, pid, cells, product, prediction, state, final, version = row
        return Item(
            sid,
            position,
            number,
            pid,
            json.loads(cells),
            json.loads(product),
            json.loads(prediction) if prediction else None,
            state,
            final,
            version,
        )

    def item(self, sid: str, position: int) -> Item:
        found = self._read(f"SELECT {self._ITEM} FROM items WHERE session = ? AND position = ?", (sid, position))
        if not found:
            self.session(sid)  # an unknown session says so
            raise NotFoundError(f"review session {sid!r} has no item {position}")
        return self._item(found[0])

    def items(
        self,
        sid: str,
        *,
        states: Sequence[str] = (),
        decision: str | None = None,
        min_confidence: float | None = None,
        max_confidence: float | None = None,
        category: str | None = None,
        positions: Sequence[int] | None = None,
        uncategorized: bool = False,
        order: str = "position",
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[Item]]:
        """The items matching every filter given (``category``: predicted under it), the
        number that match, and the page asked for (``order``: ``position``, the file's
        order, or ``confidence``, the least confident first)."""
        self.session(sid)
        where, params = ["session = ?"], [sid]
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += list(states)
        if decision is not None:
            where.append("decision = ?")
            params.append(decision)
        if min_confidence is not None:
            where.append("confidence >= ?")
            params.append(min_confidence)
        if max_confidence is not None:
            where.append("confidence < ?")
            params.append(max_confidence)
        if category:
            clause, values = under("predicted", category)
            where.append(clause)
            params += values
        if uncategorized:
            where.append("prediction IS NULL")
        if positions is not None:
            where.append(f"position IN ({', '.join('?' * len(positions))})")
            params += list(positions)
        clause = " AND ".join(where)
        total = self._read(f"SELECT COUNT(*) FROM items WHERE {clause}", params)[0][0]
        by = "confidence IS NULL, confidence, position" if order == "confidence" else "position"
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        rows = self._read(f"SELECT {self._ITEM} FROM items WHERE {clause} ORDER BY {by}{page}", params)
        return total, [self._item(row) for row in rows]

    # ------------------------------------------------------------------- actions
    def claim(self, items: Sequence[Item]) -> list[Item]:
        """Take the items for an action before its label is written: each one's version,
        still the one read, is bumped in one transaction (else nothing is, and a
        :class:`ConflictError` says another tab acted first). Two tabs acting at once on
        an item thus never both write the store: the loser is refused before its write,
        not after it. The items as claimed (their new version, for :meth:`act_many`)."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                for item in items:
                    if not db.execute(
                        "UPDATE items SET version = version + 1 WHERE session = ? AND position = ? AND version = ?",
                        (item.session, item.position, item.version),
                    ).rowcount:
                        raise _changed(item)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return [replace(item, version=item.version + 1) for item in items]

    def act_many(self, actions: Sequence[tuple[Item, str, str | None, bool, str | None]]) -> list[Item]:
        """Record actions, each (the item as read, its new state, its final category,
        whether the product was stored before, its label then), in one transaction: every
        item's version must still be the one read (else nothing is recorded: another tab
        acted first); the items as they are now."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                for item, state, final, stored, label in actions:
                    changed = db.execute(
                        "UPDATE items SET state = ?, final = ?, version = version + 1 "
                        "WHERE session = ? AND position = ? AND version = ?",
                        (state, final, item.session, item.position, item.version),
                    ).rowcount
                    if changed == 0:
                        raise _changed(item)
                    db.execute(
                        "INSERT INTO actions (session, position, at, old_state, new_state, old_final, new_final, "
                        "stored, stored_label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (item.session, item.position, now, item.state, state, item.final, final, int(stored), label),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if not actions:
            return []
        sid = actions[0][0].session
        _, items = self.items(sid, positions=[item.position for item, *_ in actions])
        return items

    def last_action(self, sid: str) -> Action | None:
        """The latest action of the session not undone yet."""
        self.session(sid)
        found = self._read(
            "SELECT seq, session, position, old_state, new_state, old_final, new_final, stored, stored_label "
            "FROM actions WHERE session = ? AND undone = 0 ORDER BY seq DESC LIMIT 1",
            (sid,),
        )
        if not found:
            return None
        seq, session, position, old_state, new_state, old_final, new_final, stored, stored_label = found[0]
        return Action(seq, session, position, old_state, new_state, old_final, new_final, bool(stored), stored_label)

    def undone(self, action: Action) -> Item:
        """Mark ``action`` undone and put its item back as it was before it."""
        self._write(
            [
                ("UPDATE actions SET undone = 1 WHERE seq = ?", (action.seq,)),
                (
                    "UPDATE items SET state = ?, final = ?, version = version + 1 WHERE session = ? AND position = ?",
                    (action.old_state, action.old_final, action.session, action.position),
                ),
            ]
        )
        return self.item(action.session, action.position)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
