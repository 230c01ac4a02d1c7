"""The categorization methods, declared once: the only place their names are written.

Each entry says how the method is built (``module:function``, imported on first use so
this bottom module imports no categorizer) and what it needs. The engine, the builder,
the evaluation, the API (its request types and ``GET /options``), the CLI's help and the
web page (served the list by ``GET /options``) all read this table. Adding a method is one
module with a ``build(store, options, *, head, zero_shot)`` function, one entry here, and
its tests (docs/design-notes.md, "What a change touches now").
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Callable

KNN: Literal["knn"] = "knn"
ZERO_SHOT: Literal["zero-shot"] = "zero-shot"
HYBRID: Literal["hybrid"] = "hybrid"
Method = Literal["knn", "zero-shot", "hybrid"]  # the names below, for type checkers and pydantic


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One categorization method."""

    name: str
    label: str  # a short name for people (the web page's menu)
    description: str  # one line: what decides (API docs, CLI help)
    build: str  # "module:function" returning the Categorizer for (store, options, resources)
    zero_shot: bool = False  # needs the zero-shot prior (category prompts)
    head: bool = False  # the linear head judges with it (when the options' head weight is not 0)
    word_vote: bool = False  # word-vector neighbors vote (a store with word vectors, a lexical weight)
    store_vectors: bool = True  # searches the stored products (a photo query needs the store's image space)
    calibrated: bool = False  # the path confidence and the auto decision are learned for it

    def builder(self) -> Callable[..., Any]:
        module, _, function = self.build.partition(":")
        return getattr(import_module(module), function)


REGISTRY: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            KNN,
            "kNN vote",
            "the labeled neighbors' vote, mixed with the linear head at every level",
            "semcat.categorize.levels:build",
            head=True,
            word_vote=True,
            calibrated=True,
        ),
        MethodSpec(
            ZERO_SHOT,
            "zero-shot",
            "similarity to the category names alone (no labeled product needed)",
            "semcat.categorize.zeroshot:build",
            zero_shot=True,
            store_vectors=False,
        ),
        MethodSpec(
            HYBRID,
            "hybrid",
            "the neighbors' vote mixed with the zero-shot prior",
            "semcat.categorize.hybrid:build",
            zero_shot=True,
            word_vote=True,
        ),
    )
}
METHODS: tuple[str, ...] = tuple(REGISTRY)
assert set(METHODS) == set(get_args(Method)), "the Method type must list the registry's names"


def method_spec(name: str) -> MethodSpec:
    """The method called ``name``; an unknown name is an
    :class:`~semcat.errors.InvalidInputError` listing the known ones."""
    spec = REGISTRY.get(name)
    if spec is None:
        from semcat.errors import InvalidInputError

        raise InvalidInputError(f"unknown method {name!r}: use {', '.join(REGISTRY)}")
    return spec


def calibrated_methods() -> list[str]:
    """The methods the path confidence is learned for."""
    return [spec.name for spec in REGISTRY.values() if spec.calibrated]


def methods_help() -> str:
    """The methods in one line each, for help texts."""
    return "; ".join(f"{spec.name}: {spec.description}" for spec in REGISTRY.values())
