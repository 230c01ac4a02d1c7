"""The default categorizer: the kNN vote and the linear head decide every taxonomy level together.

Level by level, among the children of the category already chosen (so the path always
exists in the taxonomy and never leaves a caller's ``category``), each child's score is

    w x (the vote's share of that child among the parent's voters)
    + (1 - w) x (the head's probability of that child under the parent),

where the head is the main-category SVM at level 1 and, below it, the node's own
classifier among its children (:class:`semcat.categorize.head.LocalClassifier`), and
``w`` is the vote's weight (``1 - head_weight``), shrunk while the closest labeled
neighbor is far (:data:`FULL_VOTE_SIMILARITY`). A child that is a leaf of some products
and a parent of others competes with its own children as "stop here".

The vote stays the evidence and keeps its near-duplicate rule: when a stored copy of the
query is among the neighbors, its label decides alone, so a relabel takes effect on the
next request, before the head is retrained. In a store whose own products show that rule
wrong (a catalog filing one product under several categories, where the copy is the other
filing), the head's calibration sets the copies aside and the other neighbors vote.

A child the head does not know yet (added since it was trained) competes with its whole
vote share; a parent the vote has no labeled neighbor under (the head moved the product to
another subtree) gets a second vote restricted to that subtree, and where that finds
nothing the head decides alone.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.head import LinearHead
from semcat.categorize.hybrid import MIXED_VOTE_SHARES, closeness, listed
from semcat.categorize.prediction import CategoryScore, LevelScore, Prediction
from semcat.categorize.vote import (
    Categorizer,
    KnnCategorizer,
    QueryVectors,
    as_query_spaces,
    modality_of,
    set_aside,
    within,
)
from semcat.errors import EmptyIndexError
from semcat.limits import MAX_CATEGORY_DEPTH
from semcat.methods import KNN
from semcat.options import QueryOptions
from semcat.search.base import VectorStore

Path = tuple[str, ...]
EVERY_PATH = 1_000_000  # the vote's shares of every path it saw, not only the listed top_n


def _mass(prediction: Prediction) -> dict[Path, float]:
    """The vote's share of every full path (the wide vote lists them all in ``top``)."""
    return {tuple(entry.category.split(PATH_JOIN)): entry.score for entry in prediction.top}


@dataclass
class _Descent:
    """One query's path so far."""

    row: int
    mass: dict[Path, float]  # the vote's shares per full path (under the chosen path)
    closeness: float
    chosen: Path = ()
    joint: float = 1.0
    levels: list[LevelScore] = field(default_factory=list)
    done: bool = False
    disagree: bool = False


