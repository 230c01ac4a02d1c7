"""Signals for the path confidence, tried on several splits of the CLI protocol.

    .venv/bin/python benchmarks/studies/confidence_signals.py --seeds 42,7,0     # ~25 min
    .venv/bin/python benchmarks/studies/confidence_signals.py --seeds 42 --errors 1100

``benchmarks/accuracy/cli_levels.py``'s protocol (10,000 random cdiscount-50k products, an
80/20 split stratified on the main category, same seed) without the CLI: the out-of-fold
predictions over the 8,000 training products (10 folds, as the service calibrates a store
of that size) and the predictions of the 2,000 held out (a store of the 8,000 and a head
trained on them) are computed once per seed and cached under ``benchmarks/.cache``; each
variant's calibration is fitted on the first and read on the second. Prints, per variant
and seed, the share of held-out products filed at 99/98/95% full-path precision (most
confident first) and what the ``auto`` decision at 0.98 filed, then the means over seeds.
``--errors N``: the wrong paths among the N most confident held-out products of the
shipped calibration, to read by hand. ``--auto``: the shipped ``auto`` decision's realized
precision and filed share on the held-out part at targets 0.90 / 0.95 / 0.98 / 0.99.
Writes benchmarks/results/confidence_signals.json.

Variants (each adds features to :data:`semcat.categorize.calibration.FEATURES`, read by
calibrators of their own level only, ``own level``):

- ``lexical``: the lexical neighbors' agreement with the chosen category (share of their
  score, count, closest score, closest agreeing / disagreeing);
- ``runner-up``: how often out of fold the chosen category was right when this runner-up
  was second (a confusable pair), smoothed toward the category's own record;
- ``neighbors-right``: whether the dense neighbors' own out-of-fold predictions were right
  at this level (a local accuracy: a region of the catalog the categorizer gets wrong),
  weighted like the vote; ``neighbors-right+``: with the share of neighbors predicted the
  same category, and of those predicted it and right; ``neighbors-right+ lexical``: the same
  over the lexical neighbors too;
- ``flat-svm``: a flat TF-IDF + linear SVM over the full paths (the evaluation's
  reference), trained on the same folds: its best decision value under the chosen category,
  the margin to the best elsewhere, and whether its own answer is under the chosen category;
- ``own level``: no feature added; each calibrator reads its own level's features only.
  Every variant but ``shipped`` is measured against that baseline. The service did so on
  every store before the twenty-seventh session, and still does on stores below
  ``CalibrationRecipe.levels_above_rows`` out-of-fold predictions;
- ``levels-above``: each level's calibrator (and the path's) reads the features of every
  level down to it (deeper levels -1). This is what ``shipped`` does on this protocol's
  8,000 predictions. ``levels-above: NAMES``: of the levels above, only the features
  named. ``levels-above flat-svm``: both;
- ``text-risk``: a logistic regression on the product's words, learned from the
  out-of-fold outcomes (is the path right?), its logit as a feature: the words that mark
  the products the catalog files inconsistently. ``text-risk x1`` / ``x2``: the words also
  crossed with the predicted category down to level 1 / 2 ("housse" under a predicted
  *Coque*); ``levels-above text-risk x2``: with the levels above;
- ``diversity``: how many independent witnesses the vote rests on (ten neighbors from one
  seller's template count as one): the effective count of the agreeing and of the other
  dense neighbors (n^2 / the sum of their pairwise cosines) and the agreeing ones' mean
  pairwise cosine; ``levels-above diversity``: with the levels above.
- ``wide``: the label mix of a wider neighborhood than the vote's ten: of the 50 nearest
  labeled products (dense cosine, brute force over the training part; for an out-of-fold
  prediction among the rows outside its fold), the share under the chosen category, the
  same among those past the tenth, and the normalized entropy of their categories at the
  level; ``levels-above wide``: with the levels above.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "accuracy"))
from cli_levels import sample_split

import semcat.categorize.calibration as cal
from _common import catalog, embedded, pickled, publish
from semcat.catalog import PATH_JOIN
from semcat.categorize.prediction import Prediction
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.base import l2_normalize
from semcat.evaluation.confidence import coverage_at
from semcat.options import HEAD_DEFAULTS, QueryOptions

PRODUCTS, DEPTH, FOLDS = 10_000, 3, 10
TARGETS = (0.99, 0.98, 0.95)


def dump(seed: int) -> dict:
    """The out-of-fold predictions over the training part and the held-out predictions, cached."""
    return pickled(f"confidence-signals-{seed}", lambda: build(seed))


def build(seed: int) -> dict:
    data = embedded("cdiscount", catalog("cdiscount"), load_embedder(Settings()))
    # cli_levels.py's rows of the catalog file are the catalog's products, in the same order
    train, test = sample_split([p[0] for p in data.paths], PRODUCTS, seed)
    rows = np.concatenate([train, test])
    dense, texts = data.vectors[rows], [data.texts[i] for i in rows]
    labels = [PATH_JOIN.join(data.paths[i][:DEPTH]) for i in rows]
    options = replace(QueryOptions(), depth=DEPTH)
    n = len(train)
    start = time.perf_counter()
    oof = cal.out_of_fold(dense[:n], texts[:n], labels[:n], options, HEAD_DEFAULTS, FOLDS)
    # the held-out part as one fold over a store of the whole training part
    held: dict[int, object] = {}
    folds = cal._folds
    cal._folds = lambda labels, folds, seed: [np.arange(n, len(rows))]
    try:
        cal.out_of_fold(dense, texts, labels, options, HEAD_DEFAULTS, 1, keep=lambda i, p: held.setdefault(i, p))
    except RuntimeError:  # the training part got no prediction: expected, only the held-out part was asked
        pass
    finally:
        cal._folds = folds
    return {
        "oof": oof,
        "held": [held[i] for i in range(n, len(rows))],
        "train": [tuple(label.split(PATH_JOIN)) for label in labels[:n]],
        "test": [tuple(label.split(PATH_JOIN)) for label in labels[n:]],
        "test_texts": texts[n:],
        "options": options,
        "seconds": time.perf_counter() - start,
    }


def score(run: dict) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Fit on the out-of-fold predictions, read the held-out ones."""
    calibration = cal.fit(run["oof"], run["train"], DEPTH, run["options"], len(run["oof"]))
    confidence = np.array([c for _, c in calibration.confidences(run["held"])])
    right = np.array([tuple(p.path) == t for p, t in zip(run["held"], run["test"], strict=True)])
    threshold = calibration.threshold(0.98)
    auto = np.array(
        [cal.decide_auto(p, c, threshold, DEPTH)[0] == cal.AUTO for p, c in zip(run["held"], confidence, strict=True)]
    )
    out = {f"{t:.2f}": round(coverage_at(confidence, right, t), 4) for t in TARGETS}
    out["auto"] = round(float(auto.mean()), 4)
    out["auto_precision"] = round(float(right[auto].mean()), 4) if auto.any() else 0.0
    return out, confidence, right


