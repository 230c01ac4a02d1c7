"""Zero-shot categorization: no labeled product needed.

Each category (a name or a taxonomy path) is embedded through an ensemble of prompt
templates, averaged; a product goes to the category whose prompt vector is most similar,
with a softmax over cosines (``temperature``) as the probability. The same probabilities
are the prior :class:`semcat.categorize.hybrid.HybridCategorizer` mixes with the vote.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN, parse_category
from semcat.categorize.prediction import Prediction
from semcat.categorize.vote import Categorizer, QueryVectors, as_query_spaces, decide, modality_of, within
from semcat.embedding.base import Embedder, l2_normalize
from semcat.errors import ConfigError, EmptyIndexError, InvalidInputError, NotFoundError
from semcat.methods import ZERO_SHOT
from semcat.options import DEFAULTS, ZERO_SHOT_DEFAULTS, QueryOptions
from semcat.search.base import present_rows

DEFAULT_TEMPLATES = (
    "{name}",
    "a product in the category {name}",
    "{path}",
    "online shop department: {path}",
)


class ZeroShotCategorizer:
    """Cosine to averaged category-prompt embeddings, softmax with a temperature."""

    method = ZERO_SHOT

    def __init__(
        self,
        embedder: Embedder,
        categories: Sequence[Sequence[str]],
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        *,
        temperature: float = ZERO_SHOT_DEFAULTS.temperature,
        top_n: int = DEFAULTS.top_n,
        uncertain_threshold: float = DEFAULTS.uncertain_threshold,
        space_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.space_weights = dict(space_weights or DEFAULTS.space_weights)
        paths = sorted({tuple(c) for c in categories if c})
        if not paths:
            raise EmptyIndexError("zero-shot categorization needs at least one category name")
        self.paths = paths
        self.temperature = temperature
        self.top_n = top_n
        self.uncertain_threshold = uncertain_threshold
        self.depth: int | None = None
        prompts = [t.format(name=p[-1], path=PATH_JOIN.join(p)) for p in paths for t in templates]
        vectors = embedder.encode_texts(prompts, role="passage").reshape(len(paths), len(templates), -1)
        self.matrix = l2_normalize(vectors.mean(axis=1))

    def configured(
        self, top_n: int, uncertain_threshold: float, space_weights: Mapping[str, float], depth: int | None = None
    ) -> ZeroShotCategorizer:
        """The same prompt vectors with one request's decision options (a shallow copy: the
        prompt matrix, the expensive part, is shared)."""
        other = copy.copy(self)
        other.top_n, other.uncertain_threshold, other.depth = top_n, uncertain_threshold, depth
        other.space_weights = dict(space_weights)
        return other

    def _softmax(self, vectors: np.ndarray) -> np.ndarray:
        sims = np.asarray(vectors, dtype=np.float32) @ self.matrix.T
        logits = sims / max(self.temperature, 1e-6)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def probabilities(self, query_vectors: QueryVectors) -> np.ndarray:
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

    def predict(self, query_vectors: QueryVectors, category: str | None = None) -> list[Prediction]:
        """The closest category prompt per query; ``category`` keeps only the categories in
        that subtree (their probabilities renormalized), ``depth`` cuts the paths."""
        spaces = as_query_spaces(query_vectors)
        keep = [i for i, path in enumerate(self.paths) if within(path, category)]
        if not keep:  # as the vote answers a filter nothing is filed under: not found
            raise NotFoundError(f"no zero-shot category lies under the category filter {category!r}")
        paths = [self.paths[i][: self.depth] if self.depth else self.paths[i] for i in keep]
        out = []
        for i, row in enumerate(self.probabilities(spaces)[:, keep]):
            mass: dict[tuple[str, ...], float] = defaultdict(float)
            for path, p in zip(paths, row.tolist(), strict=True):
                mass[path] += p
            decided = decide(mass, top_n=self.top_n, uncertain_threshold=self.uncertain_threshold, method=self.method)
            out.append(replace(decided, modality=modality_of(spaces, i)))
        return out


def prompt_categories(
    taxonomy_file: Path | None, level: int, stored: Mapping[str, int] | None = None
) -> list[tuple[str, ...]]:
    """Zero-shot's categories: the taxonomy file's paths (one per line, ``#`` comments),
    else the ``stored`` labels (full paths, as the store counts them), cut at ``level``."""
    if taxonomy_file is not None:
        try:
            lines = taxonomy_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the taxonomy file {taxonomy_file}: {exc}") from None
        paths = [parse_category(line) for line in lines if line.strip() and not line.startswith("#")]
    else:
        paths = [tuple(c.split(PATH_JOIN)) for c in (stored or {})]
    cut = sorted({p[:level] for p in paths if p})
    if not cut:
        raise EmptyIndexError("zero-shot needs category names: index labeled products or set SEMCAT_TAXONOMY_FILE")
    return cut


def build(store: Any, options: QueryOptions, *, head: Any = None, zero_shot: ZeroShotCategorizer | None) -> Categorizer:
    """The ``zero-shot`` method (:data:`semcat.methods.REGISTRY`): the prompts' vectors with
    one request's decision options; the store and the head have no say."""
    assert zero_shot is not None  # build_categorizer checked what the method needs
    return zero_shot.configured(options.top_n, options.uncertain_threshold, options.space_weights, depth=options.depth)
