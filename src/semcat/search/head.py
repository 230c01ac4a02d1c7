"""A linear head over the stored vectors: the main category from a linear classifier.

Trained on what the store holds, nothing else: each labeled product's dense vector next
to its word vector (the lexical row semcat stores, weighted by the stored products'
IDF), one linear SVM per main category (one-vs-rest). It sees every labeled product at
once where the kNN vote sees ten, which is what lets it beat the vote on catalogs whose
categories are decided by many weak word cues (cdiscount). It is mixed with the vote the
way the zero-shot prior is (:class:`semcat.search.zeroshot.HybridCategorizer`), so the
vote's deeper levels, its evidence and its near-duplicate rule are kept: a relabeled
product decides for its copies on the next request even before the head is retrained.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN, Product
from semcat.embedding.lexical import LEXICAL_SPACE, N_FEATURES, LexicalEncoder, SparseRow, bm25_idf, rows_to_csr
from semcat.errors import EmptyIndexError
from semcat.search.base import DEFAULT_SPACE, VectorStore, level_key

_SCALE = 4.0  # SVM margins -> softmax; a margin of 0.5 over the runner-up reads as ~0.88


class LinearHead:
    """Main-category classifier on [dense vector, IDF-weighted word vector]."""

    def __init__(
        self,
        dense: np.ndarray,
        lexical: Sequence[SparseRow],
        labels: Sequence[str],
        level: int = 1,
        c: float = 1.0,
        top_n: int = 5,
        uncertain_threshold: float = 0.5,
    ) -> None:
        from sklearn.svm import LinearSVC

        start = time.perf_counter()
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise EmptyIndexError("the linear head needs labeled products of at least two categories")
        matrix = rows_to_csr(lexical)
        doc_freq = np.bincount(matrix.indices, minlength=N_FEATURES)
        self.idf = bm25_idf(doc_freq, max(len(lexical), 1)).astype(np.float32)
        self.level = level
        self.top_n = top_n
        self.uncertain_threshold = uncertain_threshold
        self._svm = LinearSVC(C=c)
        self._svm.fit(self._features(np.asarray(dense, dtype=np.float32), matrix), list(labels))
        self.paths = [tuple(str(c).split(PATH_JOIN)) for c in self._svm.classes_]
        self.products = len(labels)
        self.train_seconds = time.perf_counter() - start

    def _features(self, dense: np.ndarray, lexical: Any) -> Any:
        from scipy import sparse
        from sklearn.preprocessing import normalize

        weighted = normalize(lexical.multiply(self.idf[None, :]).tocsr())
        return sparse.hstack([sparse.csr_matrix(dense), weighted], format="csr")

    def probabilities(self, query_vectors: Mapping[str, Any]) -> np.ndarray:
        """(n, categories): softmax over the SVM margins. Needs the queries' ``text``
        vectors and, for the word part, their ``lexical`` rows."""
        dense = np.atleast_2d(np.asarray(query_vectors[DEFAULT_SPACE], dtype=np.float32))
        rows = query_vectors.get(LEXICAL_SPACE)
        if rows is None:
            rows = [(np.zeros(0, np.int32), np.zeros(0, np.float32))] * len(dense)
        margins = self._svm.decision_function(self._features(dense, rows_to_csr(rows)))
        if margins.ndim == 1:  # two classes
            margins = np.stack([-margins, margins], axis=1)
        logits = _SCALE * margins
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    @classmethod
    def from_store(cls, store: VectorStore, fields: Sequence[str], level: int = 1, **kwargs: Any) -> LinearHead:
        """Train on the store's labeled products (their stored vectors and texts)."""
        dense: list[np.ndarray] = []
        texts: list[str] = []
        labels: list[str] = []
        for _, vectors, payloads in store.iter_vectors(DEFAULT_SPACE):
            for vector, p in zip(vectors, payloads, strict=True):
                path = p.get("category")
                if not path:
                    continue
                dense.append(vector)
                texts.append(Product.from_payload(p).text(fields))
                labels.append(level_key(path, level) or path)
        if not labels:
            raise EmptyIndexError("the store holds no labeled product to train the linear head on")
        return cls(np.stack(dense), LexicalEncoder().encode(texts), labels, level=level, **kwargs)
