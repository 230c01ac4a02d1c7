"""Label audit: the stored products whose category is probably wrong, with the evidence.

1. **Out-of-fold predictions** of the default categorizer over the store's labeled
   products (:func:`semcat.categorize.calibration.out_of_fold`: the stored vectors, no
   re-embedding; each product categorized by a store and a head that never saw it).
2. **Per level**, the predictions' probabilities of every category at that level (the
   mixed vote and head shares of the path down to it; the mass a prediction leaves to
   other branches spread evenly over the categories it did not list), and cleanlab's
   confident learning on them (``find_label_issues``, pruned by class): a product is
   suspect at the first level where cleanlab finds its label an issue.
3. **Ranked** by three pieces of evidence for the label, each read as a percentile among
   the audited products and combined by their geometric mean (no weight to tune: each
   counts as much as the others, whatever its scale), the least trusted first:
   - the probability the stored label is right, by the path confidence's calibrator
     (:func:`semcat.categorize.calibration.fit`) fitted on the same out-of-fold
     predictions against the stored labels: the prediction's confidence where it agrees
     with the label, one minus its confidence down to the level where they part where it
     does not (a sure suggestion is strong evidence against the label, a guess is not);
   - the lowest, over the levels, of the share the predictions give the stored category
     under its stored parent (cleanlab's self-confidence, level by level), divided by the
     prediction's own share at its weakest level (cleanlab's margin);
   - the cosine of the closest other product filed under the same label relative to the
     product's closest neighbor's (a label no nearby product carries is suspect; a label
     whose nearest holder is as close as anything in a sparse region is not).
   Each suspect carries the stored label, the suggested category (the out-of-fold
   prediction) with its share and its calibrated confidence, the probability the stored
   label is right, the level where they part, the closest same-labeled product's cosine,
   and the neighbors that voted, with their labels. The ranking was chosen on injected
   noise in two catalogs and two seeds (``benchmarks/studies/audit_ranking.py``).
4. **Conflicting near-duplicates**: groups of products at or above the categorizer's
   near-duplicate cosine whose labels differ, each group once.

A category with a single labeled product (at some level) cannot be judged from its other
products: its product is listed under ``singletons``, never as a suspect.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.label_evidence import label_scores, parting_level
from semcat.categorize.likeness import ConflictGroup, conflicting_duplicates
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
    # calibrated probabilities: that the stored label is right, that the suggestion is right
    # down to the level where they part (None: no calibration, or nothing to suggest)
    label_confidence: float | None = None
    suggested_confidence: float | None = None


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


def _rounded(values: np.ndarray | None, row: int) -> float | None:
    return None if values is None or np.isnan(values[row]) else round(float(values[row]), 4)


RANK_BY = "evidence"  # how suspects are ordered (chosen by benchmarks/studies/audit_ranking.py)


def find_suspects(
    predictions: Sequence[Prediction],
    ids: Sequence[str],
    labels: Sequence[str],
    depth: int,
    dense: np.ndarray | None = None,
    options: QueryOptions | None = None,
) -> tuple[list[Suspect], dict[str, int]]:
    """Suspects among ``labels`` (full paths) given their out-of-fold ``predictions``
    (neighbor ids are row numbers, ``options`` the categorizer that made them), the
    products' ``dense`` vectors, the least trusted first, and the single-product
    categories left unjudged."""
    scores = label_scores(predictions, labels, depth, dense, options)
    trust = scores.trust(RANK_BY)
    conditional = scores.trust("conditional")
    paths = [tuple(str(label).split(PATH_JOIN))[:depth] for label in labels]
    ranked: list[tuple[float, Suspect]] = []  # (trust, suspect)
    for i in np.flatnonzero(scores.flagged).tolist():
        p = predictions[i]
        predicted = tuple(p.path)
        part = min(parting_level(paths[i], predicted), int(scores.flagged[i])) if predicted else int(scores.flagged[i])
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
            nearest_same_label=_rounded(scores.support, i),
            label_confidence=_rounded(scores.right, i),
            suggested_confidence=_rounded(scores.suggested, i),
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
    suspects, singletons = find_suspects(predictions, ids, labels, depth, dense, audit_options(options, depth))
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
