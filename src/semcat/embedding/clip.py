"""CLIP (open_clip): texts and images in one vector space.

Weights come from, in order of what ``SEMCAT_CLIP_PRETRAINED`` holds:

- a local weights file (``open_clip_pytorch_model.bin``, ``.pt``, ``.safetensors``)
  for the architecture ``SEMCAT_CLIP_MODEL`` (default ``ViT-B-32``);
- an open_clip pretrained tag (default ``laion2b_s34b_b79k``), fetched from the
  Hugging Face hub where a network exists, or found in its local cache;
- ``random``: the real architecture with untrained weights (seeded, so every process
  builds the same model). Its vectors carry no meaning; it exists to test the pipeline
  on machines where no CLIP weights can be obtained.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semcat.embedding.base import Role, check_texts, l2_normalize
from semcat.errors import ModelError

RANDOM = "random"
_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors")


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or os.sep in value or value.endswith(_WEIGHT_SUFFIXES)


def clip_name(architecture: str, pretrained: str) -> str:
    """The name a CLIP model's vectors carry, known without loading it."""
    if pretrained == RANDOM:
        return f"open_clip:{architecture}:random-seed0"
    if _looks_like_path(pretrained):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise ModelError(
                f"CLIP weights file {pretrained} does not exist (SEMCAT_CLIP_PRETRAINED); give the path of an "
                f"open_clip weights file for {architecture}"
            )
        return f"open_clip:{architecture}:file:{path.name}:{path.stat().st_size}"
    return f"open_clip:{architecture}:{pretrained}"


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """open_clip logs a download failure and 'initialized randomly' before raising;
    semcat raises one clear error instead."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


class ClipEmbedder:
    """An open_clip model: ``encode_texts`` and ``encode_images`` share one space."""

    supports_images = True

    def __init__(
        self,
        architecture: str = "ViT-B-32",
        pretrained: str = "laion2b_s34b_b79k",
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        try:
            import open_clip
            import torch
        except ImportError as exc:  # pragma: no cover - broken install
            raise ModelError(f"open_clip is not importable ({exc}); pip install open-clip-torch") from exc
        if architecture not in open_clip.list_models():
            raise ModelError(
                f"unknown open_clip architecture {architecture!r} (SEMCAT_CLIP_MODEL); e.g. ViT-B-32, ViT-B-16, "
                "ViT-L-14 (open_clip.list_models() lists them all)"
            )
        self.name = clip_name(architecture, pretrained)
        self.architecture = architecture
        self.batch_size = batch_size
        self.device = device
        self._torch = torch
        try:
            if pretrained == RANDOM:
                with torch.random.fork_rng(devices=[]), _quiet_open_clip():
                    torch.manual_seed(0)
                    model, _, preprocess = open_clip.create_model_and_transforms(
                        architecture, pretrained=None, device=device
                    )
            else:
                is_file = _looks_like_path(pretrained)
                source = str(Path(pretrained).expanduser()) if is_file else pretrained
                if not is_file and pretrained not in open_clip.list_pretrained_tags_by_model(architecture):
                    tags = ", ".join(open_clip.list_pretrained_tags_by_model(architecture)) or "none"
                    raise ModelError(
                        f"open_clip has no pretrained tag {pretrained!r} for {architecture} (known: {tags}); "
                        "or give a local weights file"
                    )
                with _quiet_open_clip():
                    model, _, preprocess = open_clip.create_model_and_transforms(
                        architecture, pretrained=source, device=device
                    )
            self._tokenizer = open_clip.get_tokenizer(architecture)
        except ModelError:
            raise
        except Exception as exc:
            if _looks_like_path(pretrained):
                raise ModelError(f"cannot load {pretrained} as open_clip {architecture} weights: {exc}") from None
            raise ModelError(
                f"CLIP weights {architecture}/{pretrained} are not in the local cache and cannot be downloaded "
                "here (no network?): download open_clip_pytorch_model.bin for that tag where a network exists "
                "and set SEMCAT_CLIP_PRETRAINED=/path/to/that/file (or 'random' for untrained test weights)"
            ) from None
        model.eval()
        self._model = model
        self.preprocess = preprocess
        self.dim = int(model.visual.output_dim)
        self.context_length = int(getattr(model, "context_length", 77))

    def encode_texts(self, texts: Sequence[str], role: Role = "query", batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        check_texts(texts)
        size = batch_size or self.batch_size
        out = []
        with self._torch.inference_mode():
            for start in range(0, len(texts), size):
                # the tokenizer truncates to the context length (77 tokens for ViT-B-32)
                tokens = self._tokenizer(list(texts[start : start + size])).to(self.device)
                out.append(self._model.encode_text(tokens).float().cpu().numpy())
        return l2_normalize(np.concatenate(out))

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        """Encode decoded RGB ``PIL.Image`` objects (see :func:`semcat.images.load_image`)."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = batch_size or self.batch_size
        out = []
        with self._torch.inference_mode():
            for start in range(0, len(images), size):
                pixels = self._torch.stack([self.preprocess(im) for im in images[start : start + size]])
                out.append(self._model.encode_image(pixels.to(self.device)).float().cpu().numpy())
        return l2_normalize(np.concatenate(out))
