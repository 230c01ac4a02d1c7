"""Label audit: the stored products whose category is probably wrong, with the evidence.

1. **Out-of-fold predictions** of the default categorizer over the store's labeled
   products (:func:`semcat.categorize.calibration.out_of_fold`: the stored vectors, no
   re-embedding; each product categorized by a store and a head that never saw it).
2. **Per level**, the predictions' probabilities of every category at that level (the
   mixed vote and head shares of the path down to it; the mass a prediction leaves to
   other branches spread evenly over the categories it did not list), and cleanlab's
   confident learning on them (``find_label_issues``, pruned by class): a product is
   suspect at the first level where cleanlab finds its label an issue.
3. **Ranked** by three pieces of evidence against the label, multiplied: the lowest, over
   the levels, of the share the predictions give the stored category under its stored
   parent (cleanlab's self-confidence, level by level); divided by the prediction's own
   share at its weakest level (a label ten times less likely than a sure answer is more
   suspect than one ten times less likely than a guess: cleanlab's margin); times the
   cosine of the closest other product filed under the same label (a label no similar
   product carries is more suspect than one a near copy shares). The least trusted first.
   Each suspect carries the stored label, the suggested category (the out-of-fold
   prediction) and its share, the level where they part, the closest same-labeled
   product's cosine, and the neighbors that voted, with their labels.
4. **Conflicting near-duplicates**: groups of products at or above the categorizer's
   near-duplicate cosine whose labels differ, each group once.

A category with a single labeled product (at some level) cannot be judged from its other
products: its product is listed under ``singletons``, never as a suspect.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.likeness import ConflictGroup, conflicting_duplicates, label_support
from semcat.categorize.prediction import Prediction
from semcat.errors import EmptyIndexError
from semcat.limits import MAX_TOP_N
from semcat.options import DEFAULTS, HeadOptions, QueryOptions
from semcat.spaces import DENSE_SPACES

EVIDENCE = 5  # neighbors shown with each suspect
AUDIT_FOLDS = 5  # folds of the out-of-fold predictions


@dataclass(frozen=True)
class Evidence:
    """A labeled neighbor that voted on the suspect's out-of-fold prediction."""

    id: str
    score: float
    category: str | None


@dataclass
class Suspect:
    """A stored product whose label is probably wrong."""

    id: str
    label: str  # the stored category
    suggested: str | None  # the out-of-fold prediction (None: it gave none)
    suggested_score: float  # its share down to the level where they part
    level: int  # the first level where the label and the suggestion part (1 = main)
    label_score: float  # the lowest share the predictions give the stored category under its parent
    neighbors: list[Evidence] = field(default_factory=list)
    # the cosine of the closest other product stored under the same label (None: no other is)
    nearest_same_label: float | None = None


@dataclass
class AuditReport:
    suspects: list[Suspect]  # most likely wrong first
    conflicts: list[ConflictGroup]  # the most labels, then the largest, first
    singletons: dict[str, int]  # categories with a single labeled product -> their level
    products: int  # labeled products audited
    depth: int  # levels judged
    folds: int
    threshold: float  # the near-duplicate cosine
    seconds: float = 0.0
    finished_at: float = 0.0
    generation: int | None = None  # the store's write counter when it was read

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    listed = out > 0
    left = np.clip(1.0 - out.sum(axis=1), 0.0, None)
    unlisted = np.maximum((~listed).sum(axis=1), 1)
    out += np.where(listed, 0.0, (left / unlisted)[:, None]).astype(np.float32)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _part(label: Sequence[str], predicted: Sequence[str]) -> int:
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


SUPPORT_FLOOR = 0.05  # a cosine this low or lower says "nothing alike shares the label"; 0 would erase the rest


