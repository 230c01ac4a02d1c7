"""What evaluation works on: labeled vectors (from the store or freshly embedded) and their texts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN, TEXT_FIELDS, Product
from semcat.embedding.base import Embedder
from semcat.search.base import VectorStore


@dataclass
class LabeledSet:
    """Labeled products as the evaluation sees them: ids, vectors, taxonomy paths, texts."""

    ids: list[str]
    vectors: np.ndarray
    paths: list[tuple[str, ...]]
    texts: list[str]
    payloads: list[dict[str, Any]]
    model: str
    embed_seconds: float = 0.0
    encoder: Embedder | None = None  # the model that embedded them: zero-shot's category prompts

    def __len__(self) -> int:
        return len(self.ids)

    def labels(self, level: int | None = 1) -> np.ndarray:
        """Each product's category cut at ``level`` (None: the full path)."""
        return np.array([PATH_JOIN.join(p[:level] if level else p) for p in self.paths], dtype=object)

    def subset(self, index: Sequence[int] | np.ndarray) -> LabeledSet:
        idx = np.asarray(index, dtype=np.int64)
        return LabeledSet(
            ids=[self.ids[i] for i in idx],
            vectors=self.vectors[idx],
            paths=[self.paths[i] for i in idx],
            texts=[self.texts[i] for i in idx],
            payloads=[self.payloads[i] for i in idx],
            model=self.model,
            embed_seconds=self.embed_seconds,
            encoder=self.encoder,
        )


def from_store(store: VectorStore, fields: Sequence[str] = TEXT_FIELDS, encoder: Embedder | None = None) -> LabeledSet:
    """The labeled products of a store, with their stored vectors (``encoder``: the store's
    model, for the zero-shot methods' category prompts)."""
    ids: list[str] = []
    chunks: list[np.ndarray] = []
    paths: list[tuple[str, ...]] = []
    texts: list[str] = []
    payloads: list[dict[str, Any]] = []
    for batch_ids, vectors, batch_payloads in store.iter_vectors():
        keep = [i for i, p in enumerate(batch_payloads) if p.get("category_levels")]
        ids += [batch_ids[i] for i in keep]
        chunks.append(vectors[keep])
        for i in keep:
            payload = batch_payloads[i]
            paths.append(tuple(payload["category_levels"]))
            texts.append(Product.from_payload(payload).text(fields))
            payloads.append(payload)
    dim = store.meta.spaces.get("text", 0)
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, dim), dtype=np.float32)
    return LabeledSet(ids, vectors, paths, texts, payloads, store.meta.model, encoder=encoder)


def from_products(
    products: Sequence[Product],
    embedder: Embedder,
    fields: Sequence[str] = TEXT_FIELDS,
    batch_size: int = 64,
    progress: bool = True,
) -> LabeledSet:
    """Embed labeled products (as the indexer would: passage role), timing the embedding."""
    labeled = [p for p in products if p.category]
    texts = [p.text(fields) for p in labeled]
    order = np.argsort([len(t) for t in texts], kind="stable")  # less padding, as in the indexer
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), unit="product", desc=f"embedding ({embedder.name})", leave=False)
    start = time.perf_counter()
    for begin in range(0, len(texts), batch_size):
        rows = order[begin : begin + batch_size]
        vectors[rows] = embedder.encode_texts([texts[i] for i in rows], role="passage")
        if bar is not None:
            bar.update(len(rows))
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    return LabeledSet(
        ids=[p.id for p in labeled],
        vectors=vectors,
        paths=[p.category for p in labeled],
        texts=texts,
        payloads=[p.payload() for p in labeled],
        model=embedder.name,
        embed_seconds=seconds,
        encoder=embedder,
    )
