"""A linear head over the stored vectors: the main category from a linear classifier.

Trained on what the store holds, nothing else: each labeled product's stored dense
vector (at half weight) next to two TF-IDF blocks computed from its stored text, word
1-2-grams (the words of its stored lexical row) and character 3-5-grams, each weighted
by an IDF over the labeled products that drops features seen in a single product (they
only let the SVM memorize), one linear SVM per main category (one-vs-rest). It sees
every labeled product at once where the kNN vote sees ten, which is what lets it beat
the vote on catalogs whose categories are decided by many weak word cues (cdiscount);
the character block catches plurals, compounds and misspellings the words miss. Feature
choices measured in ``benchmarks/studies/head_features.py``. It is mixed with the vote the
way the zero-shot prior is (:class:`semcat.categorize.hybrid.HybridCategorizer`), so the
vote's deeper levels, its evidence and its near-duplicate rule are kept: a relabeled
product decides for its copies on the next request even before the head is retrained.

The SVM is fitted on the feature columns some labeled product has (a few hundred
thousand of the 2 x 2^20 hashed ones), so its weights take tens of MB, not the ~0.7 GB
a 44-category head over every hashed column would; :meth:`LinearHead.save` /
:meth:`LinearHead.load` keep a trained head on disk next to the fingerprint of what it
was trained on (:func:`fingerprint`), so a new process over an unchanged store loads it
instead of retraining.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.head_data import HEAD_FORMAT, TrainingSet, training_sample
from semcat.embedding.lexical import LexicalEncoder, smooth_idf
from semcat.errors import EmptyIndexError
from semcat.options import HEAD_DEFAULTS
from semcat.search.base import DEFAULT_SPACE
from semcat.spaces import CHAR_SPACE, LEXICAL_SPACE, N_FEATURES, SparseRow, rows_to_csr
from semcat.threads import cpu_threads

_SCALE = 4.0  # SVM margins -> softmax; a margin of 0.5 over the runner-up reads as ~0.88
DENSE_WEIGHT = 0.5  # the dense block's scale next to the two unit-norm TF-IDF blocks
MIN_DF = 2  # a word or n-gram must occur in two labeled products to count
LOCAL_MIN_DF = 2  # ... and, for a node's classifier, in two of that node's products


class LinearHead:
    """Main-category classifier on [dense vector, word TF-IDF, character TF-IDF].

    ``lexical`` and ``chars`` are the labeled products' word and character rows
    (:class:`LexicalEncoder` ``"word"`` / ``"char"``); ``chars=None`` leaves the
    character block out (``SEMCAT_HEAD__CHARS=false``: about a third of the training time).
    """

    def __init__(
        self,
        dense: np.ndarray,
        lexical: Sequence[SparseRow],
        labels: Sequence[str],
        chars: Sequence[SparseRow] | None = None,
        c: float = HEAD_DEFAULTS.c,
        levels: int | None = HEAD_DEFAULTS.levels,
        max_products: int | None = HEAD_DEFAULTS.max_products,
    ) -> None:
        from sklearn.svm import LinearSVC

        start = time.perf_counter()
        keep = training_sample(labels, max_products)
        if keep is not None:
            dense = np.asarray(dense)[keep]
            lexical = [lexical[i] for i in keep]
            chars = None if chars is None else [chars[i] for i in keep]
            labels = [labels[i] for i in keep]
        paths = [tuple(str(label).split(PATH_JOIN)) for label in labels]
        main = [path[0] for path in paths]
        if len(set(main)) < 2:
            raise EmptyIndexError("the linear head needs labeled products of at least two categories")
        self._blocks: list[tuple[str, np.ndarray]] = []
        matrices = []
        for space, rows in ((LEXICAL_SPACE, lexical), (CHAR_SPACE, chars)):
            if rows is None:
                continue
            matrix = rows_to_csr(rows)
            doc_freq = np.bincount(matrix.indices, minlength=N_FEATURES)
            self._blocks.append((space, smooth_idf(doc_freq, len(rows), MIN_DF).astype(np.float32)))
            matrices.append(matrix)
        features = self._features(np.asarray(dense, dtype=np.float32), matrices)
        # fit on the columns a labeled product has: a hashed feature no labeled product has
        # gets a zero weight anyway, and leaving it out keeps the weights small
        # (a count per column, not np.unique: a sort of every stored entry, which held the
        # interpreter lock from concurrent requests for a long stretch at scale)
        self._columns = np.flatnonzero(np.bincount(features.indices, minlength=features.shape[1])).astype(np.int32)
        self._lookup = np.full(features.shape[1], -1, dtype=np.int32)
        self._lookup[self._columns] = np.arange(len(self._columns), dtype=np.int32)
        self._svm = LinearSVC(C=c)
        # liblinear lets go of the interpreter lock while it fits: the main-category SVM and
        # the nodes' classifiers below it are fitted side by side on the usable cores (each
        # job slices its own rows, so only the running ones hold a copy)
        with ThreadPoolExecutor(max_workers=cpu_threads(), thread_name_prefix="semcat-head") as pool:
            main_fit = pool.submit(self._svm.fit, self._compact(features), main)
            # below the main category: one classifier per parent among its children
            local: dict[tuple[str, ...], Future[LocalClassifier]] = {}
            self.only_child: dict[tuple[str, ...], tuple[str, ...]] = {}  # a node all of whose products go one way
            deepest = max(len(path) for path in paths)
            for level in range(2, deepest + 1 if levels is None else min(deepest, levels) + 1):
                groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
                for row, path in enumerate(paths):
                    if len(path) >= level - 1:
                        groups[path[: level - 1]].append(row)
                for parent, rows in groups.items():
                    targets = [paths[row][:level] for row in rows]  # a path ending at the parent: "stop here"
                    if len(set(targets)) > 1:
                        local[parent] = pool.submit(lambda r=rows, t=targets: LocalClassifier(features[r], t, c))
                    else:
                        self.only_child[parent] = targets[0]
            main_fit.result()
            self.main_seconds = time.perf_counter() - start
            self.local: dict[tuple[str, ...], LocalClassifier] = {parent: job.result() for parent, job in local.items()}
        self._svm.coef_ = self._weights(self._svm.coef_)
        self.paths = [(str(c),) for c in self._svm.classes_]
        self.products = len(labels)
        self.train_seconds = time.perf_counter() - start
        # the path confidence learned with this head (semcat.categorize.retrain.train), or why there is none
        self.calibration: Any = None
        self.calibration_note: str | None = "not calibrated"

    @staticmethod
    def _weights(coef: np.ndarray) -> np.ndarray:
        return coef.astype(np.float32)  # half the memory of liblinear's float64; margins need no more

    @property
    def spaces(self) -> tuple[str, ...]:
        """The sparse query rows :meth:`probabilities` reads besides the dense ``text``."""
        return tuple(space for space, _ in self._blocks)

    def _features(self, dense: np.ndarray, matrices: Sequence[Any]) -> Any:
        from scipy import sparse

        blocks = [sparse.csr_matrix(dense * DENSE_WEIGHT)]
        for (_, idf), matrix in zip(self._blocks, matrices, strict=True):
            blocks.append(_unit_rows(matrix.tocsr(), idf))
        features = sparse.hstack(blocks, format="csr")
        features.eliminate_zeros()  # features below MIN_DF (IDF 0) are not features
        return features

    def _compact(self, features: Any) -> Any:
        """Keep the columns the SVM was fitted on (a query's other features weigh nothing)."""
        return _select(features, self._lookup[features.indices], len(self._columns))

    def features(self, query_vectors: Mapping[str, Any]) -> Any:
        """The queries' feature rows (CSR), as the classifiers read them. Needs the queries'
        ``text`` vectors and, for the sparse blocks, their rows under :attr:`spaces` (a
        missing space reads as no words)."""
        dense = np.atleast_2d(np.asarray(query_vectors[DEFAULT_SPACE], dtype=np.float32))
        empty = [(np.zeros(0, np.int32), np.zeros(0, np.float32))] * len(dense)
        matrices = [rows_to_csr(query_vectors.get(space) or empty) for space in self.spaces]
        return self._features(dense, matrices)

    def probabilities(self, query_vectors: Mapping[str, Any], features: Any = None) -> np.ndarray:
        """(n, main categories): softmax over the SVM margins (``features``: the queries'
        rows from :meth:`features` when already computed)."""
        rows = self.features(query_vectors) if features is None else features
        return _softmax(_margins(rows, self._lookup[rows.indices], self._svm.coef_.T, self._svm.intercept_))

    def below(self, parent: tuple[str, ...], features: Any) -> tuple[list[tuple[str, ...]], np.ndarray] | None:
        """The children of ``parent`` the head knows and, per query row of ``features``, a
        probability for each (a child equal to ``parent`` means "the path stops here"; a
        node with one child gives it probability 1). None for a category the head has not
        been trained on (added since) or has not been asked to decide (``levels``)."""
        parent = tuple(parent)
        if parent in self.only_child:
            return [self.only_child[parent]], np.ones((features.shape[0], 1), dtype=np.float32)
        local = self.local.get(parent)
        return None if local is None else (local.children, local.probabilities(features))

    @property
    def levels(self) -> int:
        """How deep the head decides: 1 (the main category only) or more."""
        below = [*self.local, *(parent for parent, child in self.only_child.items() if child != parent)]
        return 1 + max((len(parent) for parent in below), default=0)

    def weights_bytes(self) -> int:
        """What the trained weights take in memory (and, about, on disk)."""
        own = self._svm.coef_.nbytes + self._columns.nbytes + self._lookup.nbytes
        return int(own + sum(local.nbytes for local in self.local.values()))

    @classmethod
    def from_training_set(cls, data: TrainingSet, chars: bool = HEAD_DEFAULTS.chars, **kwargs: Any) -> LinearHead:
        """Train on a training set as :func:`~semcat.categorize.head_data.training_set` reads it
        (already sampled past ``max_products``, so the word and character rows are computed
        for the sample only)."""
        dense, texts, labels = data
        char_rows = LexicalEncoder("char").encode(texts) if chars else None
        return cls(dense, LexicalEncoder().encode(texts), labels, chars=char_rows, **kwargs)

    def save(self, path: Path, fingerprint: str) -> None:
        """Write what the head was trained on, then the head (atomically: a reader never
        sees half a file). The small header comes first so that :meth:`load` can tell a
        stale file without unpickling the weights."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            with tmp.open("wb") as fh:
                pickle.dump(_header(fingerprint), fh, protocol=5)
                pickle.dump(self, fh, protocol=5)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # a failed write (disk full) leaves nothing behind

    @staticmethod
    def saved(path: Path, fingerprint: str) -> bool:
        """Whether the head saved at ``path`` was trained on exactly this ``fingerprint``
        with this scikit-learn, read from the file's small header only (no weights loaded)."""
        try:
            with path.open("rb") as fh:
                return bool(pickle.load(fh) == _header(fingerprint))
        except Exception:  # none yet, or a truncated or foreign file
            return False

    @staticmethod
    def load(path: Path, fingerprint: str) -> LinearHead | None:
        """The head saved at ``path`` if it was trained on exactly this ``fingerprint`` with
        this scikit-learn; None when there is none, it is stale, or it cannot be read (then
        it is retrained). The file is a pickle: it is trusted as the store beside it is."""
        try:
            with path.open("rb") as fh:
                if pickle.load(fh) != _header(fingerprint):  # written by semcat into its own data folder
                    return None
                head = pickle.load(fh)
        except Exception:  # none yet, or a truncated or foreign file: retrain and overwrite it
            return None
        return head if isinstance(head, LinearHead) else None


def _unit_rows(matrix: Any, weights: np.ndarray) -> Any:
    """``matrix`` (CSR) with each value times its column's weight, rows scaled to unit length
    (empty rows stay empty): sklearn's ``normalize(matrix.multiply(weights))`` without its
    input checks, which cost more than the arithmetic on a one-query request."""
    from scipy import sparse

    data = matrix.data * weights[matrix.indices]
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    norms = np.sqrt(np.bincount(rows, weights=data.astype(np.float64) ** 2, minlength=matrix.shape[0]))
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sparse.csr_matrix((data * scale[rows], matrix.indices, matrix.indptr), shape=matrix.shape)


def _select(features: Any, position: np.ndarray, width: int) -> Any:
    """``features`` (CSR) with each stored entry moved to column ``position`` of ``width``
    (-1: dropped), i.e. restricted to a model's own columns."""
    from scipy import sparse

    keep = position >= 0
    rows = np.repeat(np.arange(features.shape[0]), np.diff(features.indptr))
    return sparse.csr_matrix((features.data[keep], (rows[keep], position[keep])), shape=(features.shape[0], width))


def _margins(features: Any, position: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """The linear margins of the query rows ``features`` (CSR over all feature columns) for
    weights ``coef`` (the model's columns x classes, any float type) and ``intercept``, where
    ``position`` gives each stored entry of ``features`` its weight row (-1: the model has no
    weight for that feature). Only those weight rows are read, and no sparse matrix is built
    (scipy's constructor checks cost more than the arithmetic for a request's few rows).
    (rows,) for one margin."""
    keep = position >= 0
    n = features.shape[0]
    rows = np.repeat(np.arange(n), np.diff(features.indptr))[keep]
    contrib = np.asarray(coef[position[keep]], dtype=np.float64) * features.data[keep, None]
    margins = np.zeros((n, contrib.shape[1]), dtype=np.float64)
    if len(rows):
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # CSR rows come in order
        margins[rows[starts]] = np.add.reduceat(contrib, starts, axis=0)
    margins += intercept
    return margins[:, 0] if margins.shape[1] == 1 else margins


def _softmax(margins: np.ndarray) -> np.ndarray:
    if margins.ndim == 1:  # two classes
        margins = np.stack([-margins, margins], axis=1)
    logits = _SCALE * margins
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class LocalClassifier:
    """A linear SVM among the children of one taxonomy node, fitted on that node's labeled
    products only and on the feature columns they have (so its weights grow with the
    subtree, not with the catalog)."""

    def __init__(self, features: Any, targets: Sequence[tuple[str, ...]], c: float) -> None:
        from sklearn.svm import LinearSVC

        # the columns at least LOCAL_MIN_DF of the node's products have (as MIN_DF for the
        # whole catalog: a feature of one product only lets the SVM memorize it)
        doc_freq = np.bincount(features.indices, minlength=features.shape[1])
        self.columns = np.flatnonzero(doc_freq >= LOCAL_MIN_DF).astype(np.int32)
        compact = _select(features, self._positions(features), len(self.columns))
        keys = [PATH_JOIN.join(t) for t in targets]
        svm = LinearSVC(C=c)
        with warnings.catch_warnings():  # a node of 3 products in 2 children is "a regression problem" to it
            warnings.simplefilter("ignore", UserWarning)
            svm.fit(compact, keys)
        self.children = [tuple(str(k).split(PATH_JOIN)) for k in svm.classes_]
        # (columns, 1 or children), float16: a node's margins need no more, and the nodes'
        # weights together would otherwise outweigh the main-category SVM several times
        self.coef = np.ascontiguousarray(svm.coef_.T, dtype=np.float16)
        self.intercept = svm.intercept_.astype(np.float32)

    @property
    def nbytes(self) -> int:
        return int(self.coef.nbytes + self.columns.nbytes + self.intercept.nbytes)

    def _positions(self, features: Any) -> np.ndarray:
        """Per stored entry of ``features``: its position among this node's columns, -1 where
        the node lacks that column (a feature its products lack weighs nothing)."""
        if not len(self.columns):
            return np.full(features.nnz, -1, dtype=np.int64)
        position = np.minimum(np.searchsorted(self.columns, features.indices), len(self.columns) - 1)
        return np.where(self.columns[position] == features.indices, position, -1)

    def probabilities(self, features: Any) -> np.ndarray:
        """(rows, children): softmax over the margins of the query rows ``features``. Only the
        weights of the queries' own features are read (and widened from float16)."""
        return _softmax(_margins(features, self._positions(features), self.coef, self.intercept))


def _header(fingerprint: str) -> dict[str, str | int]:
    """What a saved head must match to be loaded; another scikit-learn may not read its SVM
    right. Where scikit-learn is not imported yet, the version comes from the package
    metadata: importing it takes about a second, which a re-run with nothing to do should
    not pay."""
    import sys
    from importlib.metadata import version

    module = sys.modules.get("sklearn")
    installed = module.__version__ if module is not None else version("scikit-learn")
    return {"format": HEAD_FORMAT, "sklearn": installed, "fingerprint": fingerprint}
