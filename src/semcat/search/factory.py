"""Settings -> VectorStore."""

from __future__ import annotations

from semcat.config import Settings
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
            hnsw_threshold=settings.faiss_hnsw_threshold,
            hnsw_m=settings.faiss_hnsw_m,
            ef_construction=settings.faiss_ef_construction,
            ef_search=settings.faiss_ef_search,
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
