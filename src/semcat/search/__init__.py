"""Vector stores (FAISS, Qdrant) behind one protocol, and the categorizers that read them."""

from semcat.search.base import DEFAULT_SPACE, IMAGE_SPACE, Hit, Record, SearchFilter, StoreMeta, VectorStore
from semcat.search.factory import open_store
from semcat.search.knn import Categorizer, KnnCategorizer, vote
from semcat.search.prediction import CategoryScore, LevelScore, Neighbor, Prediction

__all__ = [
    "DEFAULT_SPACE",
    "IMAGE_SPACE",
    "Categorizer",
    "CategoryScore",
    "Hit",
    "KnnCategorizer",
    "LevelScore",
    "Neighbor",
    "Prediction",
    "Record",
    "SearchFilter",
    "StoreMeta",
    "VectorStore",
    "open_store",
    "vote",
]
