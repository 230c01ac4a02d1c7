"""Request and response bodies of the HTTP API.

Long module: every body the API reads or writes is declared here, next to the shared
field descriptions and validators, so the OpenAPI schema and the checks cannot drift
apart between routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import UploadFile
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from semcat import limits
from semcat.catalog import clean_text, parse_attributes, parse_category
from semcat.errors import InvalidInputError
from semcat.options import SIMILAR_K, CategoryFilter, Neighbors, RequestOptions

_TITLE = Field("", max_length=limits.MAX_TITLE_CHARS, description="Product title.")
_DESCRIPTION = Field("", max_length=limits.MAX_DESCRIPTION_CHARS, description="Product description.")
_BRAND = Field("", max_length=limits.MAX_BRAND_CHARS, description="Brand.")
CategoryIn = str | list[str] | None
AttributesIn = str | dict[str, Any] | list[Any] | None
_ATTRIBUTES = Field(
    None,
    description="Attributes/specifications: text, an object ({'Type': 'Mug'}) or a list of {'key', 'value'} pairs.",
)
_CATEGORY = Field(
    None,
    description="Taxonomy path: 'A > B > C', 'A >> B', or a list of levels. Omit for an unlabeled product.",
)


def _within_limits(check: Any, value: Any) -> Any:
    """Run a semcat.limits (or parse) check as a pydantic validator: its message, at the field."""
    try:
        check(value)
    except InvalidInputError as exc:
        raise ValueError(exc.message) from None
    return value


def _check_id(value: str) -> str:
    try:
        return limits.check_id(value)
    except InvalidInputError as exc:
        raise ValueError(f"product {exc.message}") from None


def _check_optional_id(value: str | None) -> str | None:
    return None if value is None else _check_id(value)


def _check_attributes(value: AttributesIn) -> AttributesIn:
    return _within_limits(parse_attributes, value)


def _check_category(value: CategoryIn) -> CategoryIn:
    return _within_limits(parse_category, value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=limits.MAX_DESCRIPTION_CHARS)


def _require_text(title: str, description: str, image: str | None = None) -> None:
    if not clean_text(title) and not clean_text(description) and not image:
        raise ValueError("give a non-empty title or description" + (" (or an image)" if image is not None else ""))


_IMAGE = Field(
    None,
    max_length=40_000_000,
    description="A product photo, base64-encoded (a 'data:image/...;base64,' prefix is allowed). Needs a CLIP "
    "model. Server paths are never accepted.",
)


class ItemIn(_Strict):
    """A product to categorize: it need not be stored. Text, an image, or both."""

    id: str | None = Field(
        None,
        min_length=1,
        max_length=limits.MAX_ID_CHARS,
        description="Your id for the item (a catalog's SKU): its prediction echoes it.",
    )
    title: str = _TITLE
    description: str = _DESCRIPTION
    brand: str = _BRAND
    attributes: AttributesIn = _ATTRIBUTES
    image_base64: str | None = _IMAGE

    _attributes = field_validator("attributes")(_check_attributes)

    _id = field_validator("id")(_check_optional_id)

    @model_validator(mode="after")
    def _has_text(self) -> ItemIn:
        _require_text(self.title, self.description, self.image_base64 or "")
        return self


class UploadForm(RequestOptions):
    """``/categorize/image``'s multipart form: the photo, the product's text fields (as the
    JSON body bounds them; attributes as text), and the request's options."""

    image: UploadFile = Field(description="The product photo (JPEG, PNG, WebP...).")
    title: str = _TITLE
    description: str = _DESCRIPTION
    brand: str = _BRAND
    attributes: str = Field("", max_length=limits.MAX_ATTRIBUTES_CHARS, description=_ATTRIBUTES.description)


class CategorizeRequest(_Strict, RequestOptions):
    """One product (``title``/``description``/``brand`` at the top) or a batch (``items``),
    with the request's categorization options (:class:`semcat.options.RequestOptions`)."""

    items: list[ItemIn] | None = Field(None, min_length=1, description="A batch of products.")
    title: str | None = Field(None, max_length=limits.MAX_TITLE_CHARS)
    description: str | None = Field(None, max_length=limits.MAX_DESCRIPTION_CHARS)
    brand: str | None = Field(None, max_length=limits.MAX_BRAND_CHARS)
    attributes: AttributesIn = _ATTRIBUTES
    image_base64: str | None = _IMAGE
    _attributes = field_validator("attributes")(_check_attributes)

    @model_validator(mode="after")
    def _one_form(self) -> CategorizeRequest:
        single = any(
            v is not None for v in (self.title, self.description, self.brand, self.attributes, self.image_base64)
        )
        if self.items is not None and single:
            raise ValueError("give either 'items' or one product's fields, not both")
        if self.items is None:
            if not single:
                raise ValueError("give a product ('title'/'description'/'image_base64') or a batch ('items')")
            _require_text(self.title or "", self.description or "", self.image_base64 or "")
        return self

    def products(self) -> list[ItemIn]:
        if self.items is not None:
            return self.items
        return [
            ItemIn(
                title=self.title or "",
                description=self.description or "",
                brand=self.brand or "",
                attributes=self.attributes,
                image_base64=self.image_base64,
            )
        ]


