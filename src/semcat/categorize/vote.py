"""The kNN vote: the labeled neighbors of a query vote, weighted by similarity.

:func:`decide` turns a mass per taxonomy path into a consistent path (level by level);
the zero-shot, head and hybrid categorizers share it, so every method returns the same
:class:`Prediction`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.categorize.prediction import CategoryScore, LevelScore, Neighbor, Prediction
from semcat.errors import EmptyFilterError, EmptyIndexError, InvalidInputError
from semcat.methods import KNN
from semcat.options import DEFAULTS, QueryOptions
from semcat.search.base import DEFAULT_SPACE, Hit, SearchFilter, VectorStore, present_rows
from semcat.spaces import DENSE_SPACES, LEXICAL_SPACE, SPARSE_QUERY_SPACES

QueryVectors = np.ndarray | Mapping[str, Any]  # one text array, or {space: dense array or sparse rows}


class Categorizer(Protocol):
    """Query vectors in, one :class:`Prediction` per row out; ``category`` restricts the
    labeled products that vote, zero-shot's categories and every prior mixed with the vote
    to that subtree: no level's choice leaves it."""

    method: str

    def predict(self, query_vectors: QueryVectors, category: str | None = None) -> list[Prediction]: ...


@dataclass
class Vote:
    """The labeled neighbors' weight per taxonomy path, before a decision."""

    mass: dict[tuple[str, ...], float]
    closest: dict[tuple[str, ...], float]
    neighbors: list[Neighbor]
    near_duplicate: bool

    def shares(self) -> dict[tuple[str, ...], float]:
        total = sum(self.mass.values())
        return {p: m / total for p, m in self.mass.items()} if total > 0 else {}


def weight(similarity: float, power: float) -> float:
    """A labeled neighbor's weight in the vote: ``max(similarity, 0) ** power`` (``power=0``:
    one vote each)."""
    return max(similarity, 0.0) ** power if power else 1.0


def tally(
    hits: Sequence[Hit],
    *,
    power: float = DEFAULTS.vote_power,
    depth: int | None = None,
    duplicate_threshold: float | None = DEFAULTS.duplicate_threshold,
    space: str = DEFAULT_SPACE,
) -> Vote:
    """Weigh the labeled neighbors (see :func:`vote`)."""
    voters = [h for h in hits if h.payload.get("category_levels")]
    neighbors = [
        Neighbor(
            id=h.id,
            score=h.score,
            category=h.payload.get("category"),
            title=h.payload.get("title") or "",
            space=space,
            image=bool(h.payload.get("image")),
        )
        for h in hits
    ]
    mass: dict[tuple[str, ...], float] = defaultdict(float)
    closest: dict[tuple[str, ...], float] = defaultdict(lambda: -1.0)
    if not voters:
        return Vote(mass, closest, neighbors, False)
    near = [h for h in voters if duplicate_threshold is not None and h.score >= duplicate_threshold]
    if near:
        voters = near
    paths = [tuple(h.payload["category_levels"][:depth] if depth else h.payload["category_levels"]) for h in voters]
    weights = np.array([weight(h.score, power) for h in voters], dtype=np.float64)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    for path, w, h in zip(paths, weights, voters, strict=True):
        mass[path] += float(w)
        closest[path] = max(closest[path], h.score)
    return Vote(mass, closest, neighbors, bool(near))


def vote(
    hits: Sequence[Hit],
    *,
    top_n: int = DEFAULTS.top_n,
    power: float = DEFAULTS.vote_power,
    uncertain_threshold: float = DEFAULTS.uncertain_threshold,
    depth: int | None = None,
    duplicate_threshold: float | None = DEFAULTS.duplicate_threshold,
) -> Prediction:
    """Turn neighbors into a prediction.

    When some labeled neighbors are near-duplicates of the query (similarity at least
    ``duplicate_threshold``), only they vote: a product already known, and whatever
    label it was last given, decides for its copies. Otherwise every labeled neighbor
    weighs ``max(similarity, 0) ** power`` (``power=0``: one vote each).
    Level by level, the category with the largest share of the total weight among the
    children of the category already chosen wins, so the path is always consistent.
    """
    tallied = tally(hits, power=power, depth=depth, duplicate_threshold=duplicate_threshold)
    return decide(
        tallied.mass,
        top_n=top_n,
        uncertain_threshold=uncertain_threshold,
        neighbors=tallied.neighbors,
        near_duplicate=tallied.near_duplicate,
        tiebreak=tallied.closest,
    )