class LevelwiseCategorizer:
    """The kNN vote mixed with :class:`LinearHead` at every level it decides."""

    method = KNN

    def __init__(self, knn: KnnCategorizer, head: LinearHead, knn_weight: float, subtree_vote: bool = True) -> None:
        self.knn = knn
        self.head = head
        self.knn_weight = knn_weight
        self.subtree_vote = subtree_vote
        self._wide = copy.copy(knn)  # the same vote, listing its share of every path it saw
        self._wide.top_n = EVERY_PATH

    def predict(self, query_vectors: QueryVectors, category: str | None = None) -> list[Prediction]:
        spaces = as_query_spaces(query_vectors)
        queries = dict(query_vectors) if isinstance(query_vectors, Mapping) else spaces  # with the sparse rows
        votes = self._wide.predict(queries, category=category)  # no labeled product in reach: EmptyIndexError
        features = self.head.features(queries)
        main = self.head.probabilities(queries, features)
        out: list[Prediction | None] = [None] * len(votes)
        walks: list[_Descent] = []
        aside = self._sets_aside()
        for row, vote in enumerate(votes):
            if vote.near_duplicate:  # a stored copy's label decides, however recently changed
                other = None
                if aside and self.knn.duplicate_threshold is not None:  # ... unless the store shows it wrong
                    other = set_aside(
                        vote,
                        duplicate_threshold=self.knn.duplicate_threshold,
                        power=self.knn.power,
                        depth=self.knn.depth,
                        top_n=EVERY_PATH,
                        uncertain_threshold=self.knn.uncertain_threshold,
                    )
                out[row] = listed(replace(other or vote, method=self.method), self.knn.top_n)
            else:
                walks.append(_Descent(row, _mass(vote), closeness(vote)))
        if walks:
            self._step(walks, category, features, main)
            if self.subtree_vote:
                self._revote(walks, queries)
            for _ in range(1, self.knn.depth or MAX_CATEGORY_DEPTH):
                active = [w for w in walks if not w.done]
                if not active:
                    break
                self._step(active, category, features, main)
        for walk in walks:
            vote = votes[walk.row]
            first = walk.levels[0] if walk.levels else None
            top = walk.levels[-1].top if walk.levels else []
            out[walk.row] = listed(
                Prediction(
                    category=PATH_JOIN.join(walk.chosen) if walk.chosen else None,
                    score=first.score if first else 0.0,
                    uncertain=first is None or first.score < self.knn.uncertain_threshold or walk.disagree,
                    levels=walk.levels,
                    top=top,
                    neighbors=vote.neighbors,
                    method=self.method,
                    modality=modality_of(spaces, walk.row),
                ),
                self.knn.top_n,
            )
        return [p for p in out if p is not None]

    def _sets_aside(self) -> bool:
        """Whether the head's calibration found that, in this store, a stored copy's label is
        more often wrong for a new listing than its other neighbors' vote
        (:func:`semcat.categorize.calibration.duplicates_rule`)."""
        calibration = getattr(self.head, "calibration", None)
        rule = getattr(calibration, "near_duplicates", None)
        return bool(rule is not None and rule.set_aside)

    def _step(self, walks: list[_Descent], category: str | None, features: Any, main: np.ndarray) -> None:
        """Choose the next level of each walk, grouped by the parent they stand on: the
        main-category SVM at the root, the parent's own classifier below it."""
        groups: dict[Path, list[_Descent]] = defaultdict(list)
        for walk in walks:
            groups[walk.chosen].append(walk)
        for parent, members in groups.items():
            rows = [w.row for w in members]
            children: list[Path] = []
            probs: list[np.ndarray | None] = [None] * len(members)
            if not parent:
                children, probs = list(self.head.paths), list(main[rows])
            elif (known := self.head.below(parent, _rows(features, rows))) is not None:
                children, probs = known[0], list(known[1])
            for walk, p in zip(members, probs, strict=True):
                self._choose(walk, parent, children, p, category)

    def _choose(
        self, walk: _Descent, parent: Path, children: list[Path], head: np.ndarray | None, category: str | None
    ) -> None:
        depth = len(parent) + 1
        # the vote's shares of the parent's children (a path ending at the parent: "stop here")
        shares: dict[Path, float] = defaultdict(float)
        for path, share in walk.mass.items():
            if path[: len(parent)] == parent:
                shares[path[:depth]] += share
        total = sum(shares.values())
        ranked = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))[:MIXED_VOTE_SHARES]
        voted = {path: share / total for path, share in ranked} if total > 0 else {}
        weight = self.knn_weight * walk.closeness if voted else 0.0
        if head is None:
            weight = 1.0 if voted else 0.0
        mixed: dict[Path, float] = defaultdict(float)
        if head is not None:
            for child, p in zip(children, head.tolist(), strict=True):
                mixed[child] += (1 - weight) * p
        known = set(children)
        for child, share in voted.items():
            # a child the head does not know (labeled since it was trained) has only the
            # vote to speak for it: its whole share counts until the head is retrained
            mixed[child] += (weight if child in known or head is None else 1.0) * share
        mixed = {c: m for c, m in mixed.items() if within(c, category) and m > 0}
        norm = sum(mixed.values())
        if norm <= 0:
            walk.done = True
            return
        best = max(mixed, key=lambda c: (mixed[c], voted.get(c, 0.0), c))
        if not walk.levels and voted and head is not None:
            head_best = children[int(np.argmax(head))]
            walk.disagree = max(voted, key=lambda c: (voted[c], c)) != head_best
        if best == parent:  # the path stops here
            walk.done = True
            return
        walk.joint *= mixed[best] / norm
        ranked_mix = sorted(mixed, key=lambda c: (-mixed[c], c))
        head_share = None
        if head is not None and best in known:
            head_share = float(head[children.index(best)])
        walk.levels.append(
            LevelScore(
                level=depth,
                category=PATH_JOIN.join(best),
                score=float(walk.joint),
                top=[
                    CategoryScore(PATH_JOIN.join(c), float(walk.joint / mixed[best] * mixed[c]))
                    for c in ranked_mix
                    if c != parent
                ],
                vote=float(voted.get(best, 0.0)) if voted else None,
                head=head_share,
            )
        )
        walk.chosen = best
        walk.mass = {p: s for p, s in walk.mass.items() if p[:depth] == best}

    def _revote(self, walks: list[_Descent], queries: Mapping[str, Any]) -> None:
        """Walks whose main category has no labeled neighbor in the first vote: a second
        vote among that category's labeled products (same k) gives the levels below."""
        lost: dict[Path, list[_Descent]] = defaultdict(list)
        for walk in walks:
            if not walk.done and not walk.mass and walk.chosen and (self.knn.depth or 2) > 1:
                lost[walk.chosen].append(walk)
        for subtree, members in lost.items():
            rows = [w.row for w in members]
            subset = {s: v[rows] if isinstance(v, np.ndarray) else [v[i] for i in rows] for s, v in queries.items()}
            try:
                again = self._wide.predict(subset, category=PATH_JOIN.join(subtree))
            except EmptyIndexError:  # nobody labeled there yet: the head decides below
                continue
            for walk, vote in zip(members, again, strict=True):
                walk.mass = _mass(vote)
                walk.closeness = closeness(vote)


class _CsrRows(NamedTuple):
    """Some rows of a CSR matrix, as the node classifiers read them (data, indices, indptr,
    shape, nnz), without scipy's fancy indexing, whose checks cost more than the copy."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return len(self.indices)


def _rows(matrix: Any, rows: list[int]) -> Any:
    """``matrix[rows]`` (CSR): the matrix itself when that is all of it (one request)."""
    if rows == list(range(matrix.shape[0])):
        return matrix
    starts, ends = matrix.indptr[rows], matrix.indptr[np.asarray(rows) + 1]
    take = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(ends - starts)
    return _CsrRows(matrix.data[take], matrix.indices[take], indptr, (len(rows), matrix.shape[1]))


def build(store: VectorStore, options: QueryOptions, *, head: LinearHead | None, zero_shot: Any = None) -> Categorizer:
    """The ``knn`` method (:data:`semcat.methods.REGISTRY`): the request's vote, mixed with
    the linear head at every level it decides when one is given (the builder passes it
    only where the options let it judge)."""
    knn = KnnCategorizer.from_options(store, options)
    if head is None:
        return knn
    return LevelwiseCategorizer(knn, head, 1.0 - options.head_weight, subtree_vote=options.subtree_vote)
