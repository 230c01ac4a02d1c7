"""Settings -> VectorStore: the store backends, in one table.

Each entry of :data:`BACKENDS` says how the backend opens the collection the settings name
(creating it when given a :class:`StoreMeta`) and, where another process may read it while
this one serves it, how that process opens it (:meth:`VectorStore.reader_spec` carries the
backend's name). ``Settings.store`` accepts the table's names (a test holds them equal).
Adding a backend: a :class:`~semcat.search.base.VectorStore` subclass, one entry here, its
name in ``Settings.store`` and its settings sub-model in :mod:`semcat.config` (a
``Settings`` field of that name: ``SEMCAT_<NAME>__<FIELD>``), and a line in ``tests/conftest.py``'s ``BACKENDS`` so the
behaviour suite and the congruence test run on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semcat.config import Settings
from semcat.errors import StoreError
from semcat.search.base import StoreMeta, VectorStore


@dataclass(frozen=True, slots=True)
class Backend:
    """One store backend."""

    name: str
    settings: str  # the Settings field holding its own settings (a sub-model: SEMCAT_<FIELD>__...)
    open: Callable[[Settings, StoreMeta | None], VectorStore]
    # opens a reader_spec in another process (None: no other process may read the collection)
    open_reader: Callable[[Mapping[str, Any]], Any] | None = None


def _open_faiss(settings: Settings, meta: StoreMeta | None) -> VectorStore:
    from semcat.search.faiss import FaissStore

    return FaissStore(
        settings.data_dir / "faiss" / settings.collection,
        meta,
        index_kind=settings.faiss.index,
        hnsw_threshold=settings.hnsw.threshold,
        hnsw_m=settings.hnsw.m,
        ef_construction=settings.hnsw.ef_construction,
        ef_search=settings.hnsw.ef_search,
    )


def _faiss_reader(spec: Mapping[str, Any]) -> Any:
    """The collection's database read-only, without loading its indexes."""
    from semcat.search.faiss.reader import FaissReader

    return FaissReader(Path(spec["directory"]))


def _open_qdrant(settings: Settings, meta: StoreMeta | None) -> VectorStore:
    """A Qdrant server's collection (``qdrant.url``), else the embedded one (qdrant-edge in
    this process; qdrant-client's local mode for a folder it wrote)."""
    from semcat.search.qdrant_store import QdrantCluster, QdrantStore

    qdrant = settings.qdrant
    if not qdrant.server:
        from semcat.search.qdrant_edge import QdrantEdgeStore

        if qdrant.url == ":memory:":
            return QdrantEdgeStore(None, meta, settings.hnsw, qdrant.quantization)
        engine, where = settings.embedded_qdrant()
        if engine == "local mode":
            return QdrantStore(settings.collection, meta, path=where)
        return QdrantEdgeStore(where, meta, settings.hnsw, qdrant.quantization)
    return QdrantStore(
        settings.collection,
        meta,
        location=qdrant.url,
        api_key=qdrant.api_key.get_secret_value() if qdrant.api_key else None,
        cluster=QdrantCluster(**qdrant.cluster()),
        quantization=qdrant.quantization,
    )


def _qdrant_reader(spec: Mapping[str, Any]) -> Any:
    """The server's collection through a client of its own."""
    from semcat.search.qdrant_store import QdrantStore

    return QdrantStore(spec["collection"], None, location=spec["url"], api_key=spec.get("api_key"))


BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("faiss", "faiss", _open_faiss, _faiss_reader),
        Backend("qdrant", "qdrant", _open_qdrant, _qdrant_reader),
    )
}


def open_store(settings: Settings, meta: StoreMeta | None = None) -> VectorStore:
    """Open (``meta`` given: create if missing) the store the settings name.

    With ``meta=None`` the store must exist; its own metadata is read.
    """
    backend = BACKENDS.get(settings.store)
    if backend is None:
        raise StoreError(f"unknown store backend {settings.store!r}: use {', '.join(BACKENDS)}")
    return backend.open(settings, meta)


def open_reader(spec: Mapping[str, Any]) -> Any:
    """The collection a serving process described with
    :meth:`~semcat.search.base.VectorStore.reader_spec`, opened in another process to read
    its products (``iter_vectors``, ``get``, ``meta``, ``close``)."""
    backend = BACKENDS.get(str(spec.get("backend")))
    if backend is None or backend.open_reader is None:
        raise StoreError(f"no other process can open a {spec.get('backend')!r} store")
    return backend.open_reader(spec)