# ------------------------------------------------------------------ variants
Features = Callable[..., list[float]]
SHIPPED: Features = cal.level_features
SERVED_PATH = cal.path_features  # run_variant swaps the module's name for own_level
RECORD = cal.CategoryRecord  # the shipped record (runner-up swaps the module's name for PairRecord)


def lexical(run: dict) -> Features:
    def features(prediction: Prediction, level: int, power: float, near: float | None) -> list[float]:
        chosen = tuple(prediction.levels[level - 1].category.split(PATH_JOIN))
        found = [n for n in prediction.neighbors if n.category and n.space == "lexical"]
        scores = np.array([n.score for n in found])
        agree = np.array([cal._under(n.category, chosen) for n in found], dtype=bool)
        total = scores.clip(0).sum()
        return [
            *SHIPPED(prediction, level, power, near),
            float(scores[agree].clip(0).sum() / total) if total > 0 else 0.0,
            float(agree.sum()),
            float(scores.max()) if len(scores) else 0.0,
            float(scores[agree].max()) if agree.any() else 0.0,
            float(scores[~agree].max()) if (~agree).any() else 0.0,
        ]

    return features


def neighbors_right(run: dict, more: bool, spaces: tuple[str, ...] = cal.DENSE_SPACES) -> Features:
    oof = run["oof"]
    right = np.array(
        [[cal.path_right(p.path, t, lv) for lv in range(1, DEPTH + 1)] for p, t in zip(oof, run["train"], strict=True)]
    )
    predicted = [[PATH_JOIN.join(p.path[:lv]) for lv in range(1, DEPTH + 1)] for p in oof]

    def features(prediction: Prediction, level: int, power: float, near: float | None) -> list[float]:
        chosen = prediction.levels[level - 1].category
        values: list[float] = []
        # one block per kind of neighbor: the dense ones (as the vote reads them), then, for
        # the lexical variant, the lexical ones
        for kinds in (cal.DENSE_SPACES, *((("lexical",),) if "lexical" in spaces else ())):
            found = [n for n in prediction.neighbors if n.category and n.space in kinds]
            if not found:
                values += [-1.0] * (3 if more else 1)
                continue
            weights = np.array([max(n.score, 0.0) ** power for n in found])
            weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(found), 1 / len(found))
            rows = [int(n.id) for n in found]  # a scratch store's ids are the training rows
            ok = right[rows, level - 1]
            values.append(float((weights * ok).sum()))
            if more:
                same = np.array([predicted[r][level - 1] == chosen for r in rows])
                values += [float((weights * same).sum()), float((weights * (same & ok)).sum())]
        return SHIPPED(prediction, level, power, near) + values

    return features