class CategoryScoreOut(BaseModel):
    category: str
    score: float


class LevelOut(BaseModel):
    level: int
    category: str
    score: float = Field(description="Mixed score of the path down to this level (not a probability).")
    top: list[CategoryScoreOut]
    confidence: float | None = Field(
        None, description="Estimated probability that the path down to this level is right."
    )


class NeighborOut(BaseModel):
    id: str
    score: float = Field(description="Cosine similarity to the query.")
    category: str | None
    title: str
    space: str = Field("text", description="Where it was found: 'text' or 'image' vectors.")
    image: bool = Field(False, description="Whether a photo is stored for it (GET /images/{id} serves it).")


class PredictionOut(BaseModel):
    id: str | None = Field(None, description="The item's id, when the request gave one.")
    category: str | None = Field(description="Predicted taxonomy path, ' > '-joined.")
    main_category: str | None
    confidence: float | None = Field(
        None,
        description="Estimated probability that the whole path is right, calibrated on the store's own labeled "
        "products (when 'calibrated' is false: the path's mixed score, not a probability).",
    )
    decision: Literal["auto", "review"] = Field(
        "review",
        description="'auto': file it without a look (its confidence reaches the threshold learned for the "
        "requested precision); 'review': have a person look.",
    )
    decision_reason: str | None = Field(None, description="Why the prediction goes to review (null: auto).")
    calibrated: bool = Field(False, description="Whether the confidence is calibrated (see /ready).")
    score: float = Field(description="Mixed score of the main category (level 1), not a probability.")
    uncertain: bool = Field(description="The path is more likely wrong than right (confidence below 0.5).")
    levels: list[LevelOut]
    top: list[CategoryScoreOut]
    neighbors: list[NeighborOut]
    method: str
    near_duplicate: bool = Field(description="Only near-duplicates of the query voted.")
    modality: str = Field("text", description="What decided: 'text', 'image' or 'both'.")


class CategorizeResponse(BaseModel):
    predictions: list[PredictionOut]
    model: str


class SimilarRequest(_Strict):
    text: str | None = Field(None, max_length=50_000, description="Search by text...")
    id: str | None = Field(
        None, max_length=limits.MAX_ID_CHARS, description="...or by a stored product's id (itself excluded)..."
    )
    image_base64: str | None = Field(
        None, max_length=40_000_000, description="...or by a base64 photo: nearest stored photos (CLIP models)."
    )
    k: Neighbors = Field(SIMILAR_K, description="How many products.")
    category: CategoryFilter | None = Field(None, description="Only products under this category.")

    _id = field_validator("id")(_check_optional_id)
    _category = field_validator("category")(limits.not_blank_category)

    @model_validator(mode="after")
    def _one_query(self) -> SimilarRequest:
        if sum(v is not None for v in (self.text, self.id, self.image_base64)) != 1:
            raise ValueError("give exactly one of 'text', 'id' or 'image_base64'")
        if self.text is not None and not self.text.strip():
            raise ValueError("'text' is empty")
        if self.id is not None and not self.id.strip():
            raise ValueError("'id' is empty")
        return self


class ProductOut(BaseModel):
    id: str
    title: str
    description: str
    brand: str
    attributes: str
    image: str | None
    category: str | None
    category_levels: list[str]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ProductOut:
        return cls(
            id=str(payload["id"]),
            title=payload.get("title") or "",
            description=payload.get("description") or "",
            brand=payload.get("brand") or "",
            attributes=payload.get("attributes") or "",
            image=payload.get("image"),
            category=payload.get("category"),
            category_levels=list(payload.get("category_levels") or []),
        )


class SimilarHit(BaseModel):
    id: str
    score: float
    product: ProductOut


class SimilarResponse(BaseModel):
    results: list[SimilarHit]


# a product id in a route's path, held to the same rule as one in a body (422 naming the
# problem); answered and stored in NFC, so a GET with either spelling finds the product
ProductId = Annotated[str, AfterValidator(_check_id)]


