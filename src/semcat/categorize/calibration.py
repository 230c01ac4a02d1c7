"""Path confidence: the probability that a returned path is right, and the auto-file decision.

A categorizer's scores (vote shares mixed with the head's probabilities) rank its answers,
but they are not probabilities of being right: a near-duplicate whose label conflicts with
another near-duplicate's reads 1.0, and a main category at 0.95 says nothing about the
third level. So the confidence is learned from the store's own labeled products:

1. **Out-of-fold predictions** (:func:`out_of_fold`): the labeled products split in
   ``folds`` (stratified on the main category); each fold is categorized by the very
   categorizer the service builds (:func:`semcat.categorize.build_categorizer`, the same
   options) over a flat store of the other folds and a linear head trained on them. Each
   labeled product then has a prediction made without its own label, as a new listing has.
2. **Features** (:func:`level_features`) of each prediction at each level: the mixed score
   of the level and of the path so far, the margin to the runner-up, how much of the
   neighbors' vote agrees with the chosen category, the similarity of the closest labeled
   neighbor (and of the closest that agrees and that disagrees), near-duplicates and
   whether they agree with each other.
3. **A calibrator per level** (:class:`LevelModel`): the probability that the path down
   to that level is right, fitted on those features (on a large enough store, those of
   every level down to it: :func:`path_features`) plus how often the predicted category
   was right out of fold (:class:`CategoryRecord`); and one for the whole path (right
   neither stopped early nor gone too deep). Gradient-boosted trees on log loss, chosen by
   measurement (docs/design-notes.md). Deeper levels never read more confident than
   shallower ones, nor the path than its last level.
4. **Thresholds** (:meth:`Calibration.threshold`): the smallest confidence at which the
   out-of-fold predictions filed automatically are expected to reach a target precision
   (from how often they were right and from the calibrator's own cross-validated
   confidences, not from the rows it was fitted on; over the predictions the hard rules of
   :func:`held_back` let be filed).

The calibration is trained with the linear head, in the background, and saved with it
(:mod:`semcat.categorize.keeper`). The chosen category never changes: only the confidence
and the decision are added.

Long module: the features, the models that read them, the thresholds and the out-of-fold
run that feeds them are one recipe; split, a feature could be read one way when fitted
and another when applied.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.prediction import LevelScore, Prediction
from semcat.categorize.vote import set_aside, weight
from semcat.errors import EmptyIndexError
from semcat.options import CALIBRATION_DEFAULTS, CALIBRATION_RECIPE, HeadOptions, QueryOptions
from semcat.spaces import DENSE_SPACES

log = logging.getLogger(__name__)

Decision = str  # "auto" | "review"
THRESHOLD_FOLDS = 5  # the calibrator's own cross-validation, for the confidences thresholds are read from
MIN_CLASS_ROWS = 10  # right and wrong out-of-fold paths a level needs for a model (else a constant)
AUTO, REVIEW = "auto", "review"


# ----------------------------------------------------------------- features
FEATURES = (
    "score",  # the path's mixed score down to this level (product of the levels' shares)
    "step",  # this level's share under its parent
    "weakest",  # the lowest share of any level so far
    "margin",  # (best - runner-up) / best at this level
    "agree",  # share of the labeled neighbors' vote weight under the chosen category
    "agree_count",  # labeled neighbors under the chosen category (of the dense ones)
    "closest",  # cosine of the closest labeled neighbor
    "closest_agree",  # ... of the closest under the chosen category (0: none)
    "closest_other",  # ... of the closest elsewhere (0: none)
    "near_duplicate",  # the vote was left to near-duplicates
    "near_conflict",  # near-duplicates (at the categorizer's threshold) with other labels
    "level",  # this level (1 = main)
    "last",  # whether the path ends here
    "vote",  # the vote's share of the chosen category under its parent (-1: no vote there)
    "head",  # the head's probability of it (-1: the head did not judge)
    "voices_agree",  # both voices spoke and each gave it more than half
)


def _under(label: str | None, chosen: tuple[str, ...]) -> bool:
    if not label:
        return False
    return tuple(label.split(PATH_JOIN))[: len(chosen)] == chosen


def level_features(prediction: Prediction, level: int, power: float, duplicate_threshold: float | None) -> list[float]:
    """The features of ``prediction`` at ``level`` (1-based, at most its depth), in
    :data:`FEATURES` order."""
    levels = prediction.levels
    lv = levels[level - 1]
    chosen = tuple(lv.category.split(PATH_JOIN))
    previous = levels[level - 2].score if level > 1 else 1.0
    step = lv.score / previous if previous > 0 else 0.0
    steps = [levels[0].score] + [
        levels[i].score / levels[i - 1].score if levels[i - 1].score > 0 else 0.0 for i in range(1, level)
    ]
    top = [c.score for c in lv.top]
    runner = max((c.score for c in lv.top if c.category != lv.category), default=0.0)
    best = max(top, default=lv.score)
    margin = (lv.score - runner) / best if best > 0 else 0.0
    dense = [n for n in prediction.neighbors if n.category and n.space in DENSE_SPACES]
    weights = np.array([weight(n.score, power) for n in dense], dtype=np.float64)
    agreeing = np.array([_under(n.category, chosen) for n in dense], dtype=bool)
    total = float(weights.sum())
    agree = float(weights[agreeing].sum() / total) if total > 0 else 0.0
    scores = np.array([n.score for n in dense], dtype=np.float64)
    closest = float(scores.max()) if len(scores) else 0.0
    closest_agree = float(scores[agreeing].max()) if agreeing.any() else 0.0
    closest_other = float(scores[~agreeing].max()) if (~agreeing).any() else 0.0
    near_conflict = 0.0
    if duplicate_threshold is not None and len(scores):
        near = scores >= duplicate_threshold
        near_conflict = float((near & ~agreeing).sum())
    return [
        lv.score,
        step,
        min(steps),
        margin,
        agree,
        float(agreeing.sum()),
        closest,
        closest_agree,
        closest_other,
        float(prediction.near_duplicate),
        near_conflict,
        float(level),
        float(level == len(levels)),
        -1.0 if lv.vote is None else lv.vote,
        -1.0 if lv.head is None else lv.head,
        float(lv.vote is not None and lv.head is not None and lv.vote > 0.5 and lv.head > 0.5),
    ]


def path_features(per_level: Sequence[list[float]], level: int, depth: int, above: bool) -> list[float]:
    """What the calibrator of ``level`` (and the path's, at the path's last level) reads:
    :func:`level_features` of ``level``, or, ``above``, of every level down to it and -1 for
    each deeper one down to ``depth`` (one width at every level). A path is right only if
    every level is: a close call at the main category that goes with a wrong sub-category
    is a doubt the sub-category's own features do not carry."""
    if not above:
        return list(per_level[level - 1])
    width = len(per_level[0])
    return [x for features in per_level[:level] for x in features] + [-1.0] * (width * (depth - level))


