"""The vector-database layer: the :class:`VectorStore` protocol and its backends (FAISS,
Qdrant), opened by one factory. Nothing here knows about categorization beyond filters;
the categorizers that read a store live in :mod:`semcat.categorize`."""

from semcat.search.base import DEFAULT_SPACE, IMAGE_SPACE, Hit, Page, Record, SearchFilter, StoreMeta, VectorStore
from semcat.search.factory import open_store

__all__ = [
    "DEFAULT_SPACE",
    "IMAGE_SPACE",
    "Hit",
    "Page",
    "Record",
    "SearchFilter",
    "StoreMeta",
    "VectorStore",
    "open_store",
]
