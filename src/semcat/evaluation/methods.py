"""The methods compared on one split: semcat's kNN vote, and two baselines.

- ``knn@k``: the held-out products are categorized by :class:`KnnCategorizer` against a
  FAISS store holding only the training products (built in a temporary folder), exactly
  as the service would categorize a new product: dense vectors and, with a lexical
  weight above 0 (the default), the stored word vectors voting beside them.
- ``logreg``: logistic regression on the same vectors (the baseline of the reference
  studies).
- ``tfidf-svm``: TF-IDF (word 1-2 grams) + a linear SVM on the raw text, a lexical
  baseline that needs no embedding model.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.embedding.lexical import CHAR_SPACE, LEXICAL_SPACE, LexicalEncoder
from semcat.evaluation.data import LabeledSet
from semcat.search.base import StoreMeta
from semcat.search.faiss_store import FaissStore
from semcat.search.head import LinearHead
from semcat.search.knn import KnnCategorizer
from semcat.search.zeroshot import HybridCategorizer


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


def knn(
    train: LabeledSet,
    test: LabeledSet,
    k: int,
    vote_power: float = 8.0,
    duplicate_threshold: float | None = 0.95,
    batch: int = 1024,
    lexical_weight: float = 0.0,
    lexical_power: float = 4.0,
    head_weight: float = 0.0,
    head_c: float = 1.0,
    head_chars: bool = True,
    subtree_vote: bool = True,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
) -> MethodRun:
    """``variants``: other settings of the head mix (``head_weight``, ``subtree_vote``)
    run on the same store and head, their predictions in ``MethodRun.variants``."""
    start = time.perf_counter()
    lexical = LexicalEncoder() if lexical_weight > 0 or head_weight > 0 else None
    chars = LexicalEncoder("char") if head_weight > 0 and head_chars else None
    sparse = (LEXICAL_SPACE,) if lexical_weight > 0 else ()
    meta = StoreMeta(model=train.model, spaces={"text": train.vectors.shape[1]}, sparse=sparse)
    word_rows = lexical.encode(train.texts) if lexical is not None else []  # stored and/or the head's
    with tempfile.TemporaryDirectory(prefix="semcat-eval-") as tmp:
        store = FaissStore(Path(tmp), meta, "flat")
        try:
            for begin in range(0, len(train), 4096):
                end = begin + 4096
                vectors: Any = train.vectors[begin:end]
                if lexical_weight > 0:
                    vectors = {"text": vectors, LEXICAL_SPACE: word_rows[begin:end]}
                store.upsert(train.ids[begin:end], vectors, train.payloads[begin:end])
            head = None
            if head_weight > 0 and lexical is not None:
                head = LinearHead(
                    train.vectors,
                    word_rows,
                    train.labels(1),
                    chars=chars.encode(train.texts) if chars is not None else None,
                    c=head_c,
                )
            vote = KnnCategorizer(
                store,
                k=k,
                power=vote_power,
                duplicate_threshold=duplicate_threshold,
                lexical_weight=lexical_weight,
                lexical_power=lexical_power,
                space_weights={"text": 1.0},
            )

            def categorizer(weight: float, subtree: bool) -> Any:
                if head is None:
                    return vote
                return HybridCategorizer(vote, head, 1.0 - weight, method="knn", subtree_vote=subtree)

            def queries(begin: int, end: int) -> Any:
                if lexical is None:
                    return test.vectors[begin:end]
                texts = test.texts[begin:end]
                out: dict[str, Any] = {"text": test.vectors[begin:end], LEXICAL_SPACE: lexical.encode(texts)}
                if chars is not None:
                    out[CHAR_SPACE] = chars.encode(texts)
                return out

            vote.predict(queries(0, 1))  # the store's search structures are built on first use: part of the fit
            fitted = time.perf_counter()
            batches = [queries(begin, begin + batch) for begin in range(0, len(test), batch)]
            encoded_seconds = time.perf_counter() - fitted  # the query's word and character rows
            predictions = [p for b in batches for p in categorizer(head_weight, subtree_vote).predict(b)]
            predicted_seconds = time.perf_counter() - fitted
            other = {}
            for name, options in (variants or {}).items():
                alt = categorizer(options.get("head_weight", head_weight), options.get("subtree_vote", subtree_vote))
                begin_alt = time.perf_counter()
                paths = [tuple(p.path) for b in batches for p in alt.predict(b)]
                alt_seconds = encoded_seconds + time.perf_counter() - begin_alt
                other[name] = MethodRun(name, paths, fitted - start, alt_seconds)
        finally:
            store.close()
    held_out = set(test.ids)
    return MethodRun(
        method=f"knn@{k}",
        predicted=[tuple(p.path) for p in predictions],
        fit_seconds=fitted - start,
        predict_seconds=predicted_seconds,
        leaks=sum(1 for p in predictions for n in p.neighbors if n.id in held_out),
        uncertain=sum(p.uncertain for p in predictions),
        variants=other,
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


def tfidf_svm(train: LabeledSet, test: LabeledSet, level: int | None, c: float = 1.0) -> MethodRun:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, strip_accents="unicode")
    features = vectorizer.fit_transform(train.texts)
    model = LinearSVC(C=c)
    model.fit(features, train.labels(level))
    fitted = time.perf_counter()
    predicted = model.predict(vectorizer.transform(test.texts))
    return MethodRun("tfidf-svm", _split_paths(predicted), fitted - start, time.perf_counter() - fitted)
