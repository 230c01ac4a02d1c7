"""The Embedder seam: texts (and, for CLIP, images) in, L2-normalized float32 rows out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from semcat.errors import InvalidInputError

Role = Literal["query", "passage"]


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