@dataclass(frozen=True)
class NearDuplicates:
    """Whether a stored copy's label should decide for a new listing of the same product,
    from the out-of-fold predictions the near-duplicates decided: how often they were
    right, and how often the vote of the other neighbors would have been
    (:func:`semcat.categorize.vote.set_aside`)."""

    decided: int = 0  # out-of-fold predictions decided by near-duplicates, with other neighbors too
    right_following: int = 0  # ... right with the near-duplicates' label
    right_aside: int = 0  # ... right with the other neighbors' vote
    set_aside: bool = False  # the near-duplicates are set aside when serving

    def line(self) -> str:
        """What was measured and chosen, in one line (``semcat info``)."""
        if not self.decided:
            return "near-duplicates decide for their copies (none decided a prediction out of fold)"
        verdict = "set aside" if self.set_aside else "decide for their copies"
        return (
            f"near-duplicates {verdict}: of the {self.decided:,} out-of-fold predictions they decided, "
            f"{self.right_following / self.decided:.0%} right following them, "
            f"{self.right_aside / self.decided:.0%} with the other neighbors' vote"
        )


def duplicates_rule(
    predictions: Sequence[Prediction], truths: Sequence[tuple[str, ...]], depth: int, options: QueryOptions
) -> tuple[list[Prediction], NearDuplicates]:
    """The out-of-fold ``predictions`` as the service will make them, and whether it sets
    near-duplicates aside: only where the store's own products show that a copy's label is
    wrong for a new listing more often than the other neighbors' vote (a catalog filing
    one product under several categories), by a margin no fold's noise makes
    (:attr:`CalibrationRecipe.set_aside_z`). Elsewhere, the predictions as they came."""
    if options.duplicate_threshold is None:
        return list(predictions), NearDuplicates()
    aside: dict[int, Prediction] = {}
    following = only_following = only_aside = right_aside = 0
    for i, p in enumerate(predictions):
        if not p.near_duplicate:
            continue
        other = set_aside(
            p,
            duplicate_threshold=options.duplicate_threshold,
            power=options.vote_power,
            depth=options.depth or depth,
            top_n=options.top_n,
            uncertain_threshold=options.uncertain_threshold,
        )
        if other is None:
            continue
        aside[i] = other
        a, b = tuple(p.path) == truths[i], tuple(other.path) == truths[i]
        following += a
        right_aside += b
        only_following += a and not b
        only_aside += b and not a
    chosen = only_aside - only_following > CALIBRATION_RECIPE.set_aside_z * np.sqrt(only_aside + only_following)
    record = NearDuplicates(len(aside), following, right_aside, bool(chosen))
    if not chosen:
        return list(predictions), record
    return [aside.get(i, p) for i, p in enumerate(predictions)], record