def split_rows(seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """The embedded catalog and split ``seed``'s training and held-out rows of it, in
    :func:`build`'s order (what the variants read beside the cached predictions)."""
    data = embedded("cdiscount", catalog("cdiscount"), load_embedder(Settings()))
    train, test = sample_split([p[0] for p in data.paths], PRODUCTS, seed)
    return data, train, test


def training_texts(seed: int) -> list[str]:
    """The texts of split ``seed``'s training part, in :func:`build`'s order (not cached with it)."""
    data, train, _ = split_rows(seed)
    return [data.texts[i] for i in train]


def per_prediction(run: dict, scores: dict) -> dict[int, Any]:
    """A variant's cached values (``oof`` and ``held`` lists, in the run's order) keyed by
    the prediction they belong to."""
    by_id = {id(p): s for p, s in zip(run["oof"], scores["oof"], strict=True)}
    by_id.update({id(p): s for p, s in zip(run["held"], scores["held"], strict=True)})
    return by_id


def flat_svm_scores(seed: int, run: dict) -> dict:
    """A flat TF-IDF + linear SVM over the full paths (the evaluation's reference, word
    1-2-grams), its decision values for each out-of-fold row from the other folds (the
    calibration's folds) and for each held-out row from the whole training part; cached."""

    def build() -> dict:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        texts = training_texts(seed)
        labels = np.array([PATH_JOIN.join(t) for t in run["train"]], dtype=object)

        def decide(fit_rows: np.ndarray, texts_in: list[str]) -> tuple[np.ndarray, np.ndarray]:
            vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, strip_accents="unicode")
            features = vectorizer.fit_transform([texts[i] for i in fit_rows])
            model = LinearSVC(C=1.0).fit(features, labels[fit_rows])
            return model.classes_, model.decision_function(vectorizer.transform(texts_in)).astype(np.float32)

        oof: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(labels)
        for test in cal._folds(list(labels), FOLDS, 0):
            train = np.setdiff1d(np.arange(len(labels)), test)
            classes, values = decide(train, [texts[i] for i in test])
            for row, v in zip(test.tolist(), values, strict=True):
                oof[row] = (classes, v)
        classes, values = decide(np.arange(len(labels)), run["test_texts"])
        return {"oof": oof, "held": [(classes, v) for v in values]}

    return pickled(f"confidence-signals-flat-svm-{seed}", build)


def flat_svm(run: dict) -> Features:
    by_id = per_prediction(run, flat_svm_scores(run["seed"], run))
    prefixes: dict[int, list[np.ndarray]] = {}

    def features(prediction: Prediction, level: int, power: float, near: float | None) -> list[float]:
        classes, values = by_id[id(prediction)]
        chosen = prediction.levels[level - 1].category
        key = id(classes)
        if key not in prefixes:
            prefixes[key] = [
                np.array([PATH_JOIN.join(c.split(PATH_JOIN)[:lv]) for c in classes], dtype=object)
                for lv in range(1, DEPTH + 1)
            ]
        under = prefixes[key][level - 1] == chosen
        inside = float(values[under].max()) if under.any() else -2.0
        outside = float(values[~under].max()) if (~under).any() else -2.0
        return [*SHIPPED(prediction, level, power, near), inside, inside - outside, float(inside > outside)]

    return features


