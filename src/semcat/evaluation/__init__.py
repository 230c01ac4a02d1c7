"""Evaluation of categorization quality on stored vectors and held-out products."""

from semcat.evaluation.holdout import HoldoutResult, evaluate_holdout, stratified_holdout

__all__ = ["HoldoutResult", "evaluate_holdout", "stratified_holdout"]
