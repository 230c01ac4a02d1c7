"""semcat as a scikit-learn classifier: :class:`SemcatClassifier`.

``fit`` stores the training products (texts, or a DataFrame whose columns are detected as
a catalog's are) with their category paths in a store of their own (a temporary folder, or
``data_dir``) and trains the linear head; ``predict`` categorizes new products with the
service's default categorizer, the same code path as ``/categorize`` and ``semcat
evaluate``. It works in ``cross_val_score``, ``Pipeline``, ``GridSearchCV`` and ``clone``::

    from sklearn.model_selection import cross_val_score
    from semcat.sklearn import SemcatClassifier

    scores = cross_val_score(SemcatClassifier(depth=1), texts, main_categories, cv=5)

Labels are category paths: ``"Kitchen > Mugs"``, ``"Kitchen >> Mugs"`` or a list of levels.
Predictions are ``" > "``-joined paths cut at ``depth`` (unset: the depth detected from
the training labels, stopping above levels made of product names, as served); ``classes_``
are the training paths cut the same way, sorted, and :meth:`score` compares at that depth.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from semcat.catalog import PATH_JOIN, Product, clean_text, parse_category, resolve_columns
from semcat.catalog.readers import row_product
from semcat.config import Settings
from semcat.engine import Engine
from semcat.errors import InvalidInputError
from semcat.methods import KNN, method_spec


class SemcatClassifier(ClassifierMixin, BaseEstimator):
    """kNN vote over the labeled training products mixed with a linear head, level by
    level down the taxonomy (semcat's default categorizer).

    Parameters: ``model`` (a semcat model alias, ``minilm`` by default), ``k`` (neighbors
    that vote), ``depth`` (the deepest level predicted; None: detected), ``head_weight``
    (the linear head's share of each level's decision; 0: the vote alone), ``method``
    (one of :data:`semcat.methods.METHODS`), ``top_n`` (alternatives :meth:`predict_proba`
    sees per level), ``data_dir`` (where the store lives; None: a temporary folder removed
    with the estimator), ``embedder`` (an embedder object instead of ``model``: tests).
    """

    def __init__(
        self,
        model: str = "minilm",
        k: int = 10,
        depth: int | None = None,
        head_weight: float = 0.7,
        method: str = KNN,
        top_n: int = 20,
        data_dir: str | Path | None = None,
        embedder: Any = None,
    ) -> None:
        self.model = model
        self.k = k
        self.depth = depth
        self.head_weight = head_weight
        self.method = method
        self.top_n = top_n
        self.data_dir = data_dir
        self.embedder = embedder

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any) -> SemcatClassifier:
        products = _products(X)
        paths = [_path(label, i) for i, label in enumerate(_values(y))]
        if len(paths) != len(products):
            raise ValueError(f"X has {len(products)} rows but y has {len(paths)} labels")
        if not paths:
            raise ValueError("fit needs at least one labeled product")
        folder = Path(self.data_dir) if self.data_dir is not None else Path(tempfile.mkdtemp(prefix="semcat-sk-"))
        settings = Settings(
            data_dir=folder,
            model=self.model,
            k=self.k,
            predict_depth=self.depth,
            head_weight=self.head_weight,
            top_n=self.top_n,
            calibration={"enabled": False},  # predict_proba gives the scores; confidence is the service's
            retrain={"child_process": False},
        )
        engine = Engine(settings, embedder=self.embedder)
        labeled = [replace(p, category=path) for p, path in zip(products, paths, strict=True)]
        # the store closes (and a temporary one is removed) with the fitted estimator
        weakref.finalize(self, _release, engine, None if self.data_dir is not None else folder)
        engine.index(labeled, progress=False)
        if self.head_weight > 0 and method_spec(self.method).head:
            engine.head(wait=True)
        self.engine_ = engine
        self.depth_ = self.depth if self.depth is not None else engine.stats(categories=False).depth
        cut = [_cut(path, self.depth_) for path in paths]
        self.classes_ = np.array(sorted(set(cut)), dtype=object)
        self.level_classes_ = [
            np.array(sorted({PATH_JOIN.join(path[:level]) for path in paths if len(path) >= level}), dtype=object)
            for level in range(1, (self.depth_ or max(map(len, paths))) + 1)
        ]
        self.n_features_in_ = 1
        return self

    # ---------------------------------------------------------------- predicting
    def _predictions(self, X: Any) -> list[Any]:
        if not hasattr(self, "engine_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this SemcatClassifier is not fitted yet: call fit first")
        products = _products(X, id_prefix="query")
        return self.engine_.categorize(products, method=self.method, k=self.k, top_n=self.top_n, depth=self.depth_)

    def predict(self, X: Any) -> np.ndarray:
        """The predicted path of each product (``""`` when nothing could be predicted)."""
        return np.array([p.category or "" for p in self._predictions(X)], dtype=object)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Per product, a distribution over :attr:`classes_` (the deepest level predicted):
        the scores of the ``top_n`` alternatives there, made to sum to one; classes outside
        them get 0. These are the categorizer's mixed scores, not calibrated probabilities
        (the service's ``confidence`` is, for the chosen path)."""
        return self._distributions(self._predictions(X), self.classes_, level=None)

    def predict_proba_levels(self, X: Any) -> list[np.ndarray]:
        """One distribution per taxonomy level, over :attr:`level_classes_` of that level
        (paths down to it, sorted), from each level's ``top_n`` alternatives."""
        predictions = self._predictions(X)
        return [
            self._distributions(predictions, classes, level=level)
            for level, classes in enumerate(self.level_classes_, start=1)
        ]

    @staticmethod
    def _distributions(predictions: Sequence[Any], classes: np.ndarray, level: int | None) -> np.ndarray:
        column = {name: i for i, name in enumerate(classes)}
        out = np.zeros((len(predictions), len(classes)))
        for row, prediction in enumerate(predictions):
            if level is None:
                top = prediction.levels[-1].top if prediction.levels else []
            else:
                top = prediction.levels[level - 1].top if len(prediction.levels) >= level else []
            for alternative in top:
                if alternative.category in column:
                    out[row, column[alternative.category]] = max(alternative.score, 0.0)
            total = out[row].sum()
            if total > 0:
                out[row] /= total
        return out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of :meth:`predict` against ``y`` cut at the same depth."""
        from sklearn.metrics import accuracy_score

        truth = [_cut(_path(label, i), self.depth_) for i, label in enumerate(_values(y))]
        return float(accuracy_score(truth, self.predict(X), sample_weight=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = True
        return tags


def _release(engine: Engine, folder: Path | None) -> None:
    engine.close()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _values(data: Any) -> list[Any]:
    if hasattr(data, "tolist"):
        return data.tolist()
    return list(data)


def _path(label: Any, row: int) -> tuple[str, ...]:
    try:
        path = parse_category(label)
    except InvalidInputError as exc:
        raise ValueError(f"label {row}: {exc.message}") from None
    if not path:
        raise ValueError(f"label {row} is empty: every training product needs a category")
    return path


def _cut(path: tuple[str, ...], depth: int | None) -> str:
    return PATH_JOIN.join(path[:depth] if depth else path)


def _products(X: Any, id_prefix: str = "train") -> list[Product]:
    """Texts (a list, an array, a Series) or a DataFrame with a catalog's columns (title,
    description, brand, attributes, detected as ``semcat index`` detects them)."""
    if type(X).__name__ == "DataFrame":
        columns, _ = resolve_columns([str(c) for c in X.columns])
        if not (columns.title or columns.description):
            raise ValueError(f"no title or description column among {list(X.columns)}")
        # each row read as `semcat index` reads one (the same cleaning and limits); its id
        # and category columns are not the estimator's: rows are numbered, labels are y
        text_only = replace(columns, id=None, category=[])
        products = []
        for i, row in enumerate(X.to_dict("records")):
            try:
                products.append(replace(row_product(i, row, text_only), id=f"{id_prefix}-{i}"))
            except InvalidInputError as exc:
                raise ValueError(f"row {i}: {exc.message}") from None
    else:
        values = _values(X)
        if values and isinstance(values[0], list | tuple) and len(values[0]) == 1:
            values = [v[0] for v in values]  # a one-column 2-D array of texts
        products = [Product(id=f"{id_prefix}-{i}", title=clean_text(text)) for i, text in enumerate(values)]
    empty = [i for i, p in enumerate(products) if not p.has_text]
    if empty:
        raise ValueError(f"{len(empty)} products have no text (rows {', '.join(map(str, empty[:5]))})")
    return products


__all__ = ["SemcatClassifier"]
