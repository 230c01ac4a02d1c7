"""Evaluation of categorization quality: splits, methods (kNN vote, logistic regression,
TF-IDF), metrics (accuracy, F1, per-level accuracy, KMeans ARI) and reports."""

from semcat.evaluation.data import LabeledSet, from_products, from_store
from semcat.evaluation.holdout import HoldoutResult, evaluate_holdout, stratified_holdout
from semcat.evaluation.report import EvalConfig, results_frame, run_evaluation

__all__ = [
    "EvalConfig",
    "HoldoutResult",
    "LabeledSet",
    "evaluate_holdout",
    "from_products",
    "from_store",
    "results_frame",
    "run_evaluation",
    "stratified_holdout",
]
