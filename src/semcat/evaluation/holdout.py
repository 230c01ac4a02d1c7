"""Stratified hold-out: index the training part, categorize the held-out part.

The split is scikit-learn's ``train_test_split(stratify=main category)``, the protocol
of the reference studies (80/20, seed 42), so numbers are comparable with theirs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from semcat.catalog import Product
from semcat.categorize.prediction import Prediction
from semcat.errors import ConfigError
from semcat.evaluation.metrics import level_accuracy

# The hold-out protocol's defaults (EvalConfig's too): 80/20, seed 42, as the reference studies.
HOLDOUT_TEST_SIZE = 0.2
HOLDOUT_SEED = 42


def stratified_holdout(
    products: Sequence[Product], test_size: float = HOLDOUT_TEST_SIZE, seed: int = HOLDOUT_SEED
) -> tuple[list[Product], list[Product]]:
    """Split labeled products into (train, test), stratified on the main category."""
    from sklearn.model_selection import train_test_split

    labeled = [p for p in products if p.category]
    train, test = train_test_split(
        labeled, test_size=test_size, random_state=seed, stratify=[p.category[0] for p in labeled]
    )
    return list(train), list(test)


@dataclass
class HoldoutResult:
    n_train: int
    n_test: int
    accuracy: float
    level_accuracy: dict[int, float] = field(default_factory=dict)
    full_path_accuracy: float = 0.0
    uncertain_fraction: float = 0.0
    index_seconds: float = 0.0
    categorize_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "accuracy": round(self.accuracy, 4),
            "level_accuracy": {str(k): round(v, 4) for k, v in self.level_accuracy.items()},
            "full_path_accuracy": round(self.full_path_accuracy, 4),
            "uncertain_fraction": round(self.uncertain_fraction, 4),
            "index_seconds": round(self.index_seconds, 2),
            "categorize_seconds": round(self.categorize_seconds, 2),
        }


def score_predictions(test: Sequence[Product], predictions: Sequence[Prediction], max_level: int = 3) -> HoldoutResult:
    """Main-category accuracy, accuracy per level (products deep enough) and full path."""
    n = len(test)
    main = sum(p.main_category == t.category[0] for p, t in zip(predictions, test, strict=True)) / n
    levels = level_accuracy([t.category for t in test], [p.path for p in predictions], max_level)
    full = sum(p.category == t.category_path for p, t in zip(predictions, test, strict=True)) / n
    return HoldoutResult(
        n_train=0,
        n_test=n,
        accuracy=main,
        level_accuracy=levels,
        full_path_accuracy=full,
        uncertain_fraction=sum(p.uncertain for p in predictions) / n,
    )


def evaluate_holdout(engine: Any, products: Sequence[Product], test_size: float = 0.2, seed: int = 42) -> HoldoutResult:
    """Index the training split into the engine's store and categorize the rest."""
    train, test = stratified_holdout(products, test_size, seed)
    t0 = time.perf_counter()
    engine.index(train, progress=False)
    leaked = engine.store().get([p.id for p in test])
    if leaked:
        raise ConfigError(
            f"the store already holds {len(leaked)} held-out products (e.g. {leaked[0].id!r}), which would vote "
            "for themselves: evaluate into an empty store (another --data-dir or --collection)"
        )
    t1 = time.perf_counter()
    predictions = engine.categorize(test)
    t2 = time.perf_counter()
    result = score_predictions(test, predictions)
    result.n_train = len(train)
    result.index_seconds = t1 - t0
    result.categorize_seconds = t2 - t1
    return result
