"""Which column of a catalog holds which product field: detected by name (the common
marketplace exports), or mapped by the caller."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from semcat.errors import CatalogError

# Header names recognised without any mapping, in order of preference (case-insensitive).
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("id", "uniq_id", "product_id", "sku", "item_id", "offer_id"),
    "title": ("title", "product_name", "name", "product_title", "libelle", "item_name"),
    "description": ("description", "product_description", "desc", "body"),
    "brand": ("brand", "marque", "manufacturer"),
    "attributes": (
        "attributes",
        "product_specifications",
        "specifications",
        "specs",
        "characteristics",
        "caracteristiques",
    ),
    "image": ("image", "image_path", "image_file", "img", "picture"),
    "category": (
        "category",
        "category_path",
        "product_category_tree",
        "category_tree",
        "categories",
        "category_label",
        "categorie",
        "label",
    ),
}
# Multi-column taxonomies: Categorie1/Categorie2/..., cat_l1/cat_l2/..., level1/level2/...
_LEVEL_COLUMN = re.compile(r"^(categorie|category|cat_l|cat|level|category_level_?)(\d+)$", re.IGNORECASE)


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
    notes: list[str] = []

    def check(name: str | None, what: str) -> str | None:
        if name is None:
            return None
        if name in header:
            return name
        if name.lower() in by_lower:
            return by_lower[name.lower()]
        raise CatalogError(f"{what} column {name!r} is not in the file; its columns are: {', '.join(header)}")

    def detect(what: str) -> str | None:
        for candidate in _CANDIDATES[what]:
            if candidate in by_lower:
                return by_lower[candidate]
        return None

    result = ColumnMap(category_separator=given.category_separator)
    for what in ("id", "title", "description", "brand", "image", "attributes"):
        explicit = check(getattr(given, what), what)
        setattr(result, what, explicit if explicit is not None else detect(what))
    if given.category:
        result.category = [c for c in (check(c, "category") for c in given.category) if c]
    else:
        single = detect("category")
        levels = sorted(
            ((int(m.group(2)), h) for h in header if (m := _LEVEL_COLUMN.match(h.strip()))),
        )
        if single:
            result.category = [single]
        elif levels:
            result.category = [h for _, h in levels]
            notes.append(f"category path taken from level columns {', '.join(result.category)}")
    if not (result.title or result.description):
        raise CatalogError(
            "no text column found: the file needs a title or description column "
            f"(e.g. title, product_name, name, description); its columns are: {', '.join(header)}. "
            "Map yours with --title-col / --description-col"
        )
    if result.id is None:
        notes.append("no id column: products get their row number as id (map one with --id-col)")
    if not result.category:
        notes.append("no category column: the products are unlabeled")
    return result, notes
