"""The methods compared on one split: semcat's kNN vote, and two baselines.

- ``knn@k``: the held-out products are categorized against a FAISS store holding only
  the training products (built in a temporary folder) by the categorizer the service
  builds for the same options (:func:`semcat.categorize.build_categorizer`): the vote
  over dense and word vectors, mixed with the linear head at every level it decides;
  with ``confidence``, calibrated on the training part as the service calibrates on its
  store.
- ``logreg``: logistic regression on the same vectors (the baseline of the reference
  studies).
- ``tfidf-svm``: TF-IDF (word 1-2 grams) + a linear SVM on the raw text, a lexical
  baseline that needs no embedding model.
- ``zero-shot`` and ``hybrid``: category prompts alone, and the vote mixed with them
  (:func:`served`, as any other registered method).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.builder import QueryRows
from semcat.categorize.depth import category_depth
from semcat.categorize.prediction import Prediction
from semcat.categorize.scratch import scratch_store
from semcat.categorize.zeroshot import ZeroShotCategorizer
from semcat.config import QUERY_SETTINGS, Settings
from semcat.engine import Engine
from semcat.errors import ConfigError
from semcat.evaluation.data import LabeledSet
from semcat.methods import KNN, method_spec
from semcat.options import CALIBRATION_DEFAULTS, DEFAULTS, HEAD_DEFAULTS, HeadOptions, QueryOptions
from semcat.search.faiss import FaissStore
from semcat.spaces import DEFAULT_SPACE
from semcat.threads import cpu_threads


@dataclass
class MethodRun:
    """One method on one split: the predicted path per test product."""

    method: str
    predicted: list[tuple[str, ...]]
    fit_seconds: float
    predict_seconds: float
    leaks: int = 0  # neighbors that were themselves held out (must stay 0)
    uncertain: int = 0
    variants: dict[str, MethodRun] = field(default_factory=dict)  # see knn(variants=...)
    # with confidence=True: per test product, the confidence of its path and of each level,
    # and per precision target whether it was filed automatically
    confidence: list[float] | None = None
    level_confidence: list[list[float]] | None = None
    auto: dict[float, list[bool]] | None = None
    # asked for a confidence the served engine does not calibrate on this training part: why
    confidence_note: str | None = None
    # whether the training part's calibration set near-duplicates aside (a catalog filing
    # one product under several categories; semcat.categorize.calibration.duplicates_rule)
    copies_set_aside: bool | None = None


AUTO_TARGETS = (0.9, 0.95, 0.98, 0.99)  # the precision targets the evaluation reports the auto decision at


def _auto_decisions(calibration: Any, predictions: list[Any]) -> dict[float, list[bool]]:
    """Per target, whether each calibrated prediction would be filed automatically (its
    confidence is the same at every target: only the threshold moves)."""
    from semcat.categorize.calibration import AUTO, decide_auto

    return {
        target: [
            decide_auto(p, p.confidence or 0.0, calibration.threshold(target), calibration.depth)[0] == AUTO
            for p in predictions
        ]
        for target in AUTO_TARGETS
    }


def knn(
    train: LabeledSet,
    test: LabeledSet,
    k: int | None = None,
    options: QueryOptions | None = None,
    head_options: HeadOptions | None = None,
    *,
    batch: int = 1024,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    confidence: bool = False,
    folds: int | None = CALIBRATION_DEFAULTS.folds,
    **overrides: Any,
) -> MethodRun:
    """The service's categorizer (``options``, default: the product defaults, with ``k`` and
    any :class:`QueryOptions` field in ``overrides``; ``head_c``/``head_chars`` override the
    head's training) answering for the held-out products from an engine whose store holds
    the training products (:func:`serving`): :meth:`semcat.engine.Engine.predict`, the
    path every categorization takes.

    ``variants``: other option sets (e.g. ``{"head_weight": 1.0}``) run on the same store
    and head, their predictions in ``MethodRun.variants``.

    ``confidence``: as served, the path stops at the training labels' category depth
    (unless ``depth`` is given) and each prediction gets the confidence and decision of a
    calibration learned from the training products alone (``folds`` out-of-fold runs)."""
    head_overrides = {
        key.removeprefix("head_"): overrides.pop(key)
        for key in ("head_c", "head_chars", "head_levels", "head_max_products")
        if key in overrides
    }
    opts = (options or DEFAULTS).merged(k=k, **overrides)
    head_opts = replace(head_options or HEAD_DEFAULTS, **head_overrides)
    if confidence and opts.depth is None:
        opts = replace(opts, depth=category_depth(train.labels(None)))
    start = time.perf_counter()
    with serving(train, opts, head_opts, calibration=confidence, folds=folds) as engine:
        # trained (and calibrated) on the training products: part of the fit
        head = engine.head(wait=True) if opts.uses_head else None
        # the store's search structures are built on first use: part of the fit too
        engine.predict(test.texts[:1], {DEFAULT_SPACE: test.vectors[:1]}, opts)
        fitted = time.perf_counter()
        predictions = _predict(engine, test, opts, batch)
        predicted_seconds = time.perf_counter() - fitted
        other = {}
        for name, variant in (variants or {}).items():
            begin_alt = time.perf_counter()
            paths = [tuple(p.path) for p in _predict(engine, test, opts.merged(**variant), batch)]
            other[name] = MethodRun(name, paths, fitted - start, time.perf_counter() - begin_alt)
    calibration = head.calibration if head is not None and confidence else None
    note = None
    if confidence and opts.uses_head and calibration is None:
        note = head.calibration_note if head is not None else "no linear head (fewer than two labeled categories)"
    held_out = set(test.ids)
    return MethodRun(
        method=f"{KNN}@{opts.k}",
        predicted=[tuple(p.path) for p in predictions],
        fit_seconds=fitted - start,
        predict_seconds=predicted_seconds,
        leaks=sum(1 for p in predictions for n in p.neighbors if n.id in held_out),
        uncertain=sum(p.uncertain for p in predictions),
        variants=other,
        confidence=[float(p.confidence or 0.0) for p in predictions] if calibration is not None else None,
        level_confidence=[[lv.confidence or 0.0 for lv in p.levels] for p in predictions] if calibration else None,
        auto=_auto_decisions(calibration, predictions) if calibration is not None else None,
        confidence_note=note,
        copies_set_aside=None if calibration is None else calibration.near_duplicates.set_aside,
    )


class _Vectors:
    """The model of a labeled set whose vectors are given (its queries are not embedded
    again): it names the vectors' model, as the store does."""

    supports_images = False

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def encode_texts(self, texts: Any, role: str = "query", batch_size: int | None = None) -> np.ndarray:
        raise ConfigError("the evaluation categorizes given vectors: nothing is embedded")

    def encode_images(self, images: Any, batch_size: int | None = None) -> np.ndarray:
        raise ConfigError("the evaluation categorizes given vectors: nothing is embedded")


