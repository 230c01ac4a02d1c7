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
from semcat.categorize.vote import Categorizer
from semcat.categorize.zeroshot import ZeroShotCategorizer
from semcat.embedding.lexical import LexicalEncoder
from semcat.errors import ConfigError
from semcat.methods import method_spec
from semcat.options import QueryOptions
from semcat.search.base import DEFAULT_SPACE, VectorStore, present_rows
from semcat.spaces import CHAR_SPACE, LEXICAL_SPACE


def build_categorizer(
    store: VectorStore,
    options: QueryOptions,
    *,
    head: LinearHead | None = None,
    zero_shot: ZeroShotCategorizer | None = None,
) -> Categorizer:
    """The categorizer of ``options.method`` (:data:`semcat.methods.REGISTRY`), built from
    the store, the options and what it needs: the linear head (mixed in where the method
    and the options let it judge) and the zero-shot prior (category prompts)."""
    spec = method_spec(options.method)
    if spec.zero_shot and zero_shot is None:
        raise ConfigError(f"the {spec.name} method needs the zero-shot categorizer (category prompts)")
    return spec.builder()(store, options, head=head if options.uses_head else None, zero_shot=zero_shot)


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
        votes = method_spec(options.method).word_vote and options.lexical_weight > 0 and LEXICAL_SPACE in store_sparse
        if DEFAULT_SPACE not in spaces or not (votes or options.uses_head):
            return spaces  # nothing reads words (or an image-only query: the words have no say)
        cleaned = [t if t.strip() else "" for t in texts]
        spaces[LEXICAL_SPACE] = self.encoder("word").encode(cleaned)
        if options.uses_head and head_chars:
            spaces[CHAR_SPACE] = self.encoder("char").encode(cleaned)
        return spaces
