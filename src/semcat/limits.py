"""Input limits, in one place, enforced the same way at every door.

The HTTP schemas (422 naming the field), the catalog readers (the row rejected with its
row number) and the Python API (:meth:`semcat.catalog.Product.build`) all check products
with these functions, so one rule holds everywhere. Each check raises
:class:`~semcat.errors.InvalidInputError` with a message that names the field and the
limit, never anything else.
"""

from __future__ import annotations

import functools
import json
import sys
import unicodedata
from typing import Any

from semcat.errors import InvalidInputError

MAX_ID_CHARS = 512
MAX_TITLE_CHARS = 2_000
MAX_DESCRIPTION_CHARS = 50_000
MAX_BRAND_CHARS = 500
MAX_ATTRIBUTES_CHARS = 50_000
MAX_CATEGORY_DEPTH = 20  # taxonomy levels; real taxonomies have 3 to 8
MAX_LEVEL_CHARS = 300  # one level's name
MAX_NESTING = 20  # JSON nesting in an attributes or category value
MAX_IMAGE_REF_CHARS = 1_000
# what one categorization or search may ask for (the API's fields and form, the CLI, Python)
MAX_K = 1_000  # neighbors
MAX_TOP_N = 100  # alternatives listed
MAX_CATEGORY_FILTER_CHARS = 1_000  # a category filter's length
LISTED_NEIGHBORS = 10  # neighbors a prediction lists in the API's answer when not told
MAX_LISTED_NEIGHBORS = 100  # ... at most (the vote still uses k of them)
MAX_REVIEW_ITEMS = 1_000_000  # products in one review session
PAGE = 50  # listed items (a session's, a category's products) per page when not told
MAX_PAGE = 1_000  # ... at most

FIELD_LIMITS = {
    "title": MAX_TITLE_CHARS,
    "description": MAX_DESCRIPTION_CHARS,
    "brand": MAX_BRAND_CHARS,
    "attributes": MAX_ATTRIBUTES_CHARS,
    "image": MAX_IMAGE_REF_CHARS,
}


# characters an id may not hold: controls (tab, NUL, NEL...), format characters (zero-width,
# BOM, the bidi overrides that make one id read as another), line and paragraph separators,
# lone surrogates
_NOT_IN_ID = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a lone surrogate",
}


def check_id(value: str, field: str = "id") -> str:
    """A product id as it will be stored and answered: 1 to 512 characters in Unicode NFC.

    An id is never rewritten beyond NFC (two spellings of one text), so every id accepted is
    reachable byte for byte as answered and two different ids never become one: surrounding
    whitespace, control, format and bidi characters are refused, not stripped, and so is
    U+FFFD, the mark that bytes were not valid UTF-8 (two different broken ids would read
    alike). ``/`` is allowed: the API's product routes take it."""
    if not value or not value.strip():
        raise InvalidInputError(f"{field} is empty")
    if len(value) > MAX_ID_CHARS:
        raise InvalidInputError(f"{field} has {len(value):,} characters; the limit is {MAX_ID_CHARS}")
    for c in value:
        kind = _NOT_IN_ID.get(unicodedata.category(c))
        if kind:
            raise InvalidInputError(f"{field} contains {kind} (U+{ord(c):04X})")
        if c == "\ufffd":
            raise InvalidInputError(f"{field} is not valid UTF-8 (it holds U+FFFD, the replacement character)")
    if value != value.strip():
        raise InvalidInputError(f"{field} starts or ends with whitespace")
    if value.endswith(HISTORY_SUFFIX):
        raise InvalidInputError(
            f"{field} ends in {HISTORY_SUFFIX!r}, which the API reads as a product's label history "
            "(GET /products/{id}/history)"
        )
    if value in _DOT_SEGMENTS:
        raise InvalidInputError(
            f"{field} {value!r} cannot be read back: HTTP clients drop a '.' or '..' path segment "
            "(GET /products/.. is GET /)"
        )
    return unicodedata.normalize("NFC", value)


_DOT_SEGMENTS = (".", "..")
HISTORY_SUFFIX = "/history"  # the API's route for a product's label history: no id ends in it