@contextmanager
def serving(
    train: LabeledSet,
    options: QueryOptions,
    head_options: HeadOptions = HEAD_DEFAULTS,
    *,
    calibration: bool = False,
    folds: int | None = CALIBRATION_DEFAULTS.folds,
) -> Iterator[Engine]:
    """An engine whose store (a flat FAISS store in a temporary folder, with the word
    vectors the options read) holds exactly the training products, configured with
    ``options`` as its settings (so its head's calibration is learned for them) and the
    head's training options; ``calibration``: the path confidence is learned too."""
    sparse = options.lexical_weight > 0 and method_spec(options.method).word_vote
    # the settings the options come from (the method is each request's: a method registered
    # at run time is not among the settings' names)
    recipe = {setting: getattr(options, name) for name, setting in QUERY_SETTINGS.items() if name != "method"}
    with tempfile.TemporaryDirectory(prefix="semcat-eval-") as tmp:
        words = QueryRows().encoder("word").encode(train.texts) if sparse else None
        store = _training_store(Path(tmp) / "store", train, words)
        settings = Settings(
            data_dir=Path(tmp),
            head=head_options,
            calibration={"enabled": calibration, "folds": folds},
            retrain={"child_process": False},
            **recipe,
        )
        embedder = train.encoder or _Vectors(train.model, int(train.vectors.shape[1]))
        engine = Engine(settings, embedder=embedder, store=store)
        try:
            yield engine
        finally:
            engine.close()


def _predict(
    engine: Engine, test: LabeledSet, options: QueryOptions, batch: int, prior: ZeroShotCategorizer | None = None
) -> list[Prediction]:
    """The engine's predictions for the test set's given vectors, a batch at a time."""
    return [
        p
        for begin in range(0, len(test), batch)
        for p in engine.predict(
            test.texts[begin : begin + batch], {DEFAULT_SPACE: test.vectors[begin : begin + batch]}, options, prior
        )
    ]