def support(prediction: Prediction, level: int) -> int:
    """Labeled neighbors (found by vectors) under the chosen category at ``level``: a
    category known from one product alone is never filed automatically."""
    chosen = tuple(prediction.levels[level - 1].category.split(PATH_JOIN))
    return sum(1 for n in prediction.neighbors if n.space in DENSE_SPACES and _under(n.category, chosen))


# --------------------------------------------------------------- calibrators
def _model(rows: int) -> Any:
    """The calibrator of one level: gradient-boosted trees over the features, fitted on log
    loss (so their output is a probability). Chosen on the cdiscount 10k sample and
    flipkart-1050 against logistic regression, splines and isotonic-wrapped trees
    (docs/design-notes.md, "Path confidence")."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=max(20, rows // 200), random_state=0
    )


PRIOR_WEIGHT = 5.0  # out-of-fold predictions a category's own record counts as much as the level's


@dataclass
class CategoryRecord:
    """How often each predicted category was right out of fold (a category the categorizer
    confuses is less trustworthy than its scores say)."""

    counts: dict[str, tuple[int, int]]  # predicted category -> (predictions, right)
    prior: float  # the share right over all categories

    @classmethod
    def of(cls, keys: Sequence[str], right: np.ndarray) -> CategoryRecord:
        counts: dict[str, list[int]] = {}
        for key, ok in zip(keys, right.tolist(), strict=True):
            entry = counts.setdefault(key, [0, 0])
            entry[0] += 1
            entry[1] += int(ok)
        prior = float(right.mean()) if len(right) else 0.0
        return cls({k: (n, r) for k, (n, r) in counts.items()}, prior)

    def features(self, keys: Sequence[str]) -> np.ndarray:
        """(rows, 2): the smoothed share right of each row's category and how many
        predictions it rests on."""
        out = np.zeros((len(keys), 2))
        for row, key in enumerate(keys):
            n, r = self.counts.get(key, (0, 0))
            out[row] = ((r + PRIOR_WEIGHT * self.prior) / (n + PRIOR_WEIGHT), np.log1p(n))
        return out

    @classmethod
    def held_out(cls, keys: Sequence[str], right: np.ndarray, folds: int = 5) -> np.ndarray:
        """:meth:`features` of each row from the records of the other folds' rows only (a
        row's own outcome in its category's record would leak it to the calibrator)."""
        out = np.zeros((len(keys), cls.of([], right[:0]).features([]).shape[1]))
        which = np.random.default_rng(0).integers(0, folds, len(keys))
        for fold in range(folds):
            mine = which == fold
            others = cls.of([k for k, m in zip(keys, mine.tolist(), strict=True) if not m], right[~mine])
            out[mine] = others.features([k for k, m in zip(keys, mine.tolist(), strict=True) if m])
        return out


def record_key(prediction: Prediction, level: int) -> str:
    """What a :class:`CategoryRecord` is kept by: the category chosen at ``level``."""
    return prediction.levels[level - 1].category


def _keys(predictions: Sequence[Prediction], rows: Sequence[int], levels: Sequence[int]) -> list[str]:
    return [record_key(predictions[i], lv) for i, lv in zip(rows, levels, strict=True)]


@dataclass
class BoostedTrees:
    """A fitted ``HistGradientBoostingClassifier`` (binary, numeric features) as plain arrays,
    evaluated with numpy: scikit-learn's own ``predict_proba`` costs about 1.3 ms a call on one
    row (input checks, its thread pool), four calls a request, against a request's ~10 ms."""

    feature: np.ndarray  # (trees, nodes) the feature a node splits on
    threshold: np.ndarray  # go left when the value is at most this (NaN: ``missing_left``)
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    baseline: float
    depth: int

    @classmethod
    def of(cls, model: Any) -> BoostedTrees:
        trees = [predictors[0].nodes for predictors in model._predictors]
        width = max(len(t) for t in trees)

        def stack(field: str, dtype: Any, fill: Any) -> np.ndarray:
            out = np.full((len(trees), width), fill, dtype=dtype)
            for row, nodes in enumerate(trees):
                out[row, : len(nodes)] = nodes[field]
            return out

        return cls(
            feature=stack("feature_idx", np.int64, 0),
            threshold=stack("num_threshold", np.float64, 0.0),
            missing_left=stack("missing_go_to_left", bool, True),
            left=stack("left", np.int64, 0),
            right=stack("right", np.int64, 0),
            leaf=stack("is_leaf", bool, True),
            value=stack("value", np.float64, 0.0),
            baseline=float(np.ravel(model._baseline_prediction)[0]),
            depth=int(max(int(t["depth"].max()) for t in trees)),
        )

    def leaf_values(self, features: np.ndarray) -> np.ndarray:
        """(rows, trees): the value of the leaf each row reaches in each tree (all trees
        walked at once, one step per tree level)."""
        trees, width = self.feature.shape
        offsets = (np.arange(trees) * width)[None, :]
        feature, threshold, missing = self.feature.ravel(), self.threshold.ravel(), self.missing_left.ravel()
        left, right, leaf = self.left.ravel(), self.right.ravel(), self.leaf.ravel()
        node = np.zeros((len(features), trees), dtype=np.int64)
        rows = np.arange(len(features))[:, None]
        for _ in range(self.depth):
            at = offsets + node
            done = leaf[at]
            if done.all():
                break
            x = features[rows, feature[at]]
            go_left = np.where(np.isnan(x), missing[at], x <= threshold[at])
            node = np.where(done, node, np.where(go_left, left[at], right[at]))
        return self.value.ravel()[offsets + node]