def text_risk_scores(seed: int, run: dict, cross: int) -> dict:
    """A logistic regression on the product's words (and, ``cross`` > 0, the words crossed
    with the predicted category down to level ``cross``) predicting whether the path is
    right: the words that mark the products the catalog files inconsistently. Its logit for
    each out-of-fold row comes from an inner 5-fold over those rows, for each held-out row
    from all of them; cached."""

    def build() -> dict:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = training_texts(seed)
        right = np.array([tuple(p.path) == t for p, t in zip(run["oof"], run["train"], strict=True)])

        def docs(predictions: Sequence[Prediction], texts_in: Sequence[str]) -> list[list[str]]:
            out = []
            for p, text in zip(predictions, texts_in, strict=True):
                words = re.findall(r"\w\w+", text.lower())[:60]
                if cross:
                    tag = PATH_JOIN.join(p.path[:cross])
                    words = words + [f"{tag}|{w}" for w in words] + [f"P={tag}"]
                out.append(words)
            return out

        def model(rows: np.ndarray) -> tuple:
            vectorizer = TfidfVectorizer(analyzer=lambda d: d, min_df=2, sublinear_tf=True)
            x = vectorizer.fit_transform([oof_docs[i] for i in rows])
            return vectorizer, LogisticRegression(C=1.0, max_iter=2000).fit(x, right[rows])

        oof_docs = docs(run["oof"], texts)
        logit = np.zeros(len(right))
        order = np.random.default_rng(0).permutation(len(right))
        for part in np.array_split(order, 5):
            vectorizer, lr = model(np.setdiff1d(order, part))
            logit[part] = lr.decision_function(vectorizer.transform([oof_docs[i] for i in part]))
        vectorizer, lr = model(order)
        held = lr.decision_function(vectorizer.transform(docs(run["held"], run["test_texts"])))
        return {"oof": logit.tolist(), "held": held.tolist()}

    return pickled(f"confidence-signals-text-risk{cross}-{seed}", build)


def text_risk(run: dict, cross: int) -> Features:
    by_id = per_prediction(run, text_risk_scores(run["seed"], run, cross))

    def features(prediction: Prediction, level: int, power: float, near: float | None) -> list[float]:
        return [*SHIPPED(prediction, level, power, near), by_id[id(prediction)]]

    return features


def diversity(run: dict) -> Features:
    """How many independent witnesses the vote rests on: of the dense neighbors under the
    chosen category (and of those elsewhere), the effective count n^2 / sum of their
    pairwise cosines (ten copies of one seller's template count as one), and the mean
    pairwise cosine of the agreeing ones."""
    data, train, _ = split_rows(run["seed"])
    vectors = l2_normalize(data.vectors[train])

    def effective(rows: list[int]) -> tuple[float, float]:
        if not rows:
            return 0.0, -1.0
        block = vectors[rows] @ vectors[rows].T
        n = len(rows)
        mean = float((block.sum() - n) / (n * (n - 1))) if n > 1 else -1.0
        return float(n * n / max(block.sum(), 1e-9)), mean

    def features(prediction: Prediction, level: int, power: float, near: float | None) -> list[float]:
        chosen = tuple(prediction.levels[level - 1].category.split(PATH_JOIN))
        dense = [n for n in prediction.neighbors if n.category and n.space in cal.DENSE_SPACES]
        agree = [int(n.id) for n in dense if cal._under(n.category, chosen)]
        other = [int(n.id) for n in dense if not cal._under(n.category, chosen)]
        eff_agree, mean_agree = effective(agree)
        eff_other, _ = effective(other)
        return [*SHIPPED(prediction, level, power, near), eff_agree, mean_agree, eff_other]

    return features


WIDE = 50  # neighbors the wide variant reads (the vote reads the categorizer's k)


def wide_neighbors(run: dict) -> dict[int, np.ndarray]:
    """The :data:`WIDE` nearest training rows (dense cosine) of every prediction's product:
    for an out-of-fold prediction among the rows outside its fold, for a held-out one among
    all training rows (what a store of those rows would return). Keyed by ``id(prediction)``."""
    data, train, test_rows = split_rows(run["seed"])
    vectors = l2_normalize(data.vectors[train])
    labels = [PATH_JOIN.join(t) for t in run["train"]]
    out: dict[int, np.ndarray] = {}
    for test in cal._folds(labels, FOLDS, 0):  # out_of_fold's folds (seed 0)
        sims = vectors[test] @ vectors.T
        sims[:, test] = -np.inf
        top = np.argsort(-sims, axis=1)[:, :WIDE]
        for row, near in zip(test.tolist(), top, strict=True):
            out[id(run["oof"][row])] = near
    top = np.argsort(-(l2_normalize(data.vectors[test_rows]) @ vectors.T), axis=1)[:, :WIDE]
    for prediction, near in zip(run["held"], top, strict=True):
        out[id(prediction)] = near
    return out


