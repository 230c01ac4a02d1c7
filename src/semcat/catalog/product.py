"""The product record and its stored payload: one owner for both layouts.

:meth:`Product.payload` is what a store keeps beside a product's vectors; the indexer
adds the two bookkeeping hashes through :func:`stored_payload`, and
:func:`public_payload` strips them (and the filter prefixes) before a payload is shown
to a user. Text fields, taxonomy paths and attribute flattening live here too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from semcat import limits
from semcat.errors import InvalidInputError

PATH_JOIN = " > "
# what splits a category cell into levels, tried in this order; a level name never holds one
# (limits.check_category refuses it: a stored path is split on " > " again when read)
SEPARATORS = (">>", ">", "|")
# The product fields that can be embedded, in their default order (Settings.text_fields).
TEXT_FIELDS = ("title", "brand", "description", "attributes")
# Payload keys that are semcat's bookkeeping, not the product's: never shown to users.
INTERNAL_KEYS = ("text_hash", "payload_hash", "category_prefixes")
_WS = re.compile(r"\s+")


def cell_text(value: object) -> str:
    """A loose value as text, untouched otherwise; ``None`` and NaN become the empty string."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN from Parquet/pandas
            return ""
        if value.is_integer() and abs(value) < 2**53:  # an integer column pandas made float (it had a null)
            return str(int(value))
    return str(value)


# control characters (NUL, C1...) read as a space, at every door (the API, files, Python)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# a character that shows: anything but whitespace and the invisible format characters
# (zero-width space/joiners, bidi marks and overrides, word joiner, BOM, soft hyphen)
# (the OpenAPI's text fields carry it as their pattern: a text needs one such character)
VISIBLE_CHAR = r"[^\s\x00-\x1f\x7f-\x9f\xad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
_VISIBLE = re.compile(VISIBLE_CHAR)


def clean_text(value: object) -> str:
    """Collapse whitespace, control characters read as spaces; ``None``, NaN and a text with
    nothing visible in it (zero-width spaces, bidi marks) become the empty string, so an
    invisible title counts as no title."""
    text = _WS.sub(" ", _CONTROL.sub(" ", cell_text(value))).strip()
    return text if _VISIBLE.search(text) else ""


def product_id(value: object) -> str:
    """A loose id value (an API field, a file's cell) as the id stored: checked, never
    rewritten beyond NFC (:func:`semcat.limits.check_id`); empty when there is none."""
    text = cell_text(limits.scalar(value, "id"))
    return limits.check_id(text) if text else ""


def parse_category(value: object, separator: str | None = None) -> tuple[str, ...]:
    """Turn a category cell into a taxonomy path.

    Accepts a list of levels, a plain name, ``"A > B > C"``, ``"A >> B"`` and
    Flipkart's ``'["A >> B >> C"]'``. ``separator`` forces one separator; ``""``
    means never split.
    """
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        limits.check_nesting(value, "category")
        return limits.check_category(tuple(p for p in (clean_text(v) for v in value) if p))
    text = clean_text(value)
    if text.startswith("[") and text.endswith("]"):
        try:
            decoded = limits.loads(text, "category")
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            if len(decoded) == 1 and isinstance(decoded[0], str):
                text = clean_text(decoded[0])
            else:
                return parse_category(decoded, separator)
    if not text:
        return ()
    if separator is None:
        separator = next((sep for sep in SEPARATORS if sep in text), "")
    parts = [clean_text(p) for p in text.split(separator)] if separator else [text]
    while parts and not parts[-1]:  # "A > B > ": a trailing separator ends the path
        parts.pop()
    while parts and not parts[0]:
        parts.pop(0)
    if not parts:
        raise InvalidInputError(f"category {text!r} has no level name, only separators")
    if "" in parts:
        raise InvalidInputError(f"category {text!r} has an empty level between two separators")
    return limits.check_category(tuple(parts))


def category_schema() -> dict[str, Any]:
    """:func:`parse_category`'s rule as JSON Schema (the OpenAPI's category fields), in its
    two plain forms: a list of levels, or the levels joined by ``' > '``; null: unlabeled.
    A level has a letter or digit, no ``>`` (nor ``|`` in the joined form, where it would
    split), and at most ``MAX_LEVEL_CHARS`` characters; at most ``MAX_CATEGORY_DEPTH``
    levels. (Files may also give ``A >> B``, ``A | B`` or ``'["A >> B"]'``.)"""
    rest = rf"[^>|\x00-\x1f\x7f-\x9f]{{0,{limits.MAX_LEVEL_CHARS - 1}}}"
    level = rf"[^\W_]{rest}"
    return {
        "anyOf": [
            {"type": "string", "pattern": f"^{level}(?: > {level}){{0,{limits.MAX_CATEGORY_DEPTH - 1}}}$"},
            {
                "type": "array",
                "maxItems": limits.MAX_CATEGORY_DEPTH,
                "items": {"type": "string", "maxLength": limits.MAX_LEVEL_CHARS, "pattern": r"^[^>]*[^\W_][^>]*$"},
            },
            {"type": "null"},
        ]
    }


_PAIR = re.compile(r'"(?:key|name)"\s*(?:=>|:)\s*"([^"]*)"\s*,\s*"value"\s*(?:=>|:)\s*"([^"]*)"')