@dataclass
class LevelModel:
    """P(the path down to one level is right) from that level's features; a constant where
    the out-of-fold predictions were all right or all wrong (or nearly so)."""

    model: BoostedTrees | None
    constant: float

    @classmethod
    def fit(cls, features: np.ndarray, right: np.ndarray) -> LevelModel:
        positives = int(right.sum())
        if min(positives, len(right) - positives) < MIN_CLASS_ROWS:
            return cls(None, float(right.mean()) if len(right) else 0.0)
        model = _model(len(right))
        model.fit(features, right.astype(int))
        return cls(BoostedTrees.of(model), float(right.mean()))


def at_threshold_stops(ranked: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """``estimate`` (of the top-n of ``ranked``, confidences in decreasing order, for each n)
    where a threshold can stop, -1 elsewhere: a threshold files every prediction at or above
    it, so only the last of a run of equal confidences is such a place (the precision of
    part of a tie is not one any threshold realizes)."""
    ends = np.r_[ranked[:-1] > ranked[1:], True]
    return np.where(ends, estimate, -1.0)


@dataclass
class Calibration:
    """What the store's out-of-fold predictions teach: a model per level and one for the
    path, and, from the calibrators' own held-out confidences, the precision reached above
    any threshold."""

    depth: int  # levels calibrated (the serving depth)
    models: list[LevelModel]  # per level: is the path right down to it?
    path_model: LevelModel  # is the whole path right?
    power: float  # the vote's power and near-duplicate threshold the features were read with
    duplicate_threshold: float | None
    # held-out path confidences of the predictions a threshold can file (see held_back), descending
    ranked_confidence: np.ndarray
    ranked_right: np.ndarray  # whether each of those paths was right
    considered: int  # out-of-fold predictions in all, filable or not (what the expected share is of)
    products: int  # labeled products it learned from
    accuracy: float  # share of out-of-fold paths that were right
    seconds: float = 0.0
    # per level, then for the path: how often a predicted category was right out of fold
    stats: list[CategoryRecord] = field(default_factory=list)
    levels_above: bool = False  # the calibrators read the levels above their own (path_features)
    near_duplicates: NearDuplicates = field(default_factory=NearDuplicates)  # whether they decide, and why
    _precision: np.ndarray | None = field(default=None, repr=False)  # expected, of the top-n held-out, for each n
    _trees: Forest | None = field(default=None, repr=False)  # the models side by side, built on first use

    # ---------------------------------------------------------- thresholds
    def threshold(self, target: float) -> float | None:
        """The lowest confidence at which the held-out predictions at or above it are
        expected to be right at least ``target`` of the time (None: no threshold is).

        Expected: the mean of two estimates of how often they are right, each off in its
        own way. How often the out-of-fold predictions above it *were* right reads low where
        their heads and stores saw much less of the catalog than the served ones (a small
        catalog); the mean of their calibrated confidences reads off where the calibrators
        are off at the top (a little under-confident on the large catalogs measured).
        Either alone left the filed share more than a point from the target on one catalog
        of three; their mean left none (docs/design-notes.md, "The threshold's rule")."""
        if not len(self.ranked_confidence):
            return None
        if self._precision is None:  # computed once per calibration, read by every request
            ranked, seen = self.ranked_confidence, np.arange(1, len(self.ranked_confidence) + 1)
            self._precision = at_threshold_stops(
                ranked, (np.cumsum(self.ranked_right) + np.cumsum(ranked)) / (2 * seen)
            )
        ok = np.flatnonzero(self._precision >= target)
        if not len(ok):
            return None
        return float(self.ranked_confidence[int(ok[-1])])

    def expected_share(self, target: float) -> float:
        """The share of the held-out predictions the threshold for ``target`` files automatically."""
        threshold = self.threshold(target)
        if threshold is None or not self.considered:
            return 0.0
        return float(np.sum(self.ranked_confidence >= threshold)) / self.considered

    def filed_precision(self, target: float) -> float | None:
        """How often the held-out predictions the threshold for ``target`` files were right
        (None: it files none)."""
        threshold = self.threshold(target)
        if threshold is None:
            return None
        return float(self.ranked_right[self.ranked_confidence >= threshold].mean())

    # ------------------------------------------------------------ applying
    def confidences(
        self, predictions: Sequence[Prediction], depth: int | None = None
    ) -> list[tuple[list[float], float]]:
        """Per prediction, the confidence of each of its levels (non-increasing) and of its
        path. ``depth``: the request's, when it stops above the calibrated depth (its path
        is then right when its last level is). Every level's and the path's model are read
        in one pass over all their trees (one request: one numpy walk, not five)."""
        path_too = depth is None or depth >= self.depth
        rows: list[list[float]] = []
        owners: list[tuple[int, int]] = []  # (prediction, level; 0 for the path)
        for i, p in enumerate(predictions):
            deepest = min(len(p.levels), self.depth)
            per_level = [level_features(p, lv, self.power, self.duplicate_threshold) for lv in range(1, deepest + 1)]
            for level in range(1, deepest + 1):
                features = path_features(per_level, level, self.depth, self.levels_above)
                category = record_key(p, level)
                rows.append(features + self.stats[level - 1].features([category])[0].tolist())
                owners.append((i, level))
                if path_too and level == deepest:
                    rows.append(features + self.stats[-1].features([category])[0].tolist())
                    owners.append((i, 0))
        # model k - 1 reads level k; the last, the path
        which = np.asarray([len(self.models) if level == 0 else level - 1 for _, level in owners], dtype=np.int64)
        probs = self._forest().predict(np.asarray(rows, dtype=np.float64), which) if rows else np.zeros(0)
        out: list[list[float]] = [[] for _ in predictions]
        paths = [0.0] * len(predictions)
        for (i, level), prob in zip(owners, probs.tolist(), strict=True):
            if level:
                out[i].append(prob)
            else:
                paths[i] = prob
        for i, p in enumerate(predictions):
            # levels deeper than the calibrated depth (a request asked for them): the deepest
            # calibrated confidence times the mixed shares below it, an estimate only
            for level in range(self.depth + 1, len(p.levels) + 1):
                above = p.levels[level - 2].score
                out[i].append((out[i][-1] if out[i] else 0.0) * (p.levels[level - 1].score / above if above else 0.0))
            out[i] = [float(c) for c in np.minimum.accumulate(out[i])] if out[i] else []
        if not path_too:
            return [(levels, levels[-1] if levels else 0.0) for levels in out]
        return [(levels, min([path, *levels])) for levels, path in zip(out, paths, strict=True)]

    def _forest(self) -> Forest:
        """Every level's model, then the path's, side by side (built on first use)."""
        if self._trees is None:
            self._trees = Forest.of([*self.models, self.path_model])
        return self._trees

    # The precision curve is never saved with the head: a head saved by an older release
    # with its curve computed would otherwise keep that release's threshold rule.
    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_precision": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a calibration saved before the near-duplicate rule was learned: they decide, as then
        self.__dict__.update({"near_duplicates": NearDuplicates()} | state | {"_precision": None})


@dataclass
class Forest:
    """Several :class:`LevelModel`\\ s' trees side by side, so that rows meant for different
    models are walked in one pass (a row's probability sums only its own model's trees)."""

    trees: BoostedTrees | None  # every model's trees, model after model
    starts: np.ndarray  # per model with trees: its first tree
    segment: np.ndarray  # per model: its position among those with trees (-1: a constant)
    baselines: np.ndarray  # per model
    constants: np.ndarray  # per model

    @classmethod
    def of(cls, models: Sequence[LevelModel]) -> Forest:
        fitted = [m.model for m in models if m.model is not None]
        segment = np.full(len(models), -1, dtype=np.int64)
        starts, count = [], 0
        for k, m in enumerate(models):
            if m.model is not None:
                segment[k] = len(starts)
                starts.append(count)
                count += m.model.feature.shape[0]
        trees = None
        if fitted:
            width = max(t.feature.shape[1] for t in fitted)

            def joined(name: str, fill: Any) -> np.ndarray:
                parts = []
                for t in fitted:
                    array = getattr(t, name)
                    pad = np.full((array.shape[0], width - array.shape[1]), fill, dtype=array.dtype)
                    parts.append(np.hstack([array, pad]))
                return np.vstack(parts)

            trees = BoostedTrees(
                feature=joined("feature", 0),
                threshold=joined("threshold", 0.0),
                missing_left=joined("missing_left", True),
                left=joined("left", 0),
                right=joined("right", 0),
                leaf=joined("leaf", True),
                value=joined("value", 0.0),
                baseline=0.0,
                depth=max(t.depth for t in fitted),
            )
        return cls(
            trees,
            np.asarray(starts, dtype=np.int64),
            segment,
            np.asarray([m.model.baseline if m.model is not None else 0.0 for m in models]),
            np.asarray([m.constant for m in models]),
        )

    def predict(self, features: np.ndarray, which: np.ndarray) -> np.ndarray:
        """P(right) for each row of ``features``, by the model ``which`` names for it."""
        out = self.constants[which].astype(np.float64)
        if self.trees is None:
            return out
        sums = np.add.reduceat(self.trees.leaf_values(features), self.starts, axis=1)
        mine = self.segment[which]
        fitted = mine >= 0
        raw = self.baselines[which[fitted]] + sums[np.flatnonzero(fitted), mine[fitted]]
        out[fitted] = 1.0 / (1.0 + np.exp(-raw))
        return out


def held_back(prediction: Prediction, calibrated_depth: int) -> str | None:
    """Why ``prediction`` goes to review whatever its confidence (None: its confidence
    decides): no category, deeper than the calibrated levels, or a category that rests on
    a single labeled neighbor. The thresholds are read over the out-of-fold predictions
    these rules let through, so that the precision they promise is that of what is filed."""
    if not prediction.levels:
        return "no category"
    if len(prediction.levels) > calibrated_depth:
        return f"deeper than the {calibrated_depth} calibrated levels"
    if support(prediction, len(prediction.levels)) < CALIBRATION_RECIPE.min_support:
        return "its category rests on a single labeled neighbor"
    return None


def decide_auto(
    prediction: Prediction, confidence: float, threshold: float | None, calibrated_depth: int
) -> tuple[Decision, str | None]:
    """``auto`` when no rule of :func:`held_back` holds the prediction back and the path's
    confidence reaches the threshold; else ``review`` and why."""
    if not prediction.levels:
        return REVIEW, "no category"
    if threshold is None:
        return REVIEW, "no confidence reaches the target precision on the store's own products"
    reason = held_back(prediction, calibrated_depth)
    if reason is not None:
        return REVIEW, reason
    if confidence < threshold:
        return REVIEW, f"confidence below {threshold:.2f}, the threshold for the target precision"
    return AUTO, None


def apply(
    calibration: Calibration | None,
    predictions: Sequence[Prediction],
    target: float,
    uncertain_below: float,
    depth: int | None = None,
    why_not: str = "the confidence is not calibrated",
) -> list[Prediction]:
    """The predictions with ``confidence`` (per level and for the path), ``decision`` and
    ``uncertain`` (the path is more likely wrong than right: confidence below
    ``uncertain_below``). Without a calibration every decision is ``review``, the
    confidence is the path's mixed score, not a probability (``calibrated`` false), and
    ``uncertain`` stays the categorizer's own (a weak main category, or its voices
    disagreeing)."""
    out = []
    if calibration is None:
        for p in predictions:
            levels = [replace(lv, confidence=lv.score) for lv in p.levels]
            confidence = levels[-1].score if levels else 0.0
            out.append(
                replace(
                    p,
                    levels=levels,
                    confidence=confidence,
                    decision=REVIEW,
                    decision_reason=why_not,
                    calibrated=False,
                )
            )
        return out
    threshold = calibration.threshold(target)
    for p, (confs, confidence) in zip(predictions, calibration.confidences(predictions, depth), strict=True):
        levels: list[LevelScore] = [replace(lv, confidence=c) for lv, c in zip(p.levels, confs, strict=True)]
        decision, reason = decide_auto(p, confidence, threshold, calibration.depth)
        out.append(
            replace(
                p,
                levels=levels,
                confidence=confidence,
                decision=decision,
                decision_reason=reason,
                uncertain=confidence < uncertain_below,
                calibrated=True,
            )
        )
    return out


# --------------------------------------------------------------- fitting
def path_right(predicted: Sequence[str], truth: Sequence[str], level: int) -> bool:
    """Whether ``predicted`` equals ``truth`` down to ``level``."""
    return len(predicted) >= level and tuple(predicted[:level]) == tuple(truth[:level])


def _held_out(features: np.ndarray, right: np.ndarray) -> tuple[LevelModel, np.ndarray]:
    """A fitted model and its cross-validated confidences on the rows it was fitted on (the
    thresholds are read from confidences the calibrator did not see fitted)."""
    from sklearn.model_selection import cross_val_predict

    model = LevelModel.fit(features, right)
    if model.model is None:
        return model, np.full(len(right), model.constant)
    probs = cross_val_predict(
        _model(len(right)), features, right.astype(int), cv=THRESHOLD_FOLDS, method="predict_proba"
    )
    return model, probs[:, 1]


def fit(
    predictions: Sequence[Prediction],
    truths: Sequence[Sequence[str]],
    depth: int,
    options: QueryOptions,
    products: int,
) -> Calibration:
    """A calibration from out-of-fold ``predictions`` and the true paths (cut at ``depth``):
    a model per level (is the path right down to it?) and one for the whole path (is it
    right, neither wrong nor stopped early or late?)."""
    start = time.perf_counter()
    truths = [tuple(t)[:depth] for t in truths]
    predictions, duplicates = duplicates_rule(predictions, truths, depth, options)
    power, near = options.vote_power, options.duplicate_threshold
    models: list[LevelModel] = []
    stats: list[CategoryRecord] = []
    held: dict[tuple[int, int], float] = {}
    read: dict[tuple[int, int], list[float]] = {}  # (prediction, level) -> its features
    above = len(predictions) >= CALIBRATION_RECIPE.levels_above_rows
    per_level = [
        [level_features(p, level, power, near) for level in range(1, min(len(p.levels), depth) + 1)]
        for p in predictions
    ]
    for level in range(1, depth + 1):
        rows = [i for i, p in enumerate(predictions) if len(p.levels) >= level]
        if not rows:
            models.append(LevelModel(None, 0.0))
            stats.append(CategoryRecord({}, 0.0))
            continue
        for i in rows:
            read[(i, level)] = path_features(per_level[i], level, depth, above)
        features = np.asarray([read[(i, level)] for i in rows], dtype=np.float64)
        right = np.asarray([path_right(predictions[i].path, truths[i], level) for i in rows], dtype=bool)
        keys = _keys(predictions, rows, [level] * len(rows))
        record = CategoryRecord.of(keys, right)
        stats.append(record)
        features = np.hstack([features, CategoryRecord.held_out(keys, right)])
        model, probs = _held_out(features, right)
        models.append(model)
        held.update({(i, level): prob for i, prob in zip(rows, probs.tolist(), strict=True)})
    rows = [i for i, p in enumerate(predictions) if p.levels]
    right_path = np.zeros(len(predictions), dtype=bool)
    confidence = np.zeros(len(predictions))
    path_model = LevelModel(None, 0.0)
    if rows:
        last = [min(len(predictions[i].levels), depth) for i in rows]
        features = np.asarray([read[(i, d)] for i, d in zip(rows, last, strict=True)], dtype=np.float64)
        right = np.asarray([tuple(predictions[i].path) == truths[i] for i in rows], dtype=bool)
        keys = _keys(predictions, rows, last)
        record = CategoryRecord.of(keys, right)
        stats.append(record)
        features = np.hstack([features, CategoryRecord.held_out(keys, right)])
        path_model, probs = _held_out(features, right)
        for i, d, prob, ok in zip(rows, last, probs.tolist(), right.tolist(), strict=True):
            confidence[i] = min([prob] + [held[(i, level)] for level in range(1, d + 1)])
            right_path[i] = ok
    # the thresholds rank only what a threshold can file: a confident path the rules send to
    # review anyway (most often a category known from one neighbor, and more often wrong)
    # would otherwise count toward the precision of the filed ones, and the filed ones
    # realize more than the target asked, filing fewer than they could
    filable = np.flatnonzero([held_back(p, depth) is None for p in predictions])
    order = filable[np.argsort(-confidence[filable], kind="stable")]
    calibration = Calibration(
        depth=depth,
        models=models,
        path_model=path_model,
        power=power,
        duplicate_threshold=near,
        ranked_confidence=confidence[order],
        ranked_right=right_path[order],
        considered=len(predictions),
        products=products,
        accuracy=float(right_path.mean()) if len(right_path) else 0.0,
        stats=stats,
        levels_above=above,
        near_duplicates=duplicates,
    )
    calibration.seconds = time.perf_counter() - start
    return calibration


def _folds(labels: Sequence[str], folds: int, seed: int) -> list[np.ndarray]:
    """Held-out rows per fold, stratified on the main category where every one has enough products."""
    from sklearn.model_selection import KFold, StratifiedKFold

    main = np.array([str(label).split(PATH_JOIN)[0] for label in labels], dtype=object)
    _, counts = np.unique(main, return_counts=True)
    rows = np.arange(len(labels))
    if counts.min() >= folds:
        split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, main)
    else:
        split = KFold(folds, shuffle=True, random_state=seed).split(rows)
    return [test for _, test in split]


