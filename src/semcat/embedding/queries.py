"""Query vectors: what a categorization or a search compares with the stored vectors.

:func:`query_spaces` turns products (which need not be stored) and their photos into one
array per vector space, ``text`` and/or ``image``, under a modality; an all-zero row
means "this query has nothing in that space". Texts go through whatever encodes query
texts (the embedder, or the API's micro-batcher); photos arrive decoded or as raw bytes,
decoded here under the pixel guard (:func:`semcat.images.load_image`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from semcat.errors import InvalidInputError
from semcat.spaces import DEFAULT_SPACE as TEXT
from semcat.spaces import IMAGE_SPACE as IMAGE


def image_rows(
    images: Sequence[Any | None],
    encode: Callable[[list[Any]], np.ndarray],
    dim: int,
    max_pixels: int,
    offset: int = 0,
) -> np.ndarray:
    """Image vectors for query photos (decoded, or raw bytes decoded here and named
    ``items[i] image`` in errors); an all-zero row where there is none."""
    decoded = [_decoded(im, max_pixels, f"items[{offset + i}] image") for i, im in enumerate(images)]
    out = np.zeros((len(decoded), dim), dtype=np.float32)
    rows = [i for i, im in enumerate(decoded) if im is not None]
    if rows:
        out[rows] = encode([decoded[i] for i in rows])
    return out


def _decoded(image: Any | None, max_pixels: int, name: str) -> Any | None:
    if isinstance(image, bytes | bytearray):
        from semcat.images import load_image

        return load_image(bytes(image), max_pixels=max_pixels, name=name)
    return image


def query_spaces(
    ids: Sequence[str],
    texts: Sequence[str],
    images: Sequence[Any | None] | None,
    modality: str,
    *,
    encode_texts: Callable[[Sequence[str]], np.ndarray],
    encode_images: Callable[[Sequence[Any | None]], np.ndarray],
) -> dict[str, np.ndarray]:
    """{space: (n, dim)} query vectors for the modality: ``text``, ``image`` or ``both``
    (each query's text and photo, whichever it has), for products given by id and their
    embedded text. A query left with nothing the modality can use is an
    :class:`InvalidInputError` naming it."""
    if images is None and modality != "image":  # the text-only path (the common one)
        for pid, text in zip(ids, texts, strict=True):
            if not text.strip():
                raise InvalidInputError(f"product {pid!r} has no text to categorize")
        return {TEXT: encode_texts(texts)}
    spaces: dict[str, np.ndarray] = {}
    text_rows = [i for i, t in enumerate(texts) if t.strip()] if modality != "image" else []
    has_text = np.zeros(len(ids), dtype=bool)
    has_text[text_rows] = True
    if text_rows:
        encoded = encode_texts([texts[i] for i in text_rows])
        spaces[TEXT] = np.zeros((len(ids), encoded.shape[1]), dtype=np.float32)
        spaces[TEXT][text_rows] = encoded
    has_image = np.zeros(len(ids), dtype=bool)
    if images is not None and modality != "text" and any(im is not None for im in images):
        vectors = encode_images(images)
        has_image = np.any(vectors != 0, axis=1)
        if has_image.any():
            spaces[IMAGE] = vectors
    for row, pid in enumerate(ids):
        if modality == "text" and not has_text[row]:
            raise InvalidInputError(f"product {pid!r} has no text to categorize (modality text)")
        if modality == "image" and not has_image[row]:
            raise InvalidInputError(f"product {pid!r} has no image (modality image needs one)")
        if modality == "both" and not (has_text[row] or has_image[row]):
            raise InvalidInputError(f"product {pid!r} has neither text nor an image")
    return spaces