def fuse(votes: Mapping[str, Vote], weights: Mapping[str, float]) -> Vote:
    """One vote from several spaces: each space's shares (summing to 1), weighted.
    A space with no labeled neighbor abstains; the others' weights are renormalized.
    When some space found near-duplicates of the query, only those spaces vote (a
    stored copy's label, however recently corrected, decides)."""
    active = {space: v for space, v in votes.items() if v.mass and weights.get(space, 0.0) > 0}
    if not active:  # fall back to any space that voted, unweighted
        active = {space: v for space, v in votes.items() if v.mass}
        weights = dict.fromkeys(active, 1.0)
    near = {space: v for space, v in active.items() if v.near_duplicate}
    if near:
        active = near
    total_weight = sum(weights[s] for s in active) or 1.0
    mass: dict[tuple[str, ...], float] = defaultdict(float)
    closest: dict[tuple[str, ...], float] = defaultdict(lambda: -1.0)
    for space, v in active.items():
        for path, share in v.shares().items():
            mass[path] += weights[space] / total_weight * share
            closest[path] = max(closest[path], v.closest[path])
    # the evidence: dense-space neighbors by similarity, then products only the words found
    neighbors = sorted(
        (n for space, v in votes.items() if space != LEXICAL_SPACE for n in v.neighbors), key=lambda n: -n.score
    )
    listed = {n.id for n in neighbors}
    for n in votes[LEXICAL_SPACE].neighbors if LEXICAL_SPACE in votes else []:
        if n.id not in listed:
            neighbors.append(n)
            listed.add(n.id)
    return Vote(mass, closest, neighbors, any(v.near_duplicate for v in active.values()))


