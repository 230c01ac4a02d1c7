"""The one recipe: which categorizer answers a request, and which query rows it reads.

:func:`build_categorizer` turns :class:`~semcat.options.QueryOptions` (plus the trained
linear head and the zero-shot prior, which the engine keeps) into the categorizer the
service runs; :class:`QueryRows` adds the sparse rows that categorizer reads (word
vectors for the word vote and the head, character n-grams for the head). The engine,
``semcat evaluate`` (:mod:`semcat.evaluation.methods`) and the benchmarks all call these,
so what is measured is what is served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from semcat.categorize.head import LinearHead
from semcat.categorize.hybrid import HybridCategorizer
from semcat.categorize.levels import LevelwiseCategorizer
from semcat.categorize.vote import Categorizer, KnnCategorizer
from semcat.categorize.zeroshot import ZeroShotCategorizer
from semcat.embedding.lexical import CHAR_SPACE, LEXICAL_SPACE, LexicalEncoder
from semcat.errors import ConfigError
from semcat.options import QueryOptions
from semcat.search.base import DEFAULT_SPACE, VectorStore, present_rows


def build_categorizer(
    store: VectorStore,
    options: QueryOptions,
    *,
    head: LinearHead | None = None,
    zero_shot: ZeroShotCategorizer | None = None,
) -> Categorizer:
    """The categorizer for these options: the kNN vote (mixed with the linear head at every
    level it decides when ``head`` is given and the options let it judge), zero-shot, or
    hybrid (the vote mixed with the zero-shot prior)."""
    if options.method in ("zero-shot", "hybrid") and zero_shot is None:
        raise ConfigError(f"the {options.method} method needs the zero-shot categorizer (category prompts)")
    if options.method == "zero-shot":
        assert zero_shot is not None
        return zero_shot.configured(
            options.top_n, options.uncertain_threshold, options.space_weights, depth=options.depth
        )
    knn = KnnCategorizer(
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
    if options.method == "hybrid":
        assert zero_shot is not None
        return HybridCategorizer(knn, zero_shot, options.hybrid_knn_weight, subtree_vote=options.subtree_vote)
    if head is None or not options.uses_head:
        return knn
    return LevelwiseCategorizer(knn, head, 1.0 - options.head_weight, subtree_vote=options.subtree_vote)


def head_applies(options: QueryOptions, vectors: Mapping[str, Any]) -> bool:
    """Whether the linear head judges this batch: the options let it (see
    :attr:`QueryOptions.uses_head`) and every query has a text vector (the head reads
    texts; a photo-only query is left to the vote)."""
    texts = vectors.get(DEFAULT_SPACE)
    return options.uses_head and texts is not None and bool(present_rows(texts).all())


class QueryRows:
    """Adds the sparse rows a categorization reads to the queries' dense vectors.

    Word rows when the words vote (a store with a word space and a non-zero lexical
    weight) or feed the linear head; character rows when the head uses them. Nothing for
    zero-shot, nor for photo-only queries. The encoders are hashing vectorizers (no
    vocabulary), created once per instance.
    """

    def __init__(self) -> None:
        self._encoders: dict[str, LexicalEncoder] = {}

    def encoder(self, analyzer: str) -> LexicalEncoder:
        if analyzer not in self._encoders:
            self._encoders[analyzer] = LexicalEncoder(analyzer)
        return self._encoders[analyzer]

    def add(
        self,
        vectors: np.ndarray | Mapping[str, Any],
        texts: Sequence[str],
        options: QueryOptions,
        *,
        store_sparse: Sequence[str],
        head_chars: bool,
    ) -> dict[str, Any]:
        spaces = dict(vectors) if isinstance(vectors, Mapping) else {DEFAULT_SPACE: vectors}
        votes = options.method != "zero-shot" and options.lexical_weight > 0 and LEXICAL_SPACE in store_sparse
        if DEFAULT_SPACE not in spaces or not (votes or options.uses_head):
            return spaces  # nothing reads words (or an image-only query: the words have no say)
        cleaned = [t if t.strip() else "" for t in texts]
        spaces[LEXICAL_SPACE] = self.encoder("word").encode(cleaned)
        if options.uses_head and head_chars:
            spaces[CHAR_SPACE] = self.encoder("char").encode(cleaned)
        return spaces