def wide(run: dict) -> Features:
    """The label mix of a wider neighborhood than the vote's: of the :data:`WIDE` nearest
    labeled products, the share under the chosen category (all of them, and those past the
    vote's ten), and the normalized entropy of their categories at the level (a region the
    catalog files both ways, which ten neighbors from one seller can hide)."""
    near = wide_neighbors(run)
    train = run["train"]

    def features(prediction: Prediction, level: int, power: float, near_t: float | None) -> list[float]:
        chosen = tuple(prediction.levels[level - 1].category.split(PATH_JOIN))
        rows = near[id(prediction)]
        under = np.array([tuple(train[r][:level]) == chosen for r in rows])
        _, counts = np.unique([PATH_JOIN.join(train[r][:level]) for r in rows], return_counts=True)
        share = counts / counts.sum()
        entropy = float(-(share * np.log(share)).sum() / np.log(len(rows)))
        return [*SHIPPED(prediction, level, power, near_t), float(under.mean()), float(under[10:].mean()), entropy]

    return features


def levels_above(inner: Features, names: Sequence[str] | None = None) -> Features:
    """``inner``'s features at the level, then, of each level above it, all of them
    (``names`` None) or those named in :data:`~semcat.categorize.calibration.FEATURES`; -1
    in place of the levels below it, down to the study's depth (one width at every level)."""

    def features(prediction: Prediction, level: int, power: float, near: float | None) -> list[float]:
        if names is None:  # every feature of every level: the served layout
            per = [inner(prediction, lv, power, near) for lv in range(1, level + 1)]
            return SERVED_PATH(per, level, DEPTH, True)
        out = list(inner(prediction, level, power, near))
        picks = [cal.FEATURES.index(n) for n in names]
        for lv in range(1, DEPTH):
            if lv < level:
                upper = inner(prediction, lv, power, near)
                out += [upper[k] for k in picks]
            else:
                out += [-1.0] * len(picks)
        return out

    return features


@dataclass
class PairRecord(RECORD):
    """The (category, runner-up) pair's out-of-fold record (keys ``category\trunner-up``),
    smoothed toward the category's own (``alone``)."""

    alone: dict = field(default_factory=dict)

    @classmethod
    def of(cls, keys: Sequence[str], right: np.ndarray) -> PairRecord:
        pairs = RECORD.of(keys, right)
        return cls(pairs.counts, pairs.prior, RECORD.of([k.split("\t")[0] for k in keys], right).counts)

    def features(self, keys: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(keys), 4))
        out[:, :2] = RECORD(self.alone, self.prior).features([k.split("\t")[0] for k in keys])
        for row, key in enumerate(keys):
            n, r = self.counts.get(key, (0, 0))
            out[row, 2:] = ((r + cal.PRIOR_WEIGHT * out[row, 0]) / (n + cal.PRIOR_WEIGHT), np.log1p(n))
        return out


def pair_key(prediction: Prediction, level: int) -> str:
    lv = prediction.levels[level - 1]
    runner = max((c for c in lv.top if c.category != lv.category), key=lambda c: c.score, default=None)
    return lv.category + "\t" + (runner.category if runner else "")


def with_runner_up(run: dict) -> dict[str, float]:
    """The shipped features with the (category, runner-up) record in place of the category's."""
    key, record = cal.record_key, cal.CategoryRecord
    cal.record_key, cal.CategoryRecord = pair_key, PairRecord
    try:
        return score(run)[0]
    finally:
        cal.record_key, cal.CategoryRecord = key, record


VARIANTS: dict[str, Callable[[dict], Features] | None] = {
    "shipped": None,
    "lexical": lexical,
    "runner-up": None,  # not a feature function: the category record is replaced (with_runner_up)
    "neighbors-right": lambda run: neighbors_right(run, more=False),
    "neighbors-right+": lambda run: neighbors_right(run, more=True),
    "neighbors-right+ lexical": lambda run: neighbors_right(run, more=True, spaces=(*cal.DENSE_SPACES, "lexical")),
    "own level": None,
    "flat-svm": flat_svm,
    "levels-above": lambda run: levels_above(SHIPPED),
    "levels-above: step margin": lambda run: levels_above(SHIPPED, ("step", "margin")),
    "levels-above: margin agree vote head": lambda run: levels_above(SHIPPED, ("margin", "agree", "vote", "head")),
    "levels-above flat-svm": lambda run: levels_above(flat_svm(run)),
    "text-risk": lambda run: text_risk(run, 0),
    "text-risk x1": lambda run: text_risk(run, 1),
    "text-risk x2": lambda run: text_risk(run, 2),
    "levels-above text-risk x1": lambda run: levels_above(text_risk(run, 1)),
    "levels-above text-risk x2": lambda run: levels_above(text_risk(run, 2)),
    "diversity": diversity,
    "levels-above diversity": lambda run: levels_above(diversity(run)),
    "wide": wide,
    "levels-above wide": lambda run: levels_above(wide(run)),
}


