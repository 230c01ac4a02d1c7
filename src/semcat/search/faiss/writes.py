"""One write to the FAISS store, as the in-memory indexes must see it: what the
transaction removed, inserted and relabeled (:class:`Write`), recorded in the database's
change log for the other processes serving the same store, and read back from that log
by them (:meth:`Write.replay`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from semcat.search.faiss.documents import (
    CHANGE_FORGET,
    CHANGE_INSERTED,
    CHANGE_RELABELED,
    CHANGE_REMOVED,
    Documents,
)


class Write:
    """What one write changes in the in-memory indexes once its transaction commits."""

    def __init__(self, docs: Documents) -> None:
        self.docs = docs
        self.forgotten: dict[str, list[int]] = {}  # space -> internal ids to drop
        self.added: list[tuple[str, np.ndarray, np.ndarray]] = []  # (space, vectors, internal ids)
        self.removed: list[int] = []  # internal ids of the products deleted or replaced
        self.inserted: list[tuple[int, dict[str, Any]]] = []  # (internal id, payload) of new products
        self.relabeled: list[tuple[int, dict[str, Any]]] = []  # (internal id, new payload), same id
        self.sparse_added: dict[str, tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]] = {}

    def log_rows(self) -> list[tuple[int, int, str | None]]:
        """This write as change-log rows (kind, internal id, space) for other processes."""
        rows: list[tuple[int, int, str | None]] = [
            (CHANGE_FORGET, iid, space) for space, iids in self.forgotten.items() for iid in iids
        ]
        rows += [(CHANGE_REMOVED, iid, None) for iid in self.removed]
        rows += [(CHANGE_INSERTED, iid, None) for iid, _ in self.inserted]
        rows += [(CHANGE_RELABELED, iid, None) for iid, _ in self.relabeled]
        return rows

    @classmethod
    def replay(cls, docs: Documents, rows: Sequence[tuple[int, int, str | None]]) -> Write:
        """Other processes' writes, read back from the change log (``rows``, in order) as one
        write: what is stored now of the products they inserted or relabeled, and what they
        removed. A product inserted and removed again within ``rows`` is neither."""
        write = cls(docs)
        removed = {iid for kind, iid, _ in rows if kind == CHANGE_REMOVED}
        born = {iid for kind, iid, _ in rows if kind == CHANGE_INSERTED}
        for kind, iid, space in rows:
            if kind == CHANGE_FORGET and iid not in born and space is not None:
                write.forgotten.setdefault(space, []).append(iid)
        write.removed = sorted(removed - born)
        inserted = sorted(born - removed)
        relabeled = sorted({iid for kind, iid, _ in rows if kind == CHANGE_RELABELED} - removed - born)
        payloads = docs.payloads_by_iid(inserted + relabeled)
        write.inserted = [(iid, payloads[iid][1]) for iid in inserted if iid in payloads]
        write.relabeled = [(iid, payloads[iid][1]) for iid in relabeled if iid in payloads]
        for space in docs.meta.spaces:
            iids, vectors = docs.vectors_of(space, inserted)
            if len(iids):
                write.added.append((space, vectors, iids))
        empty = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
        for space in docs.meta.sparse:
            found = docs.sparse_of(space, inserted)
            write.sparse_added[space] = (np.asarray(inserted, dtype=np.int64), [found.get(i, empty) for i in inserted])
        return write

    def remove(self, ids: Sequence[str]) -> int:
        """Delete these products (those that exist); returns how many existed."""
        old = self.docs.iids_for(ids)
        for space, iids in self.docs.space_members(list(old.values())).items():
            self.forgotten.setdefault(space, []).extend(iids)
        self.removed.extend(old.values())
        self.docs.delete(list(old.values()))
        return len(old)
