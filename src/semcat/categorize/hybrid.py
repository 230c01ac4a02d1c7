"""Hybrid categorization: the kNN vote mixed with a prior at one taxonomy level.

The prior is the zero-shot categorizer (method ``hybrid``: a category with few or no
labeled products can still win, cold start) or the linear head (method ``knn``: a
classifier over every labeled product decides the main category with the vote). The
vote keeps the deeper levels, the evidence and the near-duplicate rule. A prediction is
``uncertain`` when the two disagree or the mixed score is weak.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.prediction import Prediction
from semcat.categorize.vote import KnnCategorizer, QueryVectors, as_query_spaces, decide, modality_of, within
from semcat.errors import EmptyIndexError
from semcat.methods import HYBRID
from semcat.options import QueryOptions
from semcat.search.base import VectorStore

# Below this cosine for its closest labeled neighbor the vote's weight in hybrid shrinks
# linearly to 0 (a product unlike anything labeled: the zero-shot prior decides).
FULL_VOTE_SIMILARITY = 0.5
# The vote's largest shares at the prior's level that are mixed with the prior: a fixed
# part of the recipe (the figures in docs/benchmarks.md were measured with 5), not the
# request's top_n, which only says how many alternatives are listed.
MIXED_VOTE_SHARES = 5


def closeness(prediction: Prediction | None) -> float:
    """How much a vote counts next to a prior, from its closest labeled neighbor: 1 at
    cosine >= :data:`FULL_VOTE_SIMILARITY`, shrinking linearly to 0 (a product unlike
    anything labeled)."""
    if prediction is None:
        return 0.0
    closest = max((n.score for n in prediction.neighbors if n.category), default=0.0)
    return min(max(closest, 0.0) / FULL_VOTE_SIMILARITY, 1.0)


def listed(prediction: Prediction, top_n: int) -> Prediction:
    """The prediction with a request's ``top_n`` alternatives, per level and overall."""
    levels = [replace(lv, top=lv.top[:top_n]) for lv in prediction.levels]
    return replace(prediction, levels=levels, top=prediction.top[:top_n])


class Prior(Protocol):
    """A probability per category path at one level (the zero-shot categorizer, the head)."""

    paths: Sequence[tuple[str, ...]]

    def probabilities(self, query_vectors: QueryVectors) -> np.ndarray: ...


