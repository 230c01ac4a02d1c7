"""What the label audit reads of each stored label (:mod:`semcat.categorize.audit` step 2
and 3): per level, the out-of-fold predictions' probabilities of the stored category and
cleanlab's flags on them, how sure each prediction is of its own path, the neighborhood's
support for the label, the calibrated probability the label is right, and the ranking
that combines them (:meth:`LabelScores.trust`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.likeness import label_support, nearest_cosine
from semcat.categorize.prediction import Prediction
from semcat.options import CALIBRATION_RECIPE, QueryOptions


def _prefix(path: Sequence[str], level: int) -> str:
    return PATH_JOIN.join(path[:level])


def level_probabilities(
    predictions: Sequence[Prediction], rows: Sequence[int], classes: Sequence[str], level: int
) -> np.ndarray:
    """(rows, classes): each prediction's probability of every category at ``level``. The
    listed alternatives carry the path's mixed share down to the level; what they leave
    (other branches, stopping above) is spread evenly over the unlisted categories, so
    every row sums to 1 and no category is impossible."""
    index = {c: k for k, c in enumerate(classes)}
    out = np.zeros((len(rows), len(classes)), dtype=np.float32)
    for r, i in enumerate(rows):
        levels = predictions[i].levels
        if len(levels) >= level:
            for alternative in levels[level - 1].top:
                k = index.get(alternative.category)
                if k is not None:
                    out[r, k] = max(out[r, k], alternative.score)
    unlisted = out == 0
    left = np.clip(1.0 - out.sum(axis=1), 0.0, None)
    fill = (left / np.maximum(unlisted.sum(axis=1), 1)).astype(np.float32)
    # in place: a full (rows, classes) temporary in float64 was 1 GB at cdiscount-50k's level 3
    np.add(out, fill[:, None], out=out, where=unlisted)
    out /= out.sum(axis=1, keepdims=True)
    return out


def parting_level(label: Sequence[str], predicted: Sequence[str]) -> int:
    """The first level (1-based) where the two paths differ."""
    for level, (a, b) in enumerate(zip(label, predicted, strict=False), start=1):
        if a != b:
            return level
    return min(len(label), len(predicted)) + 1


def own_share(prediction: Prediction) -> float:
    """How sure a prediction is of its own path: its lowest share at a level, given the
    level above (1.0 for no prediction: nothing to compare a label with)."""
    scores = [level.score for level in prediction.levels]
    if not scores:
        return 1.0
    parents = [1.0, *scores[:-1]]
    return float(min(min(1.0, s / p) if p > 0 else 0.0 for s, p in zip(scores, parents, strict=True)))


BLOCK = 1024  # predictions read by the calibrators at a time
SUPPORT_FLOOR = 0.05  # a cosine this low or lower says "nothing alike shares the label"; 0 would erase the rest


def percentile(values: np.ndarray) -> np.ndarray:
    """Each value's rank among ``values`` as a share in (0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(values) / max(len(values), 1)


def geometric_percentiles(*pieces: np.ndarray) -> np.ndarray:
    """The geometric mean of each piece's :func:`percentile`: pieces on any scales, weighed
    alike with nothing to tune."""
    return np.exp(np.mean([np.log(percentile(piece)) for piece in pieces], axis=0))


@dataclass
class LabelScores:
    """What the out-of-fold predictions say of every stored label: per product and level,
    the share given to its stored category down to that level (NaN: not judged there), the
    level cleanlab flags it at (0: none), how sure each prediction is of its own path
    (:func:`own_share`), the closest same-labeled product's cosine (:func:`label_support`)
    and the closest product's (:func:`nearest_cosine`), and, calibrated, the probability the
    stored label is right and the prediction's confidence where it parts from the label."""

    shares: np.ndarray  # (products, depth)
    flagged: np.ndarray  # (products,) int
    singletons: dict[str, int]
    sure: np.ndarray | None = None  # (products,)
    support: np.ndarray | None = None  # (products,), NaN: no other product has the label
    nearest: np.ndarray | None = None  # (products,)
    right: np.ndarray | None = None  # (products,)
    suggested: np.ndarray | None = None  # (products,), NaN: the prediction agrees with the label

    def trust(self, rank_by: str = "evidence") -> np.ndarray:
        """One number per product, low for a label the evidence contradicts: ``evidence``
        (the default): the geometric mean of the percentiles of the calibrated probability
        the label is right, of ``conditional`` over how sure the prediction is of its own
        path, and of the closest same-labeled product's cosine over the closest product's
        (a piece the scores lack counts as the same for every product); ``conditional``:
        the lowest, over the levels, of the share given to the stored category under its
        stored parent; ``joint``: the share of the stored path down to the deepest level
        judged. NaN for a product judged at no level."""
        if rank_by == "evidence":
            conditional = self.trust("conditional")
            judged = ~np.isnan(conditional)
            sure = np.ones(len(conditional)) if self.sure is None else np.maximum(self.sure, 1e-6)
            support = np.ones(len(conditional)) if self.support is None else np.nan_to_num(self.support, nan=1.0)
            nearest = np.ones(len(conditional)) if self.nearest is None else np.nan_to_num(self.nearest, nan=1.0)
            relative = np.clip(support / np.maximum(nearest, SUPPORT_FLOOR), SUPPORT_FLOOR, 1.0)
            right = np.ones(len(conditional)) if self.right is None else self.right
            out = np.full(len(conditional), np.nan)
            if judged.any():
                out[judged] = geometric_percentiles(*(piece[judged] for piece in (right, conditional / sure, relative)))
            return out
        shares = self.shares
        if rank_by == "joint":
            out = np.full(len(shares), np.nan)
            for row in range(len(shares)):
                judged = shares[row][~np.isnan(shares[row])]
                if len(judged):
                    out[row] = judged[-1]
            return out
        parent = np.hstack([np.ones((len(shares), 1)), shares[:, :-1]])
        with np.errstate(invalid="ignore", divide="ignore"):
            conditional = np.where(parent > 0, np.minimum(shares / parent, 1.0), 0.0)
        conditional[np.isnan(shares)] = np.nan
        all_nan = np.isnan(conditional).all(axis=1)
        out = np.full(len(shares), np.nan)
        out[~all_nan] = np.nanmin(conditional[~all_nan], axis=1)
        return out