def _training_store(folder: Path, train: LabeledSet, word_rows: list[Any] | None) -> FaissStore:
    """A flat FAISS store of the training products (and their word rows, when given)."""
    return scratch_store(
        folder,
        train.vectors,
        train.paths,
        train.texts,
        word_rows,
        ids=train.ids,
        payloads=train.payloads,
        model=train.model,
    )


def served(
    train: LabeledSet,
    test: LabeledSet,
    zero_shot: ZeroShotCategorizer | None,
    method: str,
    options: QueryOptions | None = None,
    *,
    batch: int = 1024,
) -> MethodRun:
    """A served method other than ``knn@k`` (:data:`semcat.methods.REGISTRY`): ``zero-shot``
    (category prompts only: the training products are not used), ``hybrid`` (the vote over
    the training products mixed with the zero-shot prior) or any registered one, answered
    by :meth:`semcat.engine.Engine.predict` over the training products (:func:`serving`),
    with ``zero_shot`` as its prior."""
    opts = (options or DEFAULTS).merged(method=method)
    start = time.perf_counter()
    with serving(train, opts) as engine:
        fitted = time.perf_counter()
        predictions = _predict(engine, test, opts, batch, zero_shot)
    held_out = set(test.ids)
    return MethodRun(
        method=method,
        predicted=[tuple(p.path) for p in predictions],
        fit_seconds=fitted - start,
        predict_seconds=time.perf_counter() - fitted,
        leaks=sum(1 for p in predictions for n in p.neighbors if n.id in held_out),
        uncertain=sum(p.uncertain for p in predictions),
    )


def _split_paths(labels: np.ndarray) -> list[tuple[str, ...]]:
    return [tuple(str(label).split(PATH_JOIN)) for label in labels]


def logreg(train: LabeledSet, test: LabeledSet, level: int | None, c: float = 10.0) -> MethodRun:
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(train.vectors, train.labels(level))
    fitted = time.perf_counter()
    predicted = model.predict(test.vectors)
    return MethodRun("logreg", _split_paths(predicted), fitted - start, time.perf_counter() - fitted)


SVM_CALIBRATION_FOLDS = 3  # CalibratedClassifierCV's folds for the calibrated TF-IDF + SVM reference


def tfidf_svm(
    train: LabeledSet, test: LabeledSet, level: int | None, c: float = 1.0, confidence: bool = False
) -> MethodRun:
    """TF-IDF (word 1-2-grams) + linear SVM, flat at ``level``. ``confidence``: calibrated
    on the training folds by scikit-learn's ``CalibratedClassifierCV`` (sigmoid, an ensemble
    over 3 folds; a category with fewer than 3 training products has them repeated, which
    the calibration needs), predicting its most probable category with that probability."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, strip_accents="unicode")
    features = vectorizer.fit_transform(train.texts)
    labels = train.labels(level)
    if not confidence:
        model = LinearSVC(C=c)
        model.fit(features, labels)
        fitted = time.perf_counter()
        predicted = model.predict(vectorizer.transform(test.texts))
        return MethodRun("tfidf-svm", _split_paths(predicted), fitted - start, time.perf_counter() - fitted)
    from sklearn.calibration import CalibratedClassifierCV

    rows = _repeat_rare(labels, SVM_CALIBRATION_FOLDS)
    # the folds' (SVM, sigmoids) pairs side by side: a sigmoid per category and fold, fitted
    # in Python, is most of a many-category reference's time (cdiscount's ~3,000 leaves)
    model = CalibratedClassifierCV(
        LinearSVC(C=c), cv=SVM_CALIBRATION_FOLDS, n_jobs=min(SVM_CALIBRATION_FOLDS, cpu_threads())
    )
    model.fit(features[rows], labels[rows])
    fitted = time.perf_counter()
    probs = model.predict_proba(vectorizer.transform(test.texts))
    best = probs.argmax(axis=1)
    return MethodRun(
        "tfidf-svm",
        _split_paths(model.classes_[best]),
        fitted - start,
        time.perf_counter() - fitted,
        confidence=probs[np.arange(len(best)), best].tolist(),
    )


def _repeat_rare(labels: np.ndarray, folds: int) -> np.ndarray:
    """Row indices with each label's rows repeated up to ``folds`` (CalibratedClassifierCV
    needs that many per class)."""
    rows = list(range(len(labels)))
    by_label: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        by_label.setdefault(str(label), []).append(row)
    for members in by_label.values():
        for extra in range(folds - len(members)):
            rows.append(members[extra % len(members)])
    return np.asarray(rows)