class HybridCategorizer:
    """w × the kNN vote share + (1 - w) × the zero-shot probability, per category at the
    zero-shot categorizer's level, where w = ``knn_weight`` while the closest labeled
    neighbor has cosine >= 0.5, shrinking linearly to 0 below that."""

    method = HYBRID

    def __init__(
        self,
        knn: KnnCategorizer,
        zero_shot: Prior,
        knn_weight: float = 0.5,
        method: str = HYBRID,
        subtree_vote: bool = True,
    ) -> None:
        """``zero_shot`` is the prior: a :class:`ZeroShotCategorizer`, or anything with
        ``paths`` and ``probabilities(queries)`` (the linear head,
        :class:`semcat.categorize.head.LinearHead`). The decision's ``top_n`` and
        uncertainty threshold are the vote's (one request's options). ``subtree_vote``:
        where the prior moves a product to another category than the vote's, a second
        vote among that category's labeled products gives the deeper levels (off: the
        path stops at the prior's level; kept for the benchmark that measures it)."""
        self.knn = knn
        self.zero_shot = zero_shot
        self.knn_weight = knn_weight
        self.method = method
        self.subtree_vote = subtree_vote
        self.level = max(len(p) for p in zero_shot.paths)

    def predict(self, query_vectors: QueryVectors, category: str | None = None) -> list[Prediction]:
        spaces = as_query_spaces(query_vectors)
        full = dict(query_vectors) if isinstance(query_vectors, Mapping) else spaces  # with lexical rows
        wide = copy.copy(self.knn)  # the vote's shares as mixed, whatever the request lists
        wide.top_n = max(self.knn.top_n, MIXED_VOTE_SHARES)
        try:
            knn_predictions: list[Prediction | None] = list(wide.predict(full, category=category))
        except EmptyIndexError:  # cold start: no labeled product at all
            knn_predictions = [None] * len(next(iter(spaces.values())))
        probabilities = self.zero_shot.probabilities(full)
        out: list[Prediction] = []
        # queries whose main category the prior moved away from the vote's: their deeper
        # levels come from a second vote among the labeled products of that subtree (never
        # outside a caller's subtree, and not when the vote stops at the prior's level)
        subtree_rows: dict[str, list[int]] = {}
        deeper_vote = self.subtree_vote and category is None and (self.knn.depth is None or self.knn.depth > self.level)
        for knn_pred, probs in zip(knn_predictions, probabilities, strict=True):
            if knn_pred is not None and knn_pred.near_duplicate:
                out.append(replace(knn_pred, method=self.method))  # a stored copy's label decides
                continue
            knn_mass: dict[tuple[str, ...], float] = defaultdict(float)
            if knn_pred is not None and knn_pred.levels:
                cut = min(self.level, len(knn_pred.levels))
                for entry in knn_pred.levels[cut - 1].top[:MIXED_VOTE_SHARES]:  # shares at the prior's level
                    knn_mass[tuple(entry.category.split(PATH_JOIN))] += entry.score
            # the vote counts as much as its evidence is close: far neighbors (a category
            # nobody labeled yet) leave the say to the zero-shot prior
            weight = self.knn_weight * closeness(knn_pred) if knn_mass else 0.0
            mass: dict[tuple[str, ...], float] = defaultdict(float)
            for path, p in zip(self.zero_shot.paths, probs.tolist(), strict=True):
                if within(path, category):  # the prior never takes a product out of the caller's subtree
                    mass[path] += (1 - weight) * p
            for path, share in knn_mass.items():
                mass[path] += weight * share
            mixed = decide(
                mass,
                top_n=self.knn.top_n,
                uncertain_threshold=self.knn.uncertain_threshold,
                neighbors=knn_pred.neighbors if knn_pred is not None else [],
                method=self.method,
            )
            zs_top = self.zero_shot.paths[int(np.argmax(probs))]
            knn_top = max(knn_mass, key=knn_mass.__getitem__) if knn_mass else None
            disagree = knn_top is not None and knn_top != zs_top
            # below the zero-shot level, keep the kNN's own deeper path when it agrees
            chosen = tuple(mixed.path)
            top = mixed.top
            if knn_pred is not None and knn_pred.category and tuple(knn_pred.path[: len(chosen)]) == chosen:
                decided = knn_pred.category
                levels = mixed.levels + knn_pred.levels[len(mixed.levels) :]
                if len(knn_pred.path) > len(chosen):
                    top = knn_pred.top  # full paths (the vote's shares), as a plain vote lists them
            else:
                decided, levels = mixed.category, mixed.levels
                if deeper_vote and knn_pred is not None and decided:
                    subtree_rows.setdefault(decided, []).append(len(out))
            out.append(
                Prediction(
                    category=decided,
                    score=mixed.score,
                    uncertain=mixed.uncertain or disagree,
                    levels=levels,
                    top=top,
                    neighbors=mixed.neighbors,
                    method=self.method,
                    near_duplicate=bool(knn_pred and knn_pred.near_duplicate),
                    modality=modality_of(spaces, len(out)),
                )
            )
        for subtree, rows in subtree_rows.items():
            self._complete_in_subtree(out, rows, full, subtree)
        return [listed(p, self.knn.top_n) for p in out]

    def _complete_in_subtree(
        self, out: list[Prediction], rows: list[int], queries: Mapping[str, Any], subtree: str
    ) -> None:
        """Fill in the levels below ``subtree`` (the mixed decision) for ``rows`` from a
        vote restricted to it: the first vote's neighbors sat in another main category,
        so without this the prediction would stop at the main category. A subtree with
        no labeled product (a cold-start category) stays as it is."""
        subset = {s: v[rows] if isinstance(v, np.ndarray) else [v[i] for i in rows] for s, v in queries.items()}
        try:
            deeper = self.knn.predict(subset, category=subtree)
        except EmptyIndexError:
            return
        depth = len(subtree.split(PATH_JOIN))
        for row, vote in zip(rows, deeper, strict=True):
            if vote.category is None or len(vote.path) <= depth or tuple(vote.path[:depth]) != tuple(out[row].path):
                continue
            out[row] = replace(
                out[row], category=vote.category, levels=out[row].levels + vote.levels[depth:], top=vote.top
            )


def build(store: VectorStore, options: QueryOptions, *, head: Any = None, zero_shot: Prior | None) -> HybridCategorizer:
    """The ``hybrid`` method (:data:`semcat.methods.REGISTRY`): the request's vote mixed
    with the zero-shot prior."""
    assert zero_shot is not None  # build_categorizer checked what the method needs
    return HybridCategorizer(
        KnnCategorizer.from_options(store, options),
        zero_shot,
        options.hybrid_knn_weight,
        subtree_vote=options.subtree_vote,
    )
