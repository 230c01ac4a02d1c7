"""What one categorization asks for, resolved once, with every option declared here once.

A request (a CLI call, an HTTP body, a Python call) names some options: ``k``, ``top_n``,
``depth``, ``method``, ``modality``, ``category``, ``auto_precision``. The rest of the
recipe (vote weighting, the word vote's share, the linear head's share, the image weight,
...) comes from :class:`semcat.config.Settings`. Each option's type, bounds, default,
description and setting are written once, in :class:`QueryOptions`; ``Settings`` and
:class:`RequestOptions` (the API's bodies, the CLI's help) are built from them. The faces
call :meth:`semcat.engine.Engine.categorize` with overrides; the engine resolves them
into one :class:`QueryOptions` (:meth:`QueryOptions.merged`) and the categorizer builder
(:func:`semcat.categorize.build_categorizer`) reads nothing else. The evaluation and the
benchmarks build their categorizers from the same object, so what they measure is what
is served.

Long module: the options, settings' groups and fixed recipes are declared here once, side
by side, so that no default or limit has a second home.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from typing import Annotated, Any, Literal, get_args, get_type_hints

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.fields import FieldInfo

from semcat import limits
from semcat.errors import InvalidInputError
from semcat.limits import MAX_CATEGORY_DEPTH, MAX_CATEGORY_FILTER_CHARS, MAX_K, MAX_TOP_N
from semcat.methods import KNN, METHODS, Method, method_spec, methods_help

Modality = Literal["text", "image", "both"]
Backend = Literal["onnx-int8", "onnx", "torch"]  # how a text model runs (semcat.embedding.onnx)
Quantization = Literal["none", "int8"]  # a new Qdrant collection's dense vectors (QdrantSettings)
QUANTIZATION: Quantization = "int8"  # ... by default
MODALITIES: tuple[str, ...] = get_args(Modality)

SIMILAR_K = 5  # products `similar` returns when not told


def _whole(value: Any) -> Any:
    """A count: an integer, its digits (an HTML form sends text) or ``11.0`` (an integer to
    JSON Schema); never a boolean (``True`` is not 1 neighbor) nor a fraction."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool | float):
        raise ValueError(f"must be a whole number, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


# the request's counts and filter, each bounded once (the API, the CLI, Python callers)
Neighbors = Annotated[int, Field(ge=1, le=MAX_K), BeforeValidator(_whole)]
Listing = Annotated[int, Field(ge=0, le=limits.MAX_LISTED_NEIGHBORS), BeforeValidator(_whole)]  # however many voted
Listed = Annotated[int, Field(ge=1, le=MAX_TOP_N), BeforeValidator(_whole)]
Depth = Annotated[int, Field(ge=1, le=MAX_CATEGORY_DEPTH), BeforeValidator(_whole)]
CategoryFilter = Annotated[str, Field(max_length=MAX_CATEGORY_FILTER_CHARS, json_schema_extra={"pattern": r"\S"})]
Precision = Annotated[float, Field(gt=0.5, lt=1.0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]  # a weight or share between 0 and 1


SAME = "same"  # an option whose setting has the option's name


def option(default: Any, description: str, setting: str | None = SAME) -> Any:
    """A :class:`QueryOptions` field: its default and description, written here once.
    ``setting``: the :class:`semcat.config.Settings` field that gives it (None: none, the
    request's alone); the field's type carries its bounds. ``Settings`` and
    :class:`RequestOptions` are built from these fields."""
    return field(default=default, metadata={"description": description, "setting": setting})


# the options a single request may set (the API's and the CLI's per-call options), in the
# order the API documents them
REQUEST_FIELDS: tuple[str, ...] = ("method", "modality", "k", "top_n", "depth", "category", "auto_precision")


@dataclass(frozen=True, slots=True)
class QueryOptions:
    """Every option of one categorization, each declared once here: its type (with its
    bounds), default, description and setting. Immutable: :meth:`merged` returns a new one.
    Checked on creation against the bounds: every Python caller meets the API's."""

    # what a request may set (REQUEST_FIELDS)
    k: Neighbors = option(10, "Neighbors that vote.")
    top_n: Listed = option(5, "Alternatives listed per level and per prediction.")
    depth: Depth | None = option(
        None,
        "Deepest taxonomy level to predict (unset: detected from the labels, stopping above the first level "
        "whose nodes are mostly single products, such as product names).",
        setting="predict_depth",
    )
    method: Method = option(KNN, "How the category is decided: " + methods_help() + ".")
    modality: Modality = option(
        "both",
        "What votes and what is searched: the text, the image, or both (each query's text and image, whichever "
        "it has, votes fused by image_weight).",
    )
    category: CategoryFilter | None = option(
        None, "Only products under this category vote, and no level leaves it.", setting=None
    )
    auto_precision: Precision = option(
        0.98,
        "Precision the predictions filed automatically (decision 'auto') must reach; the confidence threshold is "
        "learned from the store's own labeled products.",
    )
    # the recipe (settings only)
    vote_power: Annotated[float, Field(ge=0.0, le=64.0)] = option(
        8.0, "Neighbor weight = max(similarity, 0) ** vote_power (0: one vote each; 8 was chosen by 5-fold CV)."
    )
    duplicate_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = option(
        0.95,
        "Neighbors at least this similar are near-duplicates: when any exist, only they vote (unset: off), unless "
        "the store's own products show their label wrong for a new listing (then the other neighbors vote).",
    )
    lexical_weight: Share = option(
        0.5,
        "Share of the text vote given to the lexical (word) neighbors; 0: dense vectors only. New stores keep a "
        "sparse word vector per product for it.",
    )
    lexical_power: Annotated[float, Field(ge=0.0, le=64.0)] = option(
        4.0, "Lexical neighbor weight = (score / best score) ** lexical_power."
    )
    head_weight: Share = option(
        0.7,
        "Share of each level's decision given to a linear head trained on the stored vectors (retrained after "
        "writes); 0: the kNN vote alone.",
    )
    image_weight: Share = option(0.5, "Weight of the image vote in modality 'both' (the text vote gets 1 - it).")
    uncertain_threshold: Share = option(
        0.5,
        "A prediction is uncertain below this: its path confidence when calibrated, else its main category's score.",
    )
    hybrid_knn_weight: Share = option(0.5, "Weight of the kNN vote in hybrid (the zero-shot prior gets the rest).")
    subtree_vote: bool = option(
        True, "In hybrid, a second vote among the products of the main category the mix chose.", setting=None
    )

    def __post_init__(self) -> None:
        method_spec(self.method)  # the registry decides (a method registered at run time included)
        checked = _CHECK.checked(**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "method"})
        for name, value in checked.model_dump().items():
            if value != getattr(self, name):
                object.__setattr__(self, name, value)  # a form's "7" is the count 7

    def merged(self, **overrides: Any) -> QueryOptions:
        """These options with the given ones replaced; ``None`` means "not given"."""
        unknown = set(overrides) - {f.name for f in fields(self)}
        if unknown:
            raise InvalidInputError(f"unknown categorization option(s): {', '.join(sorted(unknown))}")
        given = {name: value for name, value in overrides.items() if value is not None}
        return replace(self, **given) if given else self

    @property
    def uses_head(self) -> bool:
        """Whether the linear head has a say: the ``knn`` method and a non-zero head weight
        (within a caller's ``category`` it judges among that subtree's categories only)."""
        return method_spec(self.method).head and self.head_weight > 0

    @property
    def space_weights(self) -> dict[str, float]:
        """How the text and photo votes of one query are mixed (modality ``both``)."""
        return {"text": 1.0 - self.image_weight, "image": self.image_weight}


@cache
def option_types() -> dict[str, Any]:
    """Each :class:`QueryOptions` field's type, bounds included."""
    return get_type_hints(QueryOptions, include_extras=True)


def query_fields() -> dict[str, tuple[Any, FieldInfo]]:
    """Each :class:`QueryOptions` field as a pydantic field: its type (with its bounds),
    default and description (``Settings`` and :class:`RequestOptions` are made of them)."""
    types = option_types()
    return {
        f.name: (types[f.name], Field(f.default, description=f.metadata["description"])) for f in fields(QueryOptions)
    }


def setting_names() -> dict[str, str]:
    """Each option a setting gives, and that setting's name (``depth``: ``predict_depth``)."""
    return {
        f.name: f.name if f.metadata["setting"] == SAME else f.metadata["setting"]
        for f in fields(QueryOptions)
        if f.metadata["setting"] is not None
    }


class _Checked(BaseModel):
    """What checks options: a first error out of bounds is one line naming it."""

    model_config = ConfigDict(extra="forbid")

    _not_blank = field_validator("category", check_fields=False)(lambda value: limits.not_blank_category(value))

    @classmethod
    def checked(cls, **values: Any) -> Any:
        """The options, or an :class:`~semcat.errors.InvalidInputError` naming the first
        one out of bounds and its bounds."""
        try:
            return cls(**values)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else "options"
            raise InvalidInputError(bounds_message(name, error)) from None


class _Request(_Checked):
    """What one categorization request may set (built below from :class:`QueryOptions`),
    and how much of the evidence its answer lists."""

    neighbors: Listing = Field(limits.LISTED_NEIGHBORS, description="Neighbors each prediction lists, closest first.")

    def options(self) -> dict[str, Any]:
        """The request's categorization options (None: the settings' value)."""
        return {name: getattr(self, name) for name in REQUEST_FIELDS}

    @classmethod
    def help(cls, name: str) -> str:
        """A field's description (the CLI's help); its bounds are checked, not restated."""
        return cls.model_fields[name].description or name


_CHECK = create_model(
    "QueryOptionsCheck",
    __base__=_Checked,
    **{name: spec for name, spec in query_fields().items() if name != "method"},  # type: ignore[call-overload]
)

RequestOptions: type[_Request] = create_model(
    "RequestOptions",
    __base__=_Request,
    __doc__="""What one categorization request may set: the :class:`QueryOptions` fields in
    :data:`REQUEST_FIELDS`, with their bounds and descriptions, each optional (``None``: the
    settings' value). The API's JSON body and its upload form inherit these fields, the CLI's
    options read their descriptions.""",
    **{  # type: ignore[call-overload]
        name: (kind | None, Field(None, description=info.description))
        for name, (kind, info) in query_fields().items()
        if name in REQUEST_FIELDS
    },
)


def bounds_message(name: str, error: Mapping[str, Any]) -> str:
    """One line for an option out of bounds, naming it, its bounds and the value."""
    value = error.get("input")
    if error.get("type") == "extra_forbidden":
        return f"unknown categorization option: {name}"
    bounds = option_bounds(name)
    if error.get("type") == "value_error" and "ge" not in bounds:
        return str(error["ctx"]["error"])
    if "ge" in bounds and "le" in bounds and isinstance(bounds["ge"], int):
        return f"{name} must be an integer from {bounds['ge']} to {bounds['le']}, got {value!r}"
    if "ge" in bounds and "le" in bounds:
        return f"{name} must be a number from {bounds['ge']:g} to {bounds['le']:g}, got {value!r}"
    if "gt" in bounds and "lt" in bounds:
        return f"{name} must be between {bounds['gt']} and {bounds['lt']:g} (exclusive), got {value!r}"
    if "max_length" in bounds:
        return f"{name} has more than {bounds['max_length']:,} characters"
    if name == "method":
        return f"unknown method {value!r}: use {', '.join(METHODS)}"
    if name == "modality":
        return f"unknown modality {value!r}: use {', '.join(MODALITIES)}"
    return f"{name}: {error.get('msg', 'invalid')}, got {value!r}"


BOUND_KEYS = ("ge", "le", "gt", "lt", "max_length")


def option_bounds(name: str) -> dict[str, Any]:
    """The bounds of the option ``name`` (empty: none, or no such option)."""
    kind = option_types().get(name)
    return {} if kind is None else _bounds(kind)


def _bounds(annotation: Any) -> dict[str, Any]:
    """The bounds declared in a (possibly optional) annotated type."""
    found: dict[str, Any] = {}
    for item in getattr(annotation, "__metadata__", ()):
        for info in getattr(item, "metadata", [item]):
            found.update({key: getattr(info, key) for key in BOUND_KEYS if getattr(info, key, None) is not None})
    for arg in get_args(annotation):
        found.update(_bounds(arg))
    return found


# The option groups below are settings too: nested in semcat.config.Settings, each field is
# set as SEMCAT_<GROUP>__<FIELD> (SEMCAT_HEAD__C=2); their bounds and descriptions are here once.
@pydantic_dataclass(frozen=True, slots=True)
class HeadOptions:
    """How the linear head is trained (a change retrains it)."""

    c: float = Field(1.0, gt=0.0, le=1000.0, description="Regularization C of the linear head's SVM.")
    chars: bool = Field(
        True,
        description="Give the head character 3-5-gram features besides words and the dense vector (false: about "
        "a third of its training time, a little accuracy).",
    )
    levels: int | None = Field(
        None,
        ge=1,
        le=MAX_CATEGORY_DEPTH,
        description="Taxonomy levels the head decides with the vote (unset: every level; 1: the main category "
        "only, the deeper levels from the vote alone).",
    )
    max_products: int | None = Field(
        50_000,
        ge=100,
        description="Labeled products the head trains on at most: past this, every product of the rarer leaf "
        "categories and a random share of the common ones (unset: all; the vote always sees every product). "
        "Training time and memory grow faster than the catalog (docs/benchmarks.md, scale).",
    )


@pydantic_dataclass(frozen=True, slots=True)
class HnswOptions:
    """The FAISS store's approximate index (and the embedded Qdrant's); chosen at 1M product
    vectors (docs/design-notes.md, "HNSW: M=16, efConstruction=100")."""

    threshold: int = Field(100_000, ge=1, description="Vector count where index 'auto' switches to HNSW.")
    m: int = Field(16, ge=4, le=256, description="HNSW graph edges per node.")
    ef_construction: int = Field(100, ge=8, description="HNSW candidates kept while building.")
    ef_search: int = Field(256, ge=8, description="HNSW candidates kept while searching (recall against time).")


@pydantic_dataclass(frozen=True, slots=True)
class RetrainOptions:
    """When the linear head retrains after writes (never while a read waits: the previous
    head answers until the new one is swapped in)."""

    quiet_seconds: float = Field(
        2.0,
        ge=0.0,
        le=3600.0,
        description="After writes, the head retrains once no write came for this long (a stream of writes does "
        "not keep a core busy retraining); the previous head answers meanwhile.",
    )
    max_stale_seconds: float = Field(
        30.0, ge=0.0, le=86400.0, description="...but never later than this after the first write it has not seen."
    )
    child_process: bool = Field(
        True,
        description="Retrain in a child process, so the retrain never holds the server's interpreter lock (off: "
        "in a background thread of the server).",
    )


@pydantic_dataclass(frozen=True, slots=True)
class ZeroShotOptions:
    """How the zero-shot prior is built (its prompt vectors are cached per value)."""

    level: int = Field(1, ge=1, le=MAX_CATEGORY_DEPTH, description="Taxonomy level zero-shot and hybrid choose at.")
    temperature: float = Field(0.05, gt=0.0, le=10.0, description="Softmax temperature over prompt cosines.")


@pydantic_dataclass(frozen=True, slots=True)
class CalibrationOptions:
    """Whether and how the path confidence is learned (:mod:`semcat.categorize.calibration`);
    trained with the linear head, a change retrains both."""

    enabled: bool = Field(
        True,
        description="Learn the path confidence (and the auto/review decision) from out-of-fold predictions of the "
        "store's labeled products, trained with the linear head (off: every decision is 'review').",
    )
    folds: int | None = Field(
        None,
        ge=2,
        le=20,
        description="Folds of the out-of-fold predictions (each trains a head on the others: more folds, a truer "
        "confidence and a longer training); unset: 10 for a small catalog, 5 past CalibrationRecipe.small_catalog "
        "labeled products.",
    )


@dataclass(frozen=True, slots=True)
class CalibrationRecipe:
    """The calibration's fixed rules (not settings: the published figures rest on them)."""

    # below this many labeled products, 10 folds (90% of the catalog is much closer to the
    # served head than 80%, and the heads are cheap); 5 from here on
    small_catalog: int = 10_000
    min_products: int = 100  # fewer labeled products: no calibration, every decision 'review'
    min_support: int = 2  # labeled neighbors under a path for it to be filed automatically
    # a level of product names, not categories, is left out of the default depth: more than
    # this share of the labeled products reaching it are alone in their node there
    name_level_alone: float = 1 / 3
    # from this many out-of-fold predictions on, the calibrators also read the levels above
    # theirs (fewer: the trees fit noise; docs/design-notes.md, "The levels above")
    levels_above_rows: int = 5_000
    # near-duplicates are set aside (their label no longer decides for a copy) when, among
    # the out-of-fold predictions they decided, those only the other neighbors' vote got
    # right outnumber those only the near-duplicates got right by more than this many
    # standard deviations of the difference (a one-sided sign test; docs/design-notes.md,
    # "A catalog that files a product twice")
    set_aside_z: float = 2.0


DEFAULTS = QueryOptions()
CALIBRATION_DEFAULTS = CalibrationOptions()
CALIBRATION_RECIPE = CalibrationRecipe()
HEAD_DEFAULTS = HeadOptions()
HNSW_DEFAULTS = HnswOptions()
RETRAIN_DEFAULTS = RetrainOptions()
ZERO_SHOT_DEFAULTS = ZeroShotOptions()
