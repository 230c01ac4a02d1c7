"""Settings -> VectorStore."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from semcat.config import Settings
from semcat.errors import StoreError
from semcat.search.base import StoreMeta, VectorStore


def open_store(settings: Settings, meta: StoreMeta | None = None) -> VectorStore:
    """Open (``meta`` given: create if missing) the store the settings name.

    With ``meta=None`` the store must exist; its own metadata is read.
    """
    if settings.store == "faiss":
        from semcat.search.faiss import FaissStore

        return FaissStore(
            settings.data_dir / "faiss" / settings.collection,
            meta,
            index_kind=settings.faiss_index,
            hnsw_threshold=settings.hnsw.threshold,
            hnsw_m=settings.hnsw.m,
            ef_construction=settings.hnsw.ef_construction,
            ef_search=settings.hnsw.ef_search,
        )
    from semcat.search.qdrant_store import QdrantCluster, QdrantStore

    if settings.qdrant_url == ":memory:" or not settings.qdrant_url:
        from semcat.search.qdrant_edge import QdrantEdgeStore

        if settings.qdrant_url == ":memory:":
            return QdrantEdgeStore(None, meta)
        engine, where = settings.embedded_qdrant()
        if engine == "local mode":
            return QdrantStore(settings.collection, meta, path=where)
        return QdrantEdgeStore(where, meta)
    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return QdrantStore(
        settings.collection,
        meta,
        location=settings.qdrant_url,
        api_key=api_key,
        cluster=QdrantCluster(
            shard_number=settings.qdrant_shard_number,
            replication_factor=settings.qdrant_replication_factor,
            write_consistency_factor=settings.qdrant_write_consistency_factor,
        ),
    )


def open_reader(spec: Mapping[str, Any]) -> Any:
    """The collection a serving process described with
    :meth:`~semcat.search.base.VectorStore.reader_spec`, opened in another process to read
    its products (``iter_vectors``, ``get``, ``meta``, ``close``): a FAISS collection's
    database read-only, without loading its indexes; a Qdrant server's collection
    through a client of its own."""
    backend = spec.get("backend")
    if backend == "faiss":
        from semcat.search.faiss.reader import FaissReader

        return FaissReader(Path(spec["directory"]))
    if backend == "qdrant":
        from semcat.search.qdrant_store import QdrantStore

        return QdrantStore(spec["collection"], None, location=spec["url"], api_key=spec.get("api_key"))
    raise StoreError(f"no other process can open a {backend!r} store")