@dataclass
class LabelScores:
    """What the out-of-fold predictions say of every stored label: per product and level,
    the share given to its stored category down to that level (NaN: not judged there), the
    level cleanlab flags it at (0: none), how sure each prediction is of its own path
    (:func:`own_share`) and the closest same-labeled product's cosine (:func:`label_support`)."""

    shares: np.ndarray  # (products, depth)
    flagged: np.ndarray  # (products,) int
    singletons: dict[str, int]
    sure: np.ndarray | None = None  # (products,)
    support: np.ndarray | None = None  # (products,), NaN: no other product has the label

    def trust(self, rank_by: str = "evidence") -> np.ndarray:
        """One number per product, low for a label the evidence contradicts: ``evidence``
        (the default): ``conditional`` divided by how sure the prediction is of its own
        path, times the closest same-labeled product's cosine; ``conditional``: the lowest,
        over the levels, of the share given to the stored category under its stored parent;
        ``joint``: the share of the stored path down to the deepest level judged. NaN for a
        product judged at no level."""
        if rank_by == "evidence":
            conditional = self.trust("conditional")
            sure = np.ones(len(conditional)) if self.sure is None else np.maximum(self.sure, 1e-6)
            support = np.ones(len(conditional)) if self.support is None else np.nan_to_num(self.support, nan=1.0)
            return conditional / sure * np.clip(support, SUPPORT_FLOOR, 1.0)
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


def label_scores(
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    depth: int,
    dense: np.ndarray | None = None,
    filter_by: str = FILTER_BY,
) -> LabelScores:
    """:class:`LabelScores` of ``labels`` (full paths) from their out-of-fold ``predictions``:
    per level, the predictions' probabilities of that level's categories and cleanlab's
    confident learning on them; with the products' ``dense`` vectors, each label's closest
    same-labeled product. A product whose category at some level has no other product is
    judged no deeper (its category is listed as a singleton)."""
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
    return LabelScores(shares, flagged, singletons, sure, support)


RANK_BY = "evidence"  # how suspects are ordered (chosen by benchmarks/accuracy/audit_noise.py)


def find_suspects(
    predictions: Sequence[Prediction],
    ids: Sequence[str],
    labels: Sequence[str],
    depth: int,
    dense: np.ndarray | None = None,
) -> tuple[list[Suspect], dict[str, int]]:
    """Suspects among ``labels`` (full paths) given their out-of-fold ``predictions``
    (neighbor ids are row numbers) and the products' ``dense`` vectors, the least trusted
    first, and the single-product categories left unjudged."""
    scores = label_scores(predictions, labels, depth, dense)
    trust = scores.trust(RANK_BY)
    conditional = scores.trust("conditional")
    paths = [tuple(str(label).split(PATH_JOIN))[:depth] for label in labels]
    ranked: list[tuple[float, Suspect]] = []  # (trust, suspect)
    for i in np.flatnonzero(scores.flagged).tolist():
        p = predictions[i]
        predicted = tuple(p.path)
        part = min(_part(paths[i], predicted), int(scores.flagged[i])) if predicted else int(scores.flagged[i])
        at = p.levels[min(part, len(p.levels)) - 1] if p.levels else None
        evidence = [
            Evidence(ids[int(n.id)], round(float(n.score), 4), n.category)
            for n in p.neighbors
            if n.space in DENSE_SPACES
        ][:EVIDENCE]
        suspect = Suspect(
            id=ids[i],
            label=PATH_JOIN.join(paths[i]),
            suggested=PATH_JOIN.join(predicted) if predicted else None,
            suggested_score=round(float(at.score), 4) if at is not None else 0.0,
            level=part,
            label_score=round(float(conditional[i]), 4),
            neighbors=evidence,
            nearest_same_label=(
                None if scores.support is None or np.isnan(scores.support[i]) else round(float(scores.support[i]), 4)
            ),
        )
        ranked.append((float(trust[i]), suspect))
    ranked.sort(key=lambda pair: (pair[0], pair[1].level, pair[1].id))
    return [suspect for _, suspect in ranked], scores.singletons


