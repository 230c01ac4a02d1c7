"""sentence-transformers text embedder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from semcat.embedding.base import ResolvedModel, Role, check_texts, l2_normalize
from semcat.errors import ModelError


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; texts only.

    ``prefixes`` maps a role to the string put before each text (E5: ``"query: "``).
    """

    supports_images = False

    def __init__(
        self,
        model: ResolvedModel,
        device: str = "cpu",
        max_tokens: int = 256,
        batch_size: int = 64,
        prefixes: dict[str, str] | None = None,
        name_suffix: str = "",
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"sentence-transformers is not importable: {exc}") from exc
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        except ImportError:  # pragma: no cover
            pass
        try:
            self._model = SentenceTransformer(model.source, device=device, local_files_only=model.local)
        except Exception as exc:
            where = "the folder" if model.local else "the hub (is there a network?)"
            raise ModelError(f"cannot load model {model.source!r} from {where}: {exc}") from exc
        self._model.max_seq_length = min(max_tokens, self._model.max_seq_length or max_tokens)
        # the prefix scheme changes the vectors, so it is part of the model's name
        self.name = model.name + name_suffix
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else None
        self.dim = int(dim or self._model.get_sentence_embedding_dimension())
        self.batch_size = batch_size
        self.prefixes = dict(prefixes or {})
        self.max_tokens = self._model.max_seq_length

    def encode_texts(self, texts: Sequence[str], role: Role = "query", batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        check_texts(texts)
        prefix = self.prefixes.get(role, "")
        batch = [prefix + t for t in texts] if prefix else list(texts)
        vectors = self._model.encode(
            batch,
            batch_size=batch_size or self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalize(vectors)

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        raise ModelError(f"{self.name} is a text model; image embedding needs a CLIP model")