def own_level(per_level: Sequence[list[float]], level: int, depth: int, above: bool) -> list[float]:
    """Each calibrator reads its own level's features only (as served on every store before
    the twenty-seventh session, and still on stores under ``levels_above_rows``)."""
    return list(per_level[level - 1])


def run_variant(name: str, run: dict) -> dict[str, float]:
    """``name``'s calibration read on the held-out part. Every variant but ``shipped`` adds
    its features to the calibrators that read their own level only (the variants were first
    measured against those, and ``levels-above`` is what the service now does here)."""
    joined = cal.path_features
    if name != "shipped":
        cal.path_features = own_level
    try:
        if name == "runner-up":
            return with_runner_up(run)
        make = VARIANTS[name]
        cal.level_features = SHIPPED if make is None else make(run)
        return score(run)[0]
    finally:
        cal.level_features, cal.path_features = SHIPPED, joined


def show_errors(run: dict, top: int) -> None:
    _, confidence, right = score(run)
    order = np.argsort(-confidence, kind="stable")[:top]
    wrong = [i for i in order if not right[i]]
    print(f"{len(wrong)} wrong paths among the {top} most confident held-out products:")
    for rank, i in enumerate(order):
        if not right[i]:
            p = run["held"][i]
            print(f"#{rank} {confidence[i]:.3f} {' > '.join(p.path)}\n    stored: {' > '.join(run['test'][i])}")
            print(f"    {run['test_texts'][i][:150]!r}")


def show_auto(seed: int, run: dict) -> None:
    """The shipped calibration's auto decision on the held-out part at each target: the
    precision it realized, the share it filed and the share the out-of-fold predictions
    expected it to file."""
    calibration = cal.fit(run["oof"], run["train"], DEPTH, run["options"], len(run["oof"]))
    confidence = [c for _, c in calibration.confidences(run["held"])]
    right = np.array([tuple(p.path) == t for p, t in zip(run["held"], run["test"], strict=True)])
    cells = []
    for target in (0.90, 0.95, 0.98, 0.99):
        threshold = calibration.threshold(target)
        auto = np.array(
            [
                cal.decide_auto(p, c, threshold, DEPTH)[0] == cal.AUTO
                for p, c in zip(run["held"], confidence, strict=True)
            ]
        )
        realized = float(right[auto].mean()) if auto.any() else float("nan")
        cells.append(
            f"{target:.2f}: {realized:.4f} on {auto.mean():.1%} (expected {calibration.expected_share(target):.1%})"
        )
    print(f"seed {seed}: " + " | ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="42,7,0")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--errors", type=int, default=0, help="list the wrong paths among the N most confident")
    parser.add_argument("--auto", action="store_true", help="the shipped auto decision's realized precision per target")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    table: dict[str, dict[str, dict[str, float]]] = {v: {} for v in variants}
    for seed in seeds:
        run = dump(seed) | {"seed": seed}  # flat-svm's decision values are cached per split
        if args.errors:
            show_errors(run, args.errors)
            continue
        if args.auto:
            show_auto(seed, run)
            continue
        for name in variants:
            table[name][str(seed)] = run_variant(name, run)
            print(seed, name, table[name][str(seed)], flush=True)
    if args.errors or args.auto:
        return
    print("\n| signals | " + " | ".join(f"filed at {t:.0%} (seeds {args.seeds})" for t in TARGETS) + " | mean at 99% |")
    print("|---|" + "---|" * (len(TARGETS) + 1))
    for name, by_seed in table.items():
        cells = [" / ".join(f"{by_seed[str(s)][f'{t:.2f}']:.1%}" for s in seeds) for t in TARGETS]
        mean = np.mean([by_seed[str(s)]["0.99"] for s in seeds])
        print(f"| {name} | " + " | ".join(cells) + f" | {mean:.1%} |")
    command = f"python benchmarks/studies/confidence_signals.py --seeds {args.seeds}"
    if args.variants != ",".join(VARIANTS):
        command += f' --variants "{args.variants}"'

    publish("confidence_signals", {"command": command, "seeds": seeds, "table": table})


if __name__ == "__main__":
    main()
