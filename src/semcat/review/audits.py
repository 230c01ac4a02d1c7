"""The label audits of a store, kept beside its review sessions: each run's suspects and
conflicting near-duplicate groups, read a page at a time, and the suspects a reviewer
decided to keep as they are.

A kept suspect stays hidden while its label and the neighbors that made it suspect are
the same; a later audit that finds it suspect with other neighbors (or another label)
lists it again: what changed may be what makes it wrong now.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semcat.catalog import PATH_JOIN
from semcat.categorize.audit import AuditReport, Evidence, Suspect
from semcat.categorize.likeness import ConflictGroup
from semcat.errors import ConflictError, NotFoundError
from semcat.review.history import connect, under

# columns added after the first release of the file, each REAL (older suspects read as None)
ADDED_COLUMNS = ("nearest_same_label", "label_confidence", "suggested_confidence")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL, finished REAL, status TEXT NOT NULL, message TEXT,
    products INTEGER, depth INTEGER, folds INTEGER, threshold REAL, seconds REAL, generation INTEGER,
    singletons TEXT, pid INTEGER
);
CREATE TABLE IF NOT EXISTS suspects (
    run INTEGER NOT NULL, rank INTEGER NOT NULL, id TEXT NOT NULL, label TEXT NOT NULL, main TEXT NOT NULL,
    suggested TEXT, suggested_score REAL, level INTEGER NOT NULL, label_score REAL, neighbors TEXT NOT NULL,
    evidence TEXT NOT NULL,  -- evidence_key(): what a keep is compared with
    nearest_same_label REAL, label_confidence REAL, suggested_confidence REAL,
    PRIMARY KEY (run, rank)
);
CREATE INDEX IF NOT EXISTS suspects_main ON suspects(run, main);
CREATE INDEX IF NOT EXISTS suspects_id ON suspects(run, id);
CREATE TABLE IF NOT EXISTS conflicts (
    run INTEGER NOT NULL, rank INTEGER NOT NULL, members TEXT NOT NULL, size INTEGER, labels INTEGER, cosine REAL,
    PRIMARY KEY (run, rank)
);
CREATE TABLE IF NOT EXISTS kept (
    id TEXT PRIMARY KEY, label TEXT NOT NULL, evidence TEXT NOT NULL, at REAL NOT NULL, actor TEXT
);
"""
RUNNING, DONE, FAILED = "running", "done", "failed"


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (the audits' file is local)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def evidence_key(suspect: Suspect) -> str:
    """What made a suspect suspect, as a keep remembers it: its neighbors and their labels."""
    return json.dumps(sorted((n.id, n.category or "") for n in suspect.neighbors))


class Audits:
    """One store's audits, in ``path`` (SQLite)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: Any = None

    def _conn(self) -> Any:
        if self._db is None:
            db = connect(self.path, _SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(suspects)")}
            for column in ADDED_COLUMNS:  # a file from before the column: its suspects read as None
                if column not in columns:
                    db.execute(f"ALTER TABLE suspects ADD COLUMN {column} REAL")
            self._db = db
        return self._db

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._db is None and not self.path.exists():
            return []
        with self._lock:
            return self._conn().execute(sql, list(params)).fetchall()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ------------------------------------------------------------------- runs
    def start(self) -> int:
        """A new run, marked running. A run still running in a live process (another API
        worker) refuses it (409); one left running by a process that stopped is failed."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                for run, pid in db.execute("SELECT run, pid FROM runs WHERE status = ?", (RUNNING,)).fetchall():
                    if pid is not None and _alive(int(pid)):
                        raise ConflictError(f"audit {run} is still running (process {pid}): read its progress")
                    db.execute(
                        "UPDATE runs SET status = ?, message = ? WHERE run = ?",
                        (FAILED, "the process running it stopped", run),
                    )
                run = db.execute(
                    "INSERT INTO runs (started, status, pid) VALUES (?, ?, ?)", (time.time(), RUNNING, os.getpid())
                ).lastrowid
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return int(run)

    def fail(self, run: int, message: str) -> None:
        with self._lock:
            self._conn().execute(
                "UPDATE runs SET status = ?, message = ?, finished = ? WHERE run = ?",
                (FAILED, message, time.time(), run),
            )

    def finish(self, run: int, report: AuditReport) -> None:
        """Store a finished run's results in one transaction."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO suspects (run, rank, id, label, main, suggested, suggested_score, level, label_score, "
                    "neighbors, evidence, nearest_same_label, label_confidence, suggested_confidence) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run,
                            rank,
                            s.id,
                            s.label,
                            s.label.split(PATH_JOIN)[0],
                            s.suggested,
                            s.suggested_score,
                            s.level,
                            s.label_score,
                            json.dumps([[n.id, n.score, n.category] for n in s.neighbors]),
                            evidence_key(s),
                            s.nearest_same_label,
                            s.label_confidence,
                            s.suggested_confidence,
                        )
                        for rank, s in enumerate(report.suspects)
                    ],
                )
                db.executemany(
                    "INSERT INTO conflicts VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (run, rank, json.dumps(g.members), g.size, g.labels, g.cosine)
                        for rank, g in enumerate(report.conflicts)
                    ],
                )
                db.execute(
                    "UPDATE runs SET status = ?, finished = ?, products = ?, depth = ?, folds = ?, threshold = ?, "
                    "seconds = ?, generation = ?, singletons = ?, message = NULL WHERE run = ?",
                    (
                        DONE,
                        report.finished_at or time.time(),
                        report.products,
                        report.depth,
                        report.folds,
                        report.threshold,
                        report.seconds,
                        report.generation,
                        json.dumps(report.singletons),
                        run,
                    ),
                )
                # only the latest finished run is read: older ones go
                db.execute("DELETE FROM suspects WHERE run < ?", (run,))
                db.execute("DELETE FROM conflicts WHERE run < ?", (run,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def latest(self, finished: bool = False) -> dict[str, Any] | None:
        """The latest run (``finished``: the latest that finished), as a dict, or None."""
        where = "WHERE status = 'done' " if finished else ""
        rows = self._read(
            "SELECT run, started, finished, status, message, products, depth, folds, threshold, seconds, generation, "
            f"singletons FROM runs {where}ORDER BY run DESC LIMIT 1"
        )
        if not rows:
            return None
        keys = [
            *("run", "started", "finished", "status", "message", "products", "depth", "folds"),
            *("threshold", "seconds", "generation", "singletons"),
        ]
        out = dict(zip(keys, rows[0], strict=True))
        out["singletons"] = json.loads(out["singletons"]) if out["singletons"] else {}
        return out

    # ------------------------------------------------------------------ reads
    # the suspects with the keep that still holds for each (same label, same evidence), if any
    _JOINED = "FROM suspects s LEFT JOIN kept k ON k.id = s.id AND k.label = s.label AND k.evidence = s.evidence"
    _SUSPECT = (
        "s.id, s.label, s.suggested, s.suggested_score, s.level, s.label_score, s.neighbors, s.nearest_same_label, "
        "s.label_confidence, s.suggested_confidence, k.id IS NOT NULL"
    )

    @staticmethod
    def _suspect(row: Sequence[Any]) -> tuple[Suspect, bool]:
        pid, label, suggested, score, level, label_score, neighbors, nearest, label_right, suggestion_right, kept = row
        evidence = [Evidence(i, s, c) for i, s, c in json.loads(neighbors)]
        suspect = Suspect(
            pid, label, suggested, score, level, label_score, evidence, nearest, label_right, suggestion_right
        )
        return suspect, bool(kept)

    def _where(self, run: int, category: str | None, level: int | None, include_kept: bool) -> tuple[str, list[Any]]:
        where, params = ["s.run = ?"], [run]
        if category:
            clause, values = under("s.label", category)
            where.append(clause)
            params += values
        if level is not None:
            where.append("s.level = ?")
            params.append(level)
        if not include_kept:
            where.append("k.id IS NULL")
        return " AND ".join(where), params

    def suspects(
        self,
        run: int,
        *,
        category: str | None = None,
        level: int | None = None,
        include_kept: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[tuple[Suspect, bool]]]:
        """A run's suspects (the most likely wrong first) whose stored label is under
        ``category`` and who part from their suggestion at ``level``, without those kept
        as they are (unless ``include_kept``): how many in all, and one page of (suspect,
        kept)."""
        where, params = self._where(run, category, level, include_kept)
        total = self._read(f"SELECT COUNT(*) {self._JOINED} WHERE {where}", params)
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        rows = self._read(f"SELECT {self._SUSPECT} {self._JOINED} WHERE {where} ORDER BY s.rank{page}", params)
        return (int(total[0][0]) if total else 0), [self._suspect(row) for row in rows]

    def suspect(self, run: int, product_id: str) -> Suspect:
        rows = self._read(f"SELECT {self._SUSPECT} {self._JOINED} WHERE s.run = ? AND s.id = ?", [run, product_id])
        if not rows:
            raise NotFoundError(f"product {product_id!r} is not among the latest audit's suspects")
        return self._suspect(rows[0])[0]

    def conflicts(self, run: int, offset: int = 0, limit: int | None = None) -> tuple[int, list[ConflictGroup]]:
        total = self._read("SELECT COUNT(*) FROM conflicts WHERE run = ?", [run])
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        rows = self._read(
            f"SELECT members, size, labels, cosine FROM conflicts WHERE run = ? ORDER BY rank{page}", [run]
        )
        groups = [
            ConflictGroup([tuple(m) for m in json.loads(members)], size, labels, cosine)
            for members, size, labels, cosine in rows
        ]
        return (int(total[0][0]) if total else 0), groups

    def per_main(self, run: int) -> dict[str, int]:
        """Suspects per stored main category (kept ones left out), the most first."""
        return self.summary(run)[1]

    def summary(self, run: int) -> tuple[int, dict[str, int]]:
        """The suspects (kept ones left out) and their count per stored main category."""
        where, params = self._where(run, None, None, include_kept=False)
        rows = self._read(f"SELECT s.main, COUNT(*) {self._JOINED} WHERE {where} GROUP BY s.main", params)
        counts = dict(sorted(((main, int(n)) for main, n in rows), key=lambda kv: (-kv[1], kv[0])))
        return sum(counts.values()), counts

    # ------------------------------------------------------------------ keeps
    def keep(self, suspect: Suspect, actor: str | None = None) -> None:
        """Remember that ``suspect``'s label is right as it is (until its label or the
        neighbors that made it suspect change)."""
        with self._lock:
            self._conn().execute(
                "INSERT OR REPLACE INTO kept VALUES (?, ?, ?, ?, ?)",
                (suspect.id, suspect.label, evidence_key(suspect), time.time(), actor),
            )
