"""Categorization over a vector store: the kNN vote, the linear head, zero-shot and
hybrid, and the one builder that assembles them from :class:`semcat.options.QueryOptions`
(the engine, the evaluation and the benchmarks all build through it)."""

from semcat.categorize.builder import QueryRows, build_categorizer, head_applies
from semcat.categorize.head import LinearHead
from semcat.categorize.hybrid import HybridCategorizer
from semcat.categorize.prediction import CategoryScore, LevelScore, Neighbor, Prediction
from semcat.categorize.vote import Categorizer, KnnCategorizer, decide, vote
from semcat.categorize.zeroshot import ZeroShotCategorizer

__all__ = [
    "Categorizer",
    "CategoryScore",
    "HybridCategorizer",
    "KnnCategorizer",
    "LevelScore",
    "LinearHead",
    "Neighbor",
    "Prediction",
    "QueryRows",
    "ZeroShotCategorizer",
    "build_categorizer",
    "decide",
    "head_applies",
    "vote",
]