def as_query_spaces(query_vectors: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Queries as {space: (n, dim) array}; a bare array is the text space. All-zero rows
    mean the query has nothing in that space (e.g. no image)."""
    if isinstance(query_vectors, Mapping):
        spaces = {
            s: np.atleast_2d(np.asarray(v, dtype=np.float32))
            for s, v in query_vectors.items()
            if s not in SPARSE_QUERY_SPACES  # sparse rows: the kNN vote's words, the head's n-grams
        }
    else:
        spaces = {DEFAULT_SPACE: np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))}
    sizes = {len(v) for v in spaces.values()}
    if len(sizes) != 1:
        raise InvalidInputError(f"query spaces have different row counts: {sizes}")
    return spaces


def within(path: Sequence[str], category: str | None) -> bool:
    """Whether a taxonomy path lies in a caller's subtree (``None``: everything does); a
    path above the subtree's level counts when it leads into it (``A`` for ``A > B``)."""
    if category is None:
        return True
    levels = tuple(category.split(PATH_JOIN))
    cut = min(len(path), len(levels))
    return tuple(path[:cut]) == levels[:cut]


def modality_of(spaces: Mapping[str, np.ndarray], row: int) -> str:
    used = [s for s, array in spaces.items() if np.any(array[row] != 0)]
    return "both" if len(used) > 1 else (used[0] if used else "none")


def decide(
    mass: Mapping[tuple[str, ...], float],
    *,
    top_n: int = DEFAULTS.top_n,
    uncertain_threshold: float = DEFAULTS.uncertain_threshold,
    neighbors: list[Neighbor] | None = None,
    near_duplicate: bool = False,
    tiebreak: Mapping[tuple[str, ...], float] | None = None,
    method: str = KNN,
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


def set_aside(
    prediction: Prediction,
    *,
    duplicate_threshold: float,
    power: float = DEFAULTS.vote_power,
    depth: int | None = None,
    top_n: int = DEFAULTS.top_n,
    uncertain_threshold: float = DEFAULTS.uncertain_threshold,
) -> Prediction | None:
    """The answer to a query decided by near-duplicates, with the near-duplicates set
    aside: the vote of its other labeled neighbors found by vectors (None: it has none).

    For a store whose own products show that a stored copy's label is more often wrong
    for a new listing of the same product than its other neighbors' vote (a catalog that
    files one product under several categories: the copy is its other filing;
    :func:`semcat.categorize.calibration.duplicates_rule`). The head is left out: it was
    trained on the copy and answers with its label."""
    mass: dict[tuple[str, ...], float] = defaultdict(float)
    closest: dict[tuple[str, ...], float] = defaultdict(lambda: -1.0)
    for n in prediction.neighbors:
        if not n.category or n.space not in DENSE_SPACES or n.score >= duplicate_threshold:
            continue
        path = tuple(n.category.split(PATH_JOIN))[:depth] if depth else tuple(n.category.split(PATH_JOIN))
        mass[path] += weight(n.score, power)
        closest[path] = max(closest[path], n.score)
    if not mass or sum(mass.values()) <= 0:
        return None
    aside = decide(
        mass, top_n=top_n, uncertain_threshold=uncertain_threshold, neighbors=prediction.neighbors, tiebreak=closest
    )
    return replace(aside, method=prediction.method, modality=prediction.modality)


class KnnCategorizer:
    """Similarity-weighted vote over the ``k`` nearest labeled products in a store."""

    method = KNN

    def __init__(
        self,
        store: VectorStore,
        k: int = DEFAULTS.k,
        top_n: int = DEFAULTS.top_n,
        power: float = DEFAULTS.vote_power,
        uncertain_threshold: float = DEFAULTS.uncertain_threshold,
        depth: int | None = None,
        space: str = DEFAULT_SPACE,
        duplicate_threshold: float | None = DEFAULTS.duplicate_threshold,
        space_weights: Mapping[str, float] | None = None,
        lexical_weight: float = 0.0,
        lexical_power: float = DEFAULTS.lexical_power,
    ) -> None:
        self.store = store
        self.k = k
        self.top_n = top_n
        self.power = power
        self.uncertain_threshold = uncertain_threshold
        self.depth = depth
        self.space = space
        self.duplicate_threshold = duplicate_threshold
        base = dict(space_weights or DEFAULTS.space_weights)
        # the lexical vote takes its share out of the text side
        text_side = base.get(DEFAULT_SPACE, 0.0)
        base[DEFAULT_SPACE] = text_side * (1 - lexical_weight)
        base[LEXICAL_SPACE] = text_side * lexical_weight
        self.space_weights = base
        self.lexical_weight = lexical_weight
        self.lexical_power = lexical_power

    @classmethod
    def from_options(cls, store: VectorStore, options: QueryOptions) -> KnnCategorizer:
        """The vote one request's options call for."""
        return cls(
            store,
            k=options.k,
            top_n=options.top_n,
            power=options.vote_power,
            uncertain_threshold=options.uncertain_threshold,
            depth=options.depth,
            duplicate_threshold=options.duplicate_threshold,
            space_weights=options.space_weights,
            lexical_weight=options.lexical_weight,
            lexical_power=options.lexical_power,
        )

    def votes(
        self, query_vectors: np.ndarray | Mapping[str, np.ndarray], category: str | None = None
    ) -> list[dict[str, Vote]]:
        """Per query, the vote of each space the query has a vector in."""
        flt = SearchFilter(category=category, labeled=True)
        if not self.store.exists(flt):
            if category is not None and self.store.exists(SearchFilter(labeled=True)):
                raise EmptyFilterError(f"no labeled product under the category filter {category!r}")
            raise EmptyIndexError(
                "the store holds no labeled product to vote: index a catalog with a category column first"
            )
        if not isinstance(query_vectors, Mapping):
            query_vectors = {self.space: query_vectors}
        spaces = as_query_spaces(query_vectors)
        n = len(next(iter(spaces.values())))
        out: list[dict[str, Vote]] = [{} for _ in range(n)]
        lexical = query_vectors.get(LEXICAL_SPACE)
        if lexical is not None and LEXICAL_SPACE in self.store.meta.sparse and self.lexical_weight > 0:
            rows = [i for i, (idx, _) in enumerate(lexical) if len(idx)]
            if rows:
                results = self.store.search_sparse([lexical[i] for i in rows], self.k, flt, LEXICAL_SPACE)
                for row, hits in zip(rows, results, strict=True):
                    if hits:
                        top = max(h.score for h in hits)  # BM25-style scores: scale the best to 1
                        scaled = [Hit(h.id, h.score / top, h.payload) for h in hits]
                        out[row][LEXICAL_SPACE] = tally(
                            scaled,
                            power=self.lexical_power,
                            depth=self.depth,
                            duplicate_threshold=None,
                            space=LEXICAL_SPACE,
                        )
        for space, array in spaces.items():
            rows = np.flatnonzero(present_rows(array))
            if not len(rows):
                continue
            results = self.store.search_batch(array[rows], self.k, flt, space=space)
            for row, hits in zip(rows.tolist(), results, strict=True):
                out[row][space] = tally(
                    hits, power=self.power, depth=self.depth, duplicate_threshold=self.duplicate_threshold, space=space
                )
        return out

    def predict(
        self, query_vectors: np.ndarray | Mapping[str, np.ndarray], category: str | None = None
    ) -> list[Prediction]:
        """Predict for each row; ``category`` restricts voters to one subtree. Several
        spaces (text and image): each votes and the shares are fused by ``space_weights``."""
        predictions = []
        for per_space in self.votes(query_vectors, category):
            if not per_space:
                raise InvalidInputError("a query has no vector in any space (no text and no image)")
            tallied = next(iter(per_space.values())) if len(per_space) == 1 else fuse(per_space, self.space_weights)
            per_space.pop(LEXICAL_SPACE, None)  # the modality names what the query had: text and/or image
            prediction = decide(
                tallied.mass,
                top_n=self.top_n,
                uncertain_threshold=self.uncertain_threshold,
                neighbors=tallied.neighbors,
                near_duplicate=tallied.near_duplicate,
                tiebreak=tallied.closest,
            )
            modality = "both" if len(per_space) > 1 else next(iter(per_space), DEFAULT_SPACE)
            predictions.append(replace(prediction, modality=modality))
        return predictions
