"""kNN vote categorizer: the labeled neighbors of a query vote, weighted by similarity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.errors import EmptyIndexError
from semcat.search.base import DEFAULT_SPACE, Hit, SearchFilter, VectorStore
from semcat.search.prediction import CategoryScore, LevelScore, Neighbor, Prediction


class Categorizer(Protocol):
    """Query vectors in, one :class:`Prediction` per row out."""

    def predict(self, query_vectors: np.ndarray) -> list[Prediction]: ...


def vote(
    hits: Sequence[Hit],
    *,
    top_n: int = 5,
    power: float = 8.0,
    uncertain_threshold: float = 0.5,
    depth: int | None = None,
    duplicate_threshold: float | None = 0.95,
) -> Prediction:
    """Turn neighbors into a prediction.

    When some labeled neighbors are near-duplicates of the query (similarity at least
    ``duplicate_threshold``), only they vote: a product already known, and whatever
    label it was last given, decides for its copies. Otherwise every labeled neighbor
    weighs ``max(similarity, 0) ** power`` (``power=0``: one vote each).
    Level by level, the category with the largest share of the total weight among the
    children of the category already chosen wins, so the path is always consistent.
    """
    voters = [h for h in hits if h.payload.get("category_levels")]
    neighbors = [
        Neighbor(id=h.id, score=h.score, category=h.payload.get("category"), title=h.payload.get("title") or "")
        for h in hits
    ]
    if not voters:
        return Prediction(None, 0.0, True, [], [], neighbors)
    near = [h for h in voters if duplicate_threshold is not None and h.score >= duplicate_threshold]
    if near:
        voters = near
    paths = [tuple(h.payload["category_levels"][:depth] if depth else h.payload["category_levels"]) for h in voters]
    weights = np.array([max(h.score, 0.0) for h in voters], dtype=np.float64)
    weights = np.ones_like(weights) if power == 0 else weights**power
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    mass: dict[tuple[str, ...], float] = defaultdict(float)
    closest: dict[tuple[str, ...], float] = defaultdict(lambda: -1.0)
    for path, w, h in zip(paths, weights, voters, strict=True):
        mass[path] += float(w)
        closest[path] = max(closest[path], h.score)
    return decide(
        mass,
        top_n=top_n,
        uncertain_threshold=uncertain_threshold,
        neighbors=neighbors,
        near_duplicate=bool(near),
        tiebreak=closest,
    )


def decide(
    mass: Mapping[tuple[str, ...], float],
    *,
    top_n: int = 5,
    uncertain_threshold: float = 0.5,
    neighbors: list[Neighbor] | None = None,
    near_duplicate: bool = False,
    tiebreak: Mapping[tuple[str, ...], float] | None = None,
    method: str = "knn",
) -> Prediction:
    """A prediction from a mass (vote weight, probability) per taxonomy path.

    Level by level, the child of the category already chosen with the largest share of
    the total mass wins, so the path is always consistent; ties go to the larger
    ``tiebreak`` (e.g. the closest neighbor), then alphabetically.
    """
    total = float(sum(mass.values()))
    if total <= 0 or not mass:
        return Prediction(None, 0.0, True, [], [], neighbors or [], method=method)
    levels: list[LevelScore] = []
    chosen: tuple[str, ...] = ()
    for level in range(1, max(len(p) for p in mass) + 1):
        shares: dict[tuple[str, ...], float] = defaultdict(float)
        best: dict[tuple[str, ...], float] = defaultdict(lambda: -np.inf)
        for path, m in mass.items():
            if len(path) >= level:
                key = path[:level]
                shares[key] += m
                best[key] = max(best[key], tiebreak.get(path, m) if tiebreak else m)
        children = [c for c in shares if c[:-1] == chosen]
        if not children:
            break
        chosen = max(children, key=lambda c: (shares[c], best[c], c))
        ranked = sorted(shares, key=lambda c: (-shares[c], -best[c], c))[:top_n]
        levels.append(
            LevelScore(
                level=level,
                category=PATH_JOIN.join(chosen),
                score=float(shares[chosen] / total),
                top=[CategoryScore(PATH_JOIN.join(c), float(shares[c] / total)) for c in ranked],
            )
        )
    top = [
        CategoryScore(PATH_JOIN.join(p), float(m / total))
        for p, m in sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
    ]
    score = levels[0].score
    return Prediction(
        category=PATH_JOIN.join(chosen),
        score=score,
        uncertain=score < uncertain_threshold,
        levels=levels,
        top=top,
        neighbors=neighbors or [],
        method=method,
        near_duplicate=near_duplicate,
    )


class KnnCategorizer:
    """Similarity-weighted vote over the ``k`` nearest labeled products in a store."""

    method = "knn"

    def __init__(
        self,
        store: VectorStore,
        k: int = 10,
        top_n: int = 5,
        power: float = 8.0,
        uncertain_threshold: float = 0.5,
        depth: int | None = None,
        space: str = DEFAULT_SPACE,
        duplicate_threshold: float | None = 0.95,
    ) -> None:
        self.store = store
        self.k = k
        self.top_n = top_n
        self.power = power
        self.uncertain_threshold = uncertain_threshold
        self.depth = depth
        self.space = space
        self.duplicate_threshold = duplicate_threshold

    def predict(self, query_vectors: np.ndarray, category: str | None = None) -> list[Prediction]:
        """Predict for each row; ``category`` restricts voters to one subtree."""
        flt = SearchFilter(category=category, labeled=True)
        if self.store.count(flt) == 0:
            raise EmptyIndexError(
                "the store holds no labeled product to vote: index a catalog with a category column first"
            )
        results = self.store.search_batch(query_vectors, self.k, flt, space=self.space)
        return [
            vote(
                hits,
                top_n=self.top_n,
                power=self.power,
                uncertain_threshold=self.uncertain_threshold,
                depth=self.depth,
                duplicate_threshold=self.duplicate_threshold,
            )
            for hits in results
        ]
