"""The FAISS backend (embedded, the default): a SQLite document store, FAISS vector
indexes and a sparse word index behind one :class:`FaissStore`."""

from semcat.search.faiss.store import FaissStore

__all__ = ["FaissStore"]