def parse_attributes(value: object) -> str:
    """Product attributes (specifications) as one text: ``"Type: Mug; Material: Ceramic"``.

    Accepts a mapping (``{"Type": "Mug"}``), a list of ``{"key"/"name", "value"}`` pairs,
    either as JSON text, Flipkart's Ruby-style dump
    (``{"product_specification"=>[{"key"=>"Type", "value"=>"Mug"}]}``), or plain text
    (kept as it is).
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, Mapping | list | tuple):
        limits.check_nesting(value, "attributes")
        flat = "; ".join(p for p in (clean_text(x) for x in _flatten_attributes(value)) if p)
        return limits.check_length("attributes", flat)
    text = clean_text(value)
    if not text or text.lower() in ("nil", "null", "none", "{}", "[]"):
        return ""
    if text[:1] in "{[":
        try:
            decoded = limits.loads(re.sub(r"=>\s*nil\b", ": null", text).replace("=>", ":"), "attributes")
            return parse_attributes(decoded)
        except ValueError:
            pairs = _PAIR.findall(text)
            if pairs:
                return limits.check_length(
                    "attributes", "; ".join(f"{clean_text(k)}: {clean_text(v)}" for k, v in pairs)
                )
    return limits.check_length("attributes", text)


def _flatten_attributes(value: object) -> list[str]:
    if isinstance(value, Mapping):
        key = value.get("key", value.get("name"))
        if "value" in value and (key is None or isinstance(key, str)):
            inner = ", ".join(_flatten_attributes(value["value"]))
            return [f"{key}: {inner}" if key else inner]
        if len(value) == 1 and isinstance(next(iter(value.values())), Mapping | list):
            return _flatten_attributes(next(iter(value.values())))  # a wrapper: {"specs": [...]}
        return [f"{k}: {', '.join(_flatten_attributes(v))}" for k, v in value.items() if v not in (None, "")]
    if isinstance(value, list | tuple):
        return [part for item in value for part in _flatten_attributes(item)]
    return [] if value is None else [str(value)]


def category_prefixes(path: Sequence[str]) -> list[str]:
    """``("A", "B", "C")`` -> ``["A", "A > B", "A > B > C"]``: what a level filter matches."""
    return [PATH_JOIN.join(path[: i + 1]) for i in range(len(path))]


@dataclass(frozen=True, slots=True)
class Product:
    """One catalog product. ``category`` is a taxonomy path, empty when unlabeled."""

    id: str
    title: str = ""
    description: str = ""
    brand: str = ""
    image: str | None = None
    category: tuple[str, ...] = ()
    attributes: str = ""

    @property
    def category_path(self) -> str | None:
        return PATH_JOIN.join(self.category) if self.category else None

    @property
    def has_text(self) -> bool:
        return bool(self.title or self.description)

    def text(self, fields: Sequence[str] = TEXT_FIELDS) -> str:
        """The text that gets embedded: the chosen fields in order, joined with '. '.

        The brand is skipped when the title already names it (Flipkart titles do).
        """
        parts: list[str] = []
        for name in fields:
            value = getattr(self, name)
            if not value:
                continue
            if name == "brand" and self.title and value.lower() in self.title.lower():
                continue
            parts.append(value.rstrip(". "))
        return ". ".join(parts)

    def payload(self) -> dict[str, Any]:
        """What the store keeps beside the vector (everything but the vector)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "brand": self.brand,
            "attributes": self.attributes,
            "image": self.image,
            "category": self.category_path,
            "category_levels": list(self.category),
            "category_prefixes": category_prefixes(self.category),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Product:
        """The product a stored payload describes (the inverse of :meth:`payload`)."""
        return cls(
            id=str(payload.get("id") or ""),
            title=payload.get("title") or "",
            description=payload.get("description") or "",
            brand=payload.get("brand") or "",
            image=payload.get("image"),
            category=tuple(payload.get("category_levels") or ()),
            attributes=payload.get("attributes") or "",
        )

    @classmethod
    def build(
        cls,
        id: object,
        title: object = None,
        description: object = None,
        brand: object = None,
        image: object = None,
        category: object = None,
        separator: str | None = None,
        attributes: object = None,
    ) -> Product:
        """Build a product from loose values (API bodies, CLI text), validating it."""
        values = {"title": title, "description": description, "brand": brand, "image": image}
        text = {name: limits.check_length(name, clean_text(limits.scalar(v, name))) for name, v in values.items()}
        product = cls(
            id=product_id(id),
            title=text["title"],
            description=text["description"],
            brand=text["brand"],
            image=text["image"] or None,
            category=parse_category(category, separator),
            attributes=parse_attributes(attributes),
        )
        if not product.id:
            raise InvalidInputError("product id is empty")
        if not product.has_text:
            raise InvalidInputError(f"product {product.id!r} has no text: give a title or a description")
        return product


def level_key(path: str | None, level: int | None) -> str | None:
    """Cut a ' > '-joined category path to its first ``level`` levels."""
    if path is None or level is None:
        return path
    return PATH_JOIN.join(path.split(PATH_JOIN)[:level])


def text_hash(model: str, text: str) -> str:
    """What decides whether a product must be re-embedded: the model and the embedded text."""
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()[:32]


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def stored_payload(product: Product, embedded_hash: str) -> dict[str, Any]:
    """The payload a store keeps for ``product``: :meth:`Product.payload` plus the hash of
    what was embedded (``text_hash``) and of everything else (``payload_hash``), which
    let a re-run skip unchanged products and only rewrite relabeled ones."""
    payload = product.payload()
    payload["text_hash"] = embedded_hash
    payload["payload_hash"] = payload_hash(product.payload())
    return payload


def public_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload without semcat's bookkeeping fields."""
    return {k: v for k, v in payload.items() if k not in INTERNAL_KEYS}