def _char(code: int) -> str:
    r"""A character as a pattern writes it: ``\xHH`` / ``\uXXXX`` in the BMP (read alike by JSON
    Schema's ECMA-262 patterns and by Python), the character itself past it (Python's ``\U``
    escape is not ECMA's); never a lone surrogate, which JSON's UTF-8 cannot carry."""
    if code <= 0xFF:  # \xHH: schemathesis's generator ignored \u0000-\u001f and drew controls
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


@functools.cache
def id_schema() -> dict[str, Any]:
    """:func:`check_id`'s rule as JSON Schema (the OpenAPI's ids and path parameters): the
    characters it refuses, surrounding whitespace and the length as a pattern, so a client
    generated from the schema sends ids the API accepts; the dot segments and the history
    suffix in the description."""
    bad: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in _NOT_IN_ID or code == 0xFFFD:
            if bad and bad[-1][1] == code - 1:
                bad[-1] = (bad[-1][0], code)
            else:
                bad.append((code, code))
    ranges = "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in bad)
    edge = rf"[^\s{ranges}]"
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_CHARS,
        "pattern": f"^{edge}(?:[^{ranges}]*{edge})?$",
        # said in words, not as a lookahead or a `not`: generators from the schema (schemathesis)
        # then ignore the pattern and send ids any reader refuses
        "description": f"Stored as sent, in Unicode NFC; not '.' or '..', and not ending in '{HISTORY_SUFFIX}'.",
    }


def not_blank_category(value: str | None) -> str | None:
    """A category filter (a request's ``category``) is a path or absent: blank is refused,
    not read as "every category" (the OpenAPI says it as the pattern ``\\S``). Unlike the
    checks above it is a pydantic validator (the request models' and the options'), so it
    raises ValueError, which pydantic reports at the field."""
    if value is not None and not value.strip():
        raise ValueError("category is empty: omit it to let every category vote")
    return value


def check_length(field: str, value: str) -> str:
    limit = FIELD_LIMITS[field]
    if len(value) > limit:
        raise InvalidInputError(f"{field} has {len(value):,} characters; the limit is {limit:,}")
    return value


def check_category(levels: tuple[str, ...], field: str = "category") -> tuple[str, ...]:
    """A taxonomy path's levels: at most MAX_CATEGORY_DEPTH, each a name of at most
    MAX_LEVEL_CHARS with a letter or digit in it and no ``>`` (the path separator: ``"Mugs >
    Ceramic"`` as one level would read back as two)."""
    if len(levels) > MAX_CATEGORY_DEPTH:
        raise InvalidInputError(f"{field} has {len(levels):,} levels; the limit is {MAX_CATEGORY_DEPTH}")
    for level in levels:
        if len(level) > MAX_LEVEL_CHARS:
            raise InvalidInputError(f"{field} has a level of {len(level):,} characters; the limit is {MAX_LEVEL_CHARS}")
        if ">" in level:
            raise InvalidInputError(
                f"{field} level {level[:80]!r} holds '>', the path separator: give the levels as a list, "
                "or one separator throughout"
            )
        if not any(c.isalnum() for c in level):
            raise InvalidInputError(f"{field} level {level[:80]!r} has no letter or digit")
    return levels


def nesting(value: Any) -> int:
    """How deeply lists and mappings nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_NESTING:
            return deepest  # deep enough to refuse: no need to walk the rest
        stack += [(child, depth + 1) for child in children]
    return deepest


def check_nesting(value: Any, field: str) -> Any:
    if nesting(value) > MAX_NESTING:
        raise InvalidInputError(f"{field} is nested more than {MAX_NESTING} levels deep")
    return value


def loads(text: str, field: str) -> Any:
    """``json.loads`` whose too-deep input is an :class:`InvalidInputError` naming the field
    (the decoder would otherwise raise RecursionError); malformed JSON stays a ValueError."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidInputError(f"{field} is nested more than {MAX_NESTING} levels deep") from None
    return check_nesting(value, field)


def scalar(value: Any, field: str) -> Any:
    """A cell that must hold text (a title, an id): a JSON object or list is refused rather
    than stored as its Python repr."""
    if isinstance(value, dict | list | tuple):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise InvalidInputError(f"{field} is {kind}, not text")
    return value