@dataclass
class Labeled:
    """Labeled products as a fold's store, head and queries read them (their word and
    character rows encoded once for every fold)."""

    dense: np.ndarray
    texts: list[str]
    labels: list[str]
    rows: Any  # semcat.categorize.builder.QueryRows: the encoders and the query rows
    words: Any
    chars: Any  # None: the head reads no character n-grams

    @classmethod
    def of(
        cls, dense: np.ndarray, texts: Sequence[str], labels: Sequence[str], options: QueryOptions, head: HeadOptions
    ) -> Labeled:
        from semcat.categorize.builder import QueryRows

        rows = QueryRows()
        words = rows.encoder("word").encode(list(texts))
        chars = rows.encoder("char").encode(list(texts)) if options.uses_head and head.chars else None
        return cls(dense, list(texts), list(labels), rows, words, chars)


def predict_part(
    products: Labeled,
    train: np.ndarray,
    test: np.ndarray,
    options: QueryOptions,
    head_options: HeadOptions,
    batch: int = 1024,
) -> Iterator[tuple[int, Prediction]]:
    """Each ``test`` row's prediction by the service's categorizer (``options``) over a
    flat store of the ``train`` rows, with a linear head trained on them, as they come (a
    batch at a time)."""
    from semcat.categorize.builder import build_categorizer
    from semcat.categorize.head import LinearHead
    from semcat.categorize.scratch import scratch_store

    dense, texts, labels, words, chars = products.dense, products.texts, products.labels, products.words, products.chars
    with tempfile.TemporaryDirectory(prefix="semcat-calibration-") as tmp:
        store = scratch_store(
            Path(tmp),
            dense[train],
            [labels[i] for i in train],
            [texts[i] for i in train],
            [words[i] for i in train] if options.lexical_weight > 0 else None,
            ids=[str(i) for i in train.tolist()],  # a neighbor's id is its row: the audit reads it
        )
        try:
            head = None
            if options.uses_head:
                try:
                    head = LinearHead(
                        dense[train],
                        [words[i] for i in train],
                        [labels[i] for i in train],
                        chars=None if chars is None else [chars[i] for i in train],
                        c=head_options.c,
                        levels=head_options.levels,
                        max_products=head_options.max_products,
                    )
                except EmptyIndexError as exc:  # one main category in this part: the vote alone
                    log.info("calibration: no head for a part (%s)", exc)
            categorizer = build_categorizer(store, options, head=head)
            for begin in range(0, len(test), batch):
                part = test[begin : begin + batch]
                queries = products.rows.add(
                    dense[part],
                    [texts[i] for i in part],
                    options,
                    store_sparse=store.meta.sparse,
                    head_chars=chars is not None,
                )
                yield from zip(part.tolist(), categorizer.predict(queries), strict=True)
        finally:
            store.close()