def audit_options(options: QueryOptions, depth: int) -> QueryOptions:
    """The categorizer the audit judges labels with: the serving one down to ``depth``, but
    every neighbor voting, near-duplicates or not, and every level listing its
    alternatives as far as a request may (``MAX_TOP_N``). Served, a near-duplicate alone
    decides (a copy of a stored product is filed as it is); judging a stored label, a copy
    whose own label is wrong would pass its error on, and the two copies would each look
    wrong by the other's label. With every neighbor voting, the wider neighborhood decides
    which of the two disagrees with it (the copies still show in ``conflicts``). The long
    lists give the stored category its own share where five alternatives would leave it
    an even part of the rest."""
    return replace(options, depth=depth, duplicate_threshold=None, top_n=MAX_TOP_N)


def keep_listed(labels: Sequence[str], listed: int = DEFAULTS.top_n) -> Callable[[int, Prediction], Prediction]:
    """What the audit keeps of each out-of-fold prediction: per level, the first ``listed``
    alternatives and the stored label's category if the long list names it further down
    (the probability the audit judges it by), not the hundred :func:`audit_options` asks
    for (at 50,000 products those took 1.5 GB)."""
    paths = [str(label).split(PATH_JOIN) for label in labels]

    def keep(row: int, prediction: Prediction) -> Prediction:
        levels = []
        for level in prediction.levels:
            stored = PATH_JOIN.join(paths[row][: level.level])
            top = level.top[:listed] + [a for a in level.top[listed:] if a.category == stored][:1]
            levels.append(replace(level, top=top))
        return replace(prediction, levels=levels, top=prediction.top[:listed])

    return keep


def audit_predictions(
    dense: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    options: QueryOptions,
    head_options: HeadOptions,
    depth: int,
    folds: int = AUDIT_FOLDS,
    progress: Callable[[str], None] | None = None,
) -> list[Prediction]:
    """The out-of-fold predictions the audit judges ``labels`` by: the categorizer of
    :func:`audit_options`, each prediction kept as :func:`keep_listed` keeps it."""
    from semcat.categorize.calibration import out_of_fold

    judged_by, kept = audit_options(options, depth), keep_listed(labels)
    return out_of_fold(dense, texts, labels, judged_by, head_options, folds, progress=progress, keep=kept)


def audit(
    ids: Sequence[str],
    dense: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    options: QueryOptions,
    head_options: HeadOptions,
    depth: int,
    folds: int = AUDIT_FOLDS,
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Audit the labeled products (``labels``: full paths) with the categorizer
    ``options`` describe, ``depth`` levels deep."""
    start = time.perf_counter()
    if len(set(labels)) < 2:
        raise EmptyIndexError(
            f"nothing to audit: the store's {len(labels)} labeled products are all in one category"
            if labels
            else "nothing to audit: the store holds no labeled product"
        )
    if len(labels) < 2 * folds:  # each product is held out in one of the folds: the others must teach
        raise EmptyIndexError(
            f"too few labeled products to audit: {len(labels)}; each is judged by a categorizer trained "
            f"without it ({folds} folds), which needs at least {2 * folds}"
        )
    told = None if progress is None else (lambda message: progress(f"audit {message}"))
    predictions = audit_predictions(dense, texts, labels, options, head_options, depth, folds, progress=told)
    if progress is not None:
        progress("finding label issues")
    suspects, singletons = find_suspects(predictions, ids, labels, depth, dense)
    threshold = (
        options.duplicate_threshold if options.duplicate_threshold is not None else DEFAULTS.duplicate_threshold or 0.95
    )
    conflicts = conflicting_duplicates(dense, ids, labels, threshold)
    return AuditReport(
        suspects=suspects,
        conflicts=conflicts,
        singletons=singletons,
        products=len(labels),
        depth=depth,
        folds=folds,
        threshold=threshold,
        seconds=round(time.perf_counter() - start, 1),
        finished_at=time.time(),
    )
