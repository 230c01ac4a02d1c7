"""The Embedder seam: texts (and, for CLIP, images) in, L2-normalized float32 rows out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from semcat.errors import InvalidInputError

Role = Literal["query", "passage"]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model will be loaded from and the stable name its vectors carry (what the
    registry resolves a model option to, and what an embedder is built from)."""

    name: str
    source: str
    local: bool
    prefixes: tuple[tuple[str, str], ...] = ()
    static: bool = False  # a model2vec static model: no backend, no transformer


@runtime_checkable
class Embedder(Protocol):
    """Turns product texts into vectors.

    ``name`` identifies the model (and its version) well enough that vectors of two
    embedders with the same name are comparable: the indexer folds it into each
    product's content hash and the store refuses vectors of another model.
    Role-specific prefixes (E5's ``query: ``/``passage: ``) are applied here, never by callers.
    ``encode_images`` takes decoded RGB ``PIL.Image`` objects (:func:`semcat.images.load_image`).
    """

    name: str
    dim: int
    supports_images: bool  # True: encode_images works and shares the text space (CLIP)

    def encode_texts(self, texts: Sequence[str], role: Role = "query", batch_size: int | None = None) -> np.ndarray: ...

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray: ...


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization to float32; zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def check_texts(texts: Sequence[str]) -> None:
    """Refuse an empty text, naming its position."""
    for i, text in enumerate(texts):
        if not text or not text.strip():
            raise InvalidInputError(f"text #{i + 1} is empty: nothing to embed")


class LazyEmbedder:
    """An embedder loaded on the first vector asked of it (``load``): its name and whether
    it reads images are known without loading the weights, so a re-run that has nothing
    to embed never pays for them."""

    def __init__(self, load: Callable[[], Embedder], name: str, supports_images: bool) -> None:
        self._load = load
        self.name = name
        self.supports_images = supports_images

    @property
    def dim(self) -> int:
        return self._load().dim

    def encode_texts(self, texts: Sequence[str], role: Role = "query", batch_size: int | None = None) -> np.ndarray:
        return self._load().encode_texts(texts, role=role, batch_size=batch_size)

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        return self._load().encode_images(images, batch_size=batch_size)