def out_of_fold(
    dense: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    options: QueryOptions,
    head_options: HeadOptions,
    folds: int,
    seed: int = 0,
    batch: int = 1024,
    progress: Callable[[str], None] | None = None,
    keep: Callable[[int, Prediction], Prediction] | None = None,
) -> list[Prediction]:
    """Each labeled product categorized without its own fold (:func:`predict_part` over the
    other folds). ``keep(row, prediction)``: what to keep of each prediction as it comes
    (the audit keeps a few of its long lists of alternatives)."""
    products = Labeled.of(dense, texts, labels, options, head_options)
    out: list[Prediction | None] = [None] * len(labels)
    for number, test in enumerate(_folds(products.labels, folds, seed), start=1):
        if progress is not None:
            progress(f"fold {number}/{folds}")
        train = np.setdiff1d(np.arange(len(labels)), test)
        for i, prediction in predict_part(products, train, test, options, head_options, batch):
            out[i] = prediction if keep is None else keep(i, prediction)
    missing = sum(p is None for p in out)
    if missing:  # every product is in exactly one fold: a bug, not an input problem
        raise RuntimeError(f"calibration: {missing} labeled products got no out-of-fold prediction")
    return [p for p in out if p is not None]


def calibrate(
    dense: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    options: QueryOptions,
    head_options: HeadOptions,
    folds: int | None = CALIBRATION_DEFAULTS.folds,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Out-of-fold predictions over the labeled products, then the calibrators (``options``:
    the serving options, their ``depth`` the serving depth)."""
    start = time.perf_counter()
    paths = [tuple(str(label).split(PATH_JOIN)) for label in labels]
    depth = options.depth or max(len(p) for p in paths)
    if folds is None:
        folds = 10 if len(labels) < CALIBRATION_RECIPE.small_catalog else 5
    told = None if progress is None else (lambda message: progress(f"calibration {message}"))
    predictions = out_of_fold(dense, texts, labels, options, head_options, folds, progress=told)
    result = fit(predictions, paths, depth, options, len(labels))
    result.seconds = time.perf_counter() - start
    return result
