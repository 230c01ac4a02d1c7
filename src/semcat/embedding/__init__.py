"""Embedders: the :class:`Embedder` protocol, the model registry and implementations."""

from semcat.embedding.base import Embedder, Role
from semcat.embedding.registry import MODEL_ALIASES, load_embedder, resolve_model

__all__ = ["MODEL_ALIASES", "Embedder", "Role", "load_embedder", "resolve_model"]
