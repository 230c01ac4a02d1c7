"""The FAISS backend's vector indexes: one FAISS index per dense space, a derived cache.

Exact inner product (``IndexFlatIP``) below ``hnsw_threshold`` vectors, HNSW above it
(``auto``), or forced. HNSW cannot remove vectors, so replaced or deleted products leave
tombstones that searches skip (over-fetching by their count) and a rebuild clears once
they pass 20% of the live vectors. Index files are saved atomically with the database
generation they reflect, under a file lock (several API workers may save the same
store); files of a generation the database's change log still reaches back to are
loaded and brought up to date from the log, any other file is ignored and the index
rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from semcat.errors import StoreError
from semcat.locks import file_lock
from semcat.options import HNSW_DEFAULTS
from semcat.threads import cpu_threads, search_threads

IndexKind = Literal["auto", "flat", "hnsw"]
REBUILD_STALE_FRACTION = 0.2
ADD_BATCH = 8192  # vectors per FAISS add while rebuilding (OpenMP splits each add over the cores)


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - broken install
        raise StoreError(f"faiss is not importable ({exc}); pip install faiss-cpu") from exc
    return faiss


class VectorIndexes:
    """Per-space ``IndexIDMap2`` over flat or HNSW indexes, keyed by internal product ids."""

    def __init__(
        self,
        directory: Path,
        spaces: Mapping[str, int],
        kind: IndexKind = "auto",
        hnsw_threshold: int = HNSW_DEFAULTS.threshold,
        hnsw_m: int = HNSW_DEFAULTS.m,
        ef_construction: int = HNSW_DEFAULTS.ef_construction,
        ef_search: int = HNSW_DEFAULTS.ef_search,
    ) -> None:
        self.faiss = import_faiss()
        self.directory = directory
        self.spaces = dict(spaces)
        self.kind = kind
        self.hnsw_threshold = hnsw_threshold
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.indexes: dict[str, Any] = {}
        self.stale: dict[str, int] = {}
        self.build_seconds: dict[str, float] = {}  # the last rebuild of each space in this process

    def _path(self, space: str) -> Path:
        return self.directory / f"{space}.faiss"

    def _files(self, exclusive: bool) -> contextlib.AbstractContextManager[None]:
        """The index files, locked against another process saving them meanwhile."""
        return file_lock(self.directory / "index.lock", exclusive)

    def load(self, newest: int) -> int | None:
        """Load the saved index files if they reflect a generation up to ``newest``; returns
        that generation (None: nothing loaded)."""
        with self._files(exclusive=False):
            state_path = self.directory / "index.json"
            state: dict[str, Any] = {}
            if state_path.exists():
                try:
                    state = json.loads(state_path.read_text())
                except ValueError:
                    state = {}
            generation = state.get("generation")
            if not isinstance(generation, int) or not 0 <= generation <= newest:
                return None
            loaded: dict[str, Any] = {}
            try:
                for space in self.spaces:
                    loaded[space] = self.faiss.read_index(str(self._path(space)))
            except RuntimeError:
                return None
        self.indexes = loaded
        self.stale = {s: int(state.get("stale", {}).get(s, 0)) for s in self.spaces}
        for space in self.indexes:
            if self.is_hnsw(space):
                self.faiss.downcast_index(self.indexes[space].index).hnsw.efSearch = self.ef_search
        return generation

    def _new(self, space: str, n: int) -> Any:
        faiss = self.faiss
        dim = self.spaces[space]
        if self.kind == "hnsw" or (self.kind == "auto" and n >= self.hnsw_threshold):
            inner = faiss.IndexHNSWFlat(dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.ef_construction
            inner.hnsw.efSearch = self.ef_search
        else:
            inner = faiss.IndexFlatIP(dim)
        return faiss.IndexIDMap2(inner)

    def rebuild(
        self, counts: Callable[[str], int], rows: Callable[[str], Iterator[tuple[np.ndarray, np.ndarray]]]
    ) -> None:
        """Rebuild every space from its stored rows (clears HNSW tombstones), on every core:
        the thread may have searched before and left its OpenMP setting at one. An HNSW
        graph is built in a random (seeded) order of its vectors, not in the stored order:
        `semcat index` stores a catalog sorted by text length (less padding per batch), and
        HNSW built in that order found 0.89 of the true 10 neighbors at 1M products
        instead of 0.98 (near-duplicates arrive together and fill each other's edges)."""
        self.faiss.omp_set_num_threads(cpu_threads())
        for space in self.spaces:
            start = time.perf_counter()
            index = self._new(space, counts(space))
            if self.is_hnsw_index(index):
                parts = list(rows(space))
                if parts:
                    iids = np.concatenate([p[0] for p in parts])
                    vectors = np.concatenate([p[1] for p in parts])
                    del parts
                    order = np.random.default_rng(0).permutation(len(iids))
                    for at in range(0, len(order), ADD_BATCH):
                        chunk = order[at : at + ADD_BATCH]
                        index.add_with_ids(vectors[chunk], iids[chunk])
            else:
                for iids, vectors in rows(space):
                    index.add_with_ids(vectors, iids)
            self.indexes[space] = index
            self.stale[space] = 0
            self.build_seconds[space] = round(time.perf_counter() - start, 2)

    def is_hnsw(self, space: str) -> bool:
        return self.is_hnsw_index(self.indexes[space])

    def is_hnsw_index(self, index: Any) -> bool:
        return isinstance(self.faiss.downcast_index(index.index), self.faiss.IndexHNSW)

    def add(self, space: str, vectors: np.ndarray, iids: np.ndarray) -> None:
        self.faiss.omp_set_num_threads(search_threads(len(vectors)))  # a bulk add on every core
        self.indexes[space].add_with_ids(vectors, iids)

    def forget(self, members: Mapping[str, list[int]]) -> None:
        """Drop replaced or deleted products: removed from flat indexes, tombstoned in HNSW."""
        for space, iids in members.items():
            if space not in self.indexes or not iids:
                continue
            if self.is_hnsw(space):
                self.stale[space] += len(iids)  # skipped at search, cleared by rebuild
            else:
                self.indexes[space].remove_ids(np.asarray(iids, dtype=np.int64))

    def live(self, space: str) -> int:
        return int(self.indexes[space].ntotal - self.stale[space])

    def due_for_rebuild(self) -> bool:
        """A space should switch kind (flat <-> HNSW) or shed its tombstones."""
        for space in self.indexes:
            live = self.live(space)
            hnsw = self.is_hnsw(space)
            wants_hnsw = self.kind == "hnsw" or (self.kind == "auto" and live >= self.hnsw_threshold)
            if hnsw != wants_hnsw or (hnsw and self.stale[space] > REBUILD_STALE_FRACTION * max(live, 1)):
                return True
        return False

    def save(self, generation: int) -> None:
        """Write every index and the generation they reflect, each atomically, the set of
        them under the lock (a reader never pairs one process's files with another's)."""
        unique = f"{os.getpid()}-{threading.get_ident()}.tmp"
        with self._files(exclusive=True):
            for space, index in self.indexes.items():
                tmp = self._path(space).with_name(f".{space}.faiss.{unique}")
                self.faiss.write_index(index, str(tmp))
                os.replace(tmp, self._path(space))
            tmp_state = self.directory / f".index.json.{unique}"
            tmp_state.write_text(json.dumps({"generation": generation, "stale": self.stale}))
            os.replace(tmp_state, self.directory / "index.json")

    def search(
        self, space: str, queries: np.ndarray, k: int, selector: Any | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(scores, iids) with up to ``k`` + tombstones per query; None when the index is empty.
        ``selector`` (a FAISS IDSelector over internal ids) restricts the search."""
        index = self.indexes[space]
        if index.ntotal == 0:
            return None
        hnsw = self.is_hnsw(space)
        params = None
        if selector is not None:
            params = (
                self.faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.ef_search, k))
                if hnsw
                else self.faiss.SearchParameters(sel=selector)
            )
        fetch = min(k + (self.stale[space] if hnsw else 0), max(index.ntotal, 1))
        if hnsw and params is None:
            params = self.faiss.SearchParametersHNSW(efSearch=max(self.ef_search, fetch))
        self.faiss.omp_set_num_threads(search_threads(len(queries)))  # this thread's OpenMP setting only
        return index.search(queries, fetch, params=params)

    def search_exact(self, space: str, queries: np.ndarray, k: int, selector: Any) -> tuple[np.ndarray, np.ndarray]:
        """(scores, iids) of the exact ``k`` best among the ids ``selector`` lets through
        (-1: fewer there): what an HNSW search with a narrow filter could not fill. Scans
        the vectors held in memory (the graph's own storage), testing each id against the
        selector before computing its score, instead of reading the filter's vectors back
        from SQLite (seconds for a large category at 1M products)."""
        index = self.indexes[space]
        self.faiss.omp_set_num_threads(search_threads(len(queries)))
        if not self.is_hnsw(space):
            return index.search(queries, k, params=self.faiss.SearchParameters(sel=selector))
        # the graph's storage is addressed by position: translate positions to ids for the selector
        translated = self.faiss.IDSelectorTranslated(index.id_map, selector)
        storage = self.faiss.downcast_index(index.index).storage
        scores, positions = storage.search(queries, k, params=self.faiss.SearchParameters(sel=translated))
        iids = np.full(positions.shape, -1, dtype=np.int64)
        for (row, col), position in np.ndenumerate(positions):
            if position >= 0:
                iids[row, col] = index.id_map.at(int(position))
        return scores, iids

    def describe(self, space: str) -> dict[str, Any]:
        return {
            "dim": self.spaces[space],
            "index": "hnsw" if self.is_hnsw(space) else "flat (exact)",
            "vectors": self.live(space),
            "tombstones": int(self.stale[space]),
            **({"built_in_s": self.build_seconds[space]} if space in self.build_seconds else {}),
        }
