"""Which column of a catalog holds which product field: detected by name (the common
marketplace exports), or mapped by the caller."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from semcat.errors import CatalogError

# Header names recognised without any mapping, in order of preference. Headers are
# compared normalized (:func:`normalize`: "Body (HTML)" -> body_html, productDisplayName ->
# product_display_name). Sources: Flipkart, Shopify's product CSV, WooCommerce's export,
# Google Merchant Center feeds, Amazon listing reports and datasets, Open Food Facts, the
# fashion product images dataset (styles.csv), cdiscount, pricerunner.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": (
        "id", "uniq_id", "product_id", "sku", "item_id", "offer_id", "handle", "variant_sku", "asin", "code",
        "article_id",
    ),
    "title": (
        "title", "product_name", "name", "product_title", "product_display_name", "product", "libelle",
        "item_name", "product_name_en",
    ),
    "description": (
        "description", "product_description", "desc", "body", "body_html", "long_description",
        "short_description", "about_product", "generic_name",
    ),
    "brand": ("brand", "marque", "manufacturer", "vendor", "brands", "brand_name"),
    "attributes": (
        "attributes", "product_specifications", "specifications", "specs", "characteristics", "caracteristiques",
    ),
    "image": ("image", "image_path", "image_file", "img", "picture"),
    "category": (
        "category", "category_path", "product_category_tree", "category_tree", "product_category",
        "google_product_category", "product_type", "amazon_category_and_sub_category", "main_category_en",
        "main_category", "main_category_fr", "categories", "category_label", "categorie", "label",
    ),
}  # fmt: skip
# A category column that lists several categories, comma-separated (WooCommerce's
# "Clothing > Hoodies, Clothing"): the first one is the product's path.
_MULTI_CATEGORY = {"categories"}
# Taxonomies spread over named level columns, top first: any two or more present form the path.
_LEVEL_SETS: tuple[tuple[str, ...], ...] = (
    ("master_category", "sub_category", "article_type"),  # fashion product images (styles.csv)
    ("main_category", "sub_category"),  # Amazon product datasets
    ("category", "sub_category", "sub_sub_category"),
    ("category", "subcategory"),
    ("department", "category", "sub_category"),
)
# Multi-column taxonomies: Categorie1/Categorie2/..., cat_l1/cat_l2/..., level1/level2/...
_LEVEL_COLUMN = re.compile(r"^(categorie|category|cat_l|cat|level|category_level_?)_?(\d+)$", re.IGNORECASE)


def shown(header: Sequence[str], limit: int = 30) -> str:
    """Column names for a one-line message: control characters escaped, long names and
    long lists cut."""

    def one(name: str) -> str:
        name = name.encode("unicode_escape").decode("ascii") if not name.isprintable() else name
        return name if len(name) <= 60 else name[:57] + "..."

    names = [one(h) for h in header[:limit]]
    more = f" (and {len(header) - limit} more)" if len(header) > limit else ""
    return ", ".join(names) + more


def normalize(header: str) -> str:
    """A header as detection compares it: camelCase split, lower case, runs of anything
    but letters and digits as one underscore."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", header.strip())
    return re.sub(r"[^0-9a-z]+", "_", spaced.lower()).strip("_")


@dataclass
class ColumnMap:
    """Which source column holds which product field. ``category`` may name several
    columns (one per taxonomy level, top first)."""

    id: str | None = None
    title: str | None = None
    description: str | None = None
    brand: str | None = None
    image: str | None = None
    category: list[str] = field(default_factory=list)
    attributes: str | None = None
    category_separator: str | None = None
    category_multi: bool = False  # the category cell lists several categories: the first counts

    def describe(self) -> str:
        fields = {"id": self.id, "title": self.title, "description": self.description}
        fields |= {"brand": self.brand, "attributes": self.attributes, "image": self.image}
        parts = [f"{k}={v}" for k, v in fields.items() if v]
        if self.category:
            parts.append("category=" + "+".join(self.category))
        return ", ".join(parts)


def resolve_columns(header: Sequence[str], given: ColumnMap | None = None) -> tuple[ColumnMap, list[str]]:
    """Fill in a column map from the header: explicit choices are checked, the rest
    auto-detected. Returns the map and notes for the report."""
    given = given or ColumnMap()
    by_lower = {h.strip().lower(): h for h in header}
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(normalize(h), h)
    notes: list[str] = []

    def check(name: str | None, what: str) -> str | None:
        if name is None:
            return None
        if name in header:
            return name
        if name.lower() in by_lower:
            return by_lower[name.lower()]
        raise CatalogError(f"{what} column {name!r} is not in the file; its columns are: {shown(header)}")

    def detect(what: str) -> str | None:
        for candidate in _CANDIDATES[what]:
            if candidate in by_norm:
                return by_norm[candidate]
        return None

    result = ColumnMap(category_separator=given.category_separator)
    for what in ("id", "title", "description", "brand", "image", "attributes"):
        explicit = check(getattr(given, what), what)
        setattr(result, what, explicit if explicit is not None else detect(what))
    if given.category:
        result.category = [c for c in (check(c, "category") for c in given.category) if c]
    else:
        numbered = sorted((int(m.group(2)), h) for h in header if (m := _LEVEL_COLUMN.match(normalize(h))))
        named = max(([by_norm[n] for n in names if n in by_norm] for names in _LEVEL_SETS), key=len, default=[])
        single = detect("category")
        if len(named) >= 2:
            result.category = named
        elif single:
            result.category = [single]
            result.category_multi = normalize(single) in _MULTI_CATEGORY
        elif numbered:
            result.category = [h for _, h in numbered]
        if len(result.category) > 1:
            notes.append(f"category path taken from level columns {', '.join(result.category)}")
    if not (result.title or result.description):
        raise CatalogError(
            "no text column found: the file needs a title or description column "
            f"(e.g. title, product_name, name, description); its columns are: {shown(header)}. "
            "Map yours with --title-col / --description-col"
        )
    if result.id is None:
        notes.append("no id column: products get their row number as id (map one with --id-col)")
    return result, notes