class ProductIn(_Strict):
    """A product to store (its id comes from the URL)."""

    title: str = _TITLE
    description: str = _DESCRIPTION
    brand: str = _BRAND
    attributes: AttributesIn = _ATTRIBUTES
    category: CategoryIn = _CATEGORY

    _attributes = field_validator("attributes")(_check_attributes)
    _category = field_validator("category")(_check_category)

    @model_validator(mode="after")
    def _has_text(self) -> ProductIn:
        _require_text(self.title, self.description)
        return self


class ProductWithId(ProductIn):
    id: str = Field(min_length=1, max_length=limits.MAX_ID_CHARS)

    _id = field_validator("id")(_check_id)


class ProductsRequest(_Strict):
    items: list[ProductWithId] = Field(min_length=1)


class ChangeOut(BaseModel):
    """One change of a product's label."""

    seq: int = Field(description="Its place in the store's label history.")
    at: str = Field(description="When (UTC, ISO 8601).")
    old: str | None = Field(description="The label before (null: the product was new, or unlabeled).")
    new: str | None = Field(description="The label after (null: removed, or the product deleted).")
    source: str = Field(description="What wrote it: cli, api, review or python.")
    actor: str | None = Field(
        None, description="The name of the API key the change was made with (SEMCAT_API_KEYS); null: unnamed."
    )

    @classmethod
    def of(cls, change: Any) -> ChangeOut:
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(change.at, tz=UTC).isoformat(timespec="milliseconds")
        return cls(seq=change.seq, at=when, old=change.old, new=change.new, source=change.source, actor=change.actor)


class HistoryOut(BaseModel):
    id: str
    changes: list[ChangeOut]


class ProductPage(BaseModel):
    """A page of stored products (``GET /products``)."""

    category: str | None = Field(description="The category listed (null: every product).")
    total: int = Field(description="Products under it, on every page.")
    products: list[ProductOut]
    next: str | None = Field(description="The next page's cursor (null: this is the last page).")


class RelabelIn(_Strict):
    """A stored product's new label (``PATCH /products/{id}``)."""

    category: CategoryIn = Field(
        description="Taxonomy path: 'A > B > C', 'A >> B' or a list of levels; null: unlabeled."
    )

    _category = field_validator("category")(_check_category)


class UpsertResult(BaseModel):
    id: str
    status: Literal["created", "updated", "relabeled", "unchanged"]


class BatchUpsertResult(BaseModel):
    received: int
    indexed: int
    new: int
    changed: int
    relabeled: int
    unchanged: int
    duplicate_ids: list[str] = Field(description="Ids given more than once: the last one was kept.")


class CategoryCount(BaseModel):
    category: str
    count: int


class CategoriesResponse(BaseModel):
    level: int | None
    categories: list[CategoryCount]
    products: int
    labeled: int


class MethodOut(BaseModel):
    name: str
    label: str = Field(description="A short name for people.")
    description: str
    needs_prompts: bool = Field(description="Whether it reads the category names (zero-shot prior).")
    calibrated: bool = Field(description="Whether its confidence is calibrated and it can file automatically.")


class OptionsOut(BaseModel):
    """What a categorization request may set: the methods, the modalities, and each
    option's bounds (a form or client reads them instead of restating them)."""

    methods: list[MethodOut]
    modalities: list[str]
    bounds: dict[str, dict[str, float]] = Field(
        description="Per option, its bounds: ge / le (inclusive), gt / lt (exclusive), max_length."
    )


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    """/ready's body: shaped from :class:`semcat.engine.EngineStats` and the service's settings."""

    status: Literal["ready"]
    model: str
    store: str
    products: int
    labeled: int = Field(0, description="Products with a category (the ones that vote).")
    images: bool = Field(False, description="Whether the model embeds photos (CLIP): image_base64 is accepted.")
    photos: bool = Field(
        False, description="Whether stored products' photos are served (GET /images/{id}): an images root is set."
    )
    keyed_writes: bool = Field(False, description="Whether write routes need the X-API-Key header.")
    head_training: bool = Field(
        False,
        description="Whether the linear head is retraining after writes (in the background: the previous "
        "head answers until the new one is swapped in).",
    )
    depth: dict[str, Any] = Field(
        default_factory=dict,
        description="The default depth predicted ('value') and whether it was detected from the labels.",
    )
    confidence: dict[str, Any] = Field(
        default_factory=dict,
        description="The auto-file decision: target precision, the confidence threshold learned for it, the share "
        "of the store's labeled products it files automatically (out of fold) and how often those were right, "
        "whether a stored copy's label decides for a new listing of the same product ('near_duplicates'), or why "
        "everything goes to review.",
    )
    audit: dict[str, Any] = Field(
        default_factory=dict,
        description="The label audit: the latest one's state, and the latest finished one's suspects (per main "
        "category), conflicting near-duplicate groups and whether the store changed since (GET /audit).",
    )


class ErrorBody(BaseModel):
    error: str
    detail: str