FILTER_BY = "prune_by_class"  # cleanlab's rule for flagging a label (chosen by audit_noise.py)


def label_confidence(
    predictions: Sequence[Prediction], paths: Sequence[tuple[str, ...]], depth: int, options: QueryOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Per product, the probability its stored path is right and the prediction's confidence
    down to the first level where it parts from it (NaN: it does not), by the path
    confidence's calibrator fitted on these out-of-fold ``predictions`` against the stored
    ``paths`` (the categorizer ``options`` describe made them). Where the prediction stops
    above the level where they part, nothing is said of the label: 0.5."""
    from semcat.categorize.calibration import fit

    calibration = fit(predictions, paths, depth, options, len(paths))
    right = np.full(len(paths), 0.5)
    suggested = np.full(len(paths), np.nan)
    # read a block at a time: the calibrators walk every tree for every row at once
    blocks = (predictions[start : start + BLOCK] for start in range(0, len(predictions), BLOCK))
    confidences = (c for block in blocks for c in calibration.confidences(block))
    for i, (p, (levels, path)) in enumerate(zip(predictions, confidences, strict=True)):
        predicted = tuple(p.path)
        if predicted == tuple(paths[i]):
            right[i] = path
            continue
        part = parting_level(paths[i], predicted) - 1
        if part < len(levels):
            right[i], suggested[i] = 1.0 - levels[part], levels[part]
    return right, suggested


def label_scores(
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    depth: int,
    dense: np.ndarray | None = None,
    options: QueryOptions | None = None,
    filter_by: str = FILTER_BY,
) -> LabelScores:
    """:class:`LabelScores` of ``labels`` (full paths) from their out-of-fold ``predictions``:
    per level, the predictions' probabilities of that level's categories and cleanlab's
    confident learning on them; with the products' ``dense`` vectors, each label's closest
    same-labeled product and each product's closest; with the ``options`` the predictions
    were made with (:func:`audit_options`) and at least as many products as a calibration
    needs (``CalibrationRecipe.min_products``), the calibrated :func:`label_confidence`. A
    product whose category at some level has no other product is judged no deeper (its
    category is listed as a singleton)."""
    from cleanlab.filter import find_label_issues

    paths = [tuple(str(label).split(PATH_JOIN))[:depth] for label in labels]
    singletons: dict[str, int] = {}
    shares = np.full((len(paths), depth), np.nan)
    flagged = np.zeros(len(paths), dtype=np.int64)
    judged = np.ones(len(paths), dtype=bool)
    for level in range(1, depth + 1):
        sizes = Counter(_prefix(p, level) for p in paths if len(p) >= level)
        for i, p in enumerate(paths):
            if judged[i] and len(p) >= level and sizes[_prefix(p, level)] < 2:
                singletons[_prefix(p, level)] = level
                judged[i] = False  # its category has no other product to judge it by
        rows = [i for i, p in enumerate(paths) if judged[i] and len(p) >= level]
        classes = sorted({_prefix(paths[i], level) for i in rows})
        if len(classes) < 2:
            continue
        position = {c: k for k, c in enumerate(classes)}
        given = np.asarray([position[_prefix(paths[i], level)] for i in rows])
        probs = level_probabilities(predictions, rows, classes, level)
        shares[rows, level - 1] = probs[np.arange(len(rows)), given]
        issues = find_label_issues(given, probs, filter_by=filter_by, n_jobs=1)
        for r in np.flatnonzero(issues).tolist():
            if not flagged[rows[r]]:
                flagged[rows[r]] = level
    sure = np.asarray([own_share(p) for p in predictions])
    support = None if dense is None else label_support(dense, [PATH_JOIN.join(p) for p in paths])
    nearest = None if dense is None else nearest_cosine(dense)
    calibrated = options is not None and len(paths) >= CALIBRATION_RECIPE.min_products  # as the service calibrates
    right, suggested = label_confidence(predictions, paths, depth, options) if calibrated else (None, None)
    return LabelScores(shares, flagged, singletons, sure, support, nearest, right, suggested)
