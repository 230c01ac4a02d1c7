"""Zero-shot and hybrid categorization.

- :class:`ZeroShotCategorizer` needs no labeled product: each category (a name or a
  taxonomy path) is embedded through an ensemble of prompt templates, averaged; a
  product goes to the category whose prompt vector is most similar, with a softmax
  over cosines (``temperature``) as the probability.
- :class:`HybridCategorizer` mixes the kNN vote with that zero-shot prior at one
  taxonomy level, so a category with few or no labeled products can still win (cold
  start). It is ``uncertain`` when the two disagree or the mixed score is weak.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN
from semcat.embedding.base import Embedder, l2_normalize
from semcat.errors import EmptyIndexError, InvalidInputError
from semcat.search.base import DEFAULT_SPACE, IMAGE_SPACE, present_rows
from semcat.search.knn import KnnCategorizer, as_query_spaces, decide, modality_of
from semcat.search.prediction import Prediction

# Below this cosine for its closest labeled neighbor the vote's weight in hybrid shrinks
# linearly to 0 (a product unlike anything labeled: the zero-shot prior decides).
FULL_VOTE_SIMILARITY = 0.5
DEFAULT_TEMPLATES = (
    "{name}",
    "a product in the category {name}",
    "{path}",
    "online shop department: {path}",
)


class ZeroShotCategorizer:
    """Cosine to averaged category-prompt embeddings, softmax with a temperature."""

    method = "zero-shot"

    def __init__(
        self,
        embedder: Embedder,
        categories: Sequence[Sequence[str]],
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        temperature: float = 0.05,
        top_n: int = 5,
        uncertain_threshold: float = 0.5,
        space_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.space_weights = dict(space_weights or {DEFAULT_SPACE: 0.5, IMAGE_SPACE: 0.5})
        paths = sorted({tuple(c) for c in categories if c})
        if not paths:
            raise EmptyIndexError("zero-shot categorization needs at least one category name")
        self.paths = paths
        self.temperature = temperature
        self.top_n = top_n
        self.uncertain_threshold = uncertain_threshold
        prompts = [t.format(name=p[-1], path=PATH_JOIN.join(p)) for p in paths for t in templates]
        vectors = embedder.encode_texts(prompts, role="passage").reshape(len(paths), len(templates), -1)
        self.matrix = l2_normalize(vectors.mean(axis=1))

    def _softmax(self, vectors: np.ndarray) -> np.ndarray:
        sims = np.asarray(vectors, dtype=np.float32) @ self.matrix.T
        logits = sims / max(self.temperature, 1e-6)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def probabilities(self, query_vectors: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """(n, categories) softmax over cosine / temperature. With several spaces (a CLIP
        query's text and image vectors, both comparable to the text prompts), each
        space's probabilities are averaged with ``space_weights`` over the spaces a
        query has."""
        spaces = as_query_spaces(query_vectors)
        n = len(next(iter(spaces.values())))
        total = np.zeros((n, len(self.paths)), dtype=np.float64)
        weight = np.zeros((n, 1), dtype=np.float64)
        for space, array in spaces.items():
            w = self.space_weights.get(space, 0.0) if len(spaces) > 1 else 1.0
            mask = present_rows(array)
            if w <= 0 or not mask.any():
                continue
            total[mask] += w * self._softmax(array[mask])
            weight[mask] += w
        if np.any(weight == 0):
            raise InvalidInputError("a query has no vector in any space (no text and no image)")
        return (total / weight).astype(np.float32)

    def predict(self, query_vectors: np.ndarray | Mapping[str, np.ndarray]) -> list[Prediction]:
        spaces = as_query_spaces(query_vectors)
        return [
            replace(
                decide(
                    dict(zip(self.paths, row.tolist(), strict=True)),
                    top_n=self.top_n,
                    uncertain_threshold=self.uncertain_threshold,
                    method=self.method,
                ),
                modality=modality_of(spaces, i),
            )
            for i, row in enumerate(self.probabilities(spaces))
        ]


class HybridCategorizer:
    """w × the kNN vote share + (1 - w) × the zero-shot probability, per category at the
    zero-shot categorizer's level, where w = ``knn_weight`` while the closest labeled
    neighbor has cosine >= 0.5, shrinking linearly to 0 below that."""

    method = "hybrid"

    def __init__(
        self,
        knn: KnnCategorizer,
        zero_shot: Any,
        knn_weight: float = 0.5,
        method: str = "hybrid",
        subtree_vote: bool = True,
    ) -> None:
        """``zero_shot`` is the prior: a :class:`ZeroShotCategorizer`, or anything with
        ``paths``, ``probabilities(queries)``, ``top_n`` and ``uncertain_threshold``
        (the linear head, :class:`semcat.search.head.LinearHead`). ``subtree_vote``:
        where the prior moves a product to another category than the vote's, a second
        vote among that category's labeled products gives the deeper levels (off: the
        path stops at the prior's level; kept for the benchmark that measures it)."""
        self.knn = knn
        self.zero_shot = zero_shot
        self.knn_weight = knn_weight
        self.method = method
        self.subtree_vote = subtree_vote
        self.level = max(len(p) for p in zero_shot.paths)

    def predict(
        self, query_vectors: np.ndarray | Mapping[str, np.ndarray], category: str | None = None
    ) -> list[Prediction]:
        spaces = as_query_spaces(query_vectors)
        full = dict(query_vectors) if isinstance(query_vectors, Mapping) else spaces  # with lexical rows
        try:
            knn_predictions: list[Prediction | None] = list(self.knn.predict(full, category=category))
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
                for entry in knn_pred.levels[cut - 1].top:  # shares at the zero-shot level
                    knn_mass[tuple(entry.category.split(PATH_JOIN))] += entry.score
            # the vote counts as much as its evidence is close: far neighbors (a category
            # nobody labeled yet) leave the say to the zero-shot prior
            closest = max((n.score for n in knn_pred.neighbors if n.category), default=0.0) if knn_pred else 0.0
            weight = self.knn_weight * min(max(closest, 0.0) / FULL_VOTE_SIMILARITY, 1.0) if knn_mass else 0.0
            mass: dict[tuple[str, ...], float] = defaultdict(float)
            for path, p in zip(self.zero_shot.paths, probs.tolist(), strict=True):
                mass[path] += (1 - weight) * p
            for path, share in knn_mass.items():
                mass[path] += weight * share
            mixed = decide(
                mass,
                top_n=self.zero_shot.top_n,
                uncertain_threshold=self.zero_shot.uncertain_threshold,
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
        return out

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
