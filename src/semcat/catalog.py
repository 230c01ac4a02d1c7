"""Product records and catalog readers (CSV, TSV, JSONL, Parquet).

A reader never lets one bad row kill a run: malformed rows are collected in the
report with their row numbers and a reason, and the rest is returned. Only a file
that cannot be read at all (missing, empty, not decodable, no text column) raises
:class:`~semcat.errors.CatalogError`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcat.errors import CatalogError, InvalidInputError

PATH_JOIN = " > "
FORMATS = ("csv", "tsv", "jsonl", "parquet")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

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
_WS = re.compile(r"\s+")


def clean_text(value: object) -> str:
    """Collapse whitespace; ``None`` and NaN become the empty string."""
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN from Parquet/pandas
        return ""
    return _WS.sub(" ", str(value)).strip()


def parse_category(value: object, separator: str | None = None) -> tuple[str, ...]:
    """Turn a category cell into a taxonomy path.

    Accepts a list of levels, a plain name, ``"A > B > C"``, ``"A >> B"`` and
    Flipkart's ``'["A >> B >> C"]'``. ``separator`` forces one separator; ``""``
    means never split.
    """
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(p for p in (clean_text(v) for v in value) if p)
    text = clean_text(value)
    if text.startswith("[") and text.endswith("]"):
        try:
            decoded = json.loads(text)
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
        separator = ">>" if ">>" in text else (">" if ">" in text else "")
    parts = text.split(separator) if separator else [text]
    return tuple(p for p in (clean_text(p) for p in parts) if p)


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
        return "; ".join(p for p in (clean_text(x) for x in _flatten_attributes(value)) if p)
    text = clean_text(value)
    if not text or text.lower() in ("nil", "null", "none", "{}", "[]"):
        return ""
    if text[:1] in "{[":
        try:
            return parse_attributes(json.loads(re.sub(r"=>\s*nil\b", ": null", text).replace("=>", ":")))
        except ValueError:
            pairs = _PAIR.findall(text)
            if pairs:
                return "; ".join(f"{clean_text(k)}: {clean_text(v)}" for k, v in pairs)
    return text


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

    def text(self, fields: Sequence[str] = ("title", "brand", "description", "attributes")) -> str:
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
        product = cls(
            id=clean_text(id),
            title=clean_text(title),
            description=clean_text(description),
            brand=clean_text(brand),
            image=clean_text(image) or None,
            category=parse_category(category, separator),
            attributes=parse_attributes(attributes),
        )
        if not product.id:
            raise InvalidInputError("product id is empty")
        if not product.has_text:
            raise InvalidInputError(f"product {product.id!r} has no text: give a title or a description")
        return product


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


@dataclass(frozen=True, slots=True)
class RejectedRow:
    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class CatalogReport:
    """What reading a catalog produced: the products and everything that was wrong."""

    path: Path
    format: str
    columns: ColumnMap
    rows_read: int = 0
    products: list[Product] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def labeled(self) -> int:
        return sum(1 for p in self.products if p.category)

    def summary_lines(self, max_rows: int = 20) -> list[str]:
        lines = [
            f"read {self.rows_read} rows from {self.path} ({self.format}; columns: {self.columns.describe()})",
            f"  valid products: {len(self.products)} ({self.labeled} labeled)",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        if self.duplicates:
            extra = sum(len(rows) - 1 for rows in self.duplicates.values())
            lines.append(
                f"  duplicate ids: {len(self.duplicates)} ids on {extra} extra rows; the last row of each wins"
            )
            for pid, rows in list(self.duplicates.items())[:max_rows]:
                lines.append(f"    id {pid!r} on rows {', '.join(map(str, rows))}")
        if self.rejected:
            lines.append(f"  rejected rows: {len(self.rejected)}")
            for rej in self.rejected[:max_rows]:
                lines.append(f"    {rej}")
            if len(self.rejected) > max_rows:
                lines.append(f"    ... and {len(self.rejected) - max_rows} more")
        return lines


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise CatalogError(f"unknown catalog format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise CatalogError(
            f"cannot tell the format of {path.name} from its extension; "
            f"use .csv, .tsv, .jsonl or .parquet, or pass --format"
        )
    return found


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


def _first_bad_line(path: Path, encoding: str) -> tuple[int, str]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return number, f"byte 0x{raw[exc.start]:02x}"
    return 0, "unknown byte"


def _encoding_error(path: Path, encoding: str) -> CatalogError:
    line, what = _first_bad_line(path, encoding)
    return CatalogError(
        f"{path.name} is not valid {encoding} text ({what} on line {line}); "
        "save it as UTF-8 or pass its encoding, e.g. --encoding cp1252"
    )


def _sniff_delimiter(first_line: str, default: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts.get(default, 0) else default


def _iter_delimited(path: Path, fmt: str, encoding: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (row number, record or error reason). Row 1 is the header, as in a spreadsheet."""
    csv.field_size_limit(1 << 30)
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        with path.open("r", encoding=enc, newline="") as fh:
            first = fh.readline()
            if not first.strip():
                raise CatalogError(f"{path.name} is empty: expected a header row and products")
            delimiter = _sniff_delimiter(first, "\t" if fmt == "tsv" else ",")
            fh.seek(0)
            reader = csv.reader(fh, delimiter=delimiter)
            header = [h.strip() for h in next(reader)]
            yield 1, {"__header__": header}
            row = 1
            while True:
                row += 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    yield row, f"unparsable CSV ({exc})"
                    continue
                if not values or all(not v.strip() for v in values):
                    row -= 1  # blank lines are not rows
                    continue
                if len(values) != len(header):
                    yield (
                        row,
                        (
                            f"has {len(values)} fields but the header has {len(header)} "
                            f"(line {reader.line_num}; check quoting and the delimiter)"
                        ),
                    )
                    continue
                yield row, dict(zip(header, values, strict=True))
    except UnicodeDecodeError:
        raise _encoding_error(path, encoding) from None


def _iter_jsonl(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    try:
        with path.open("r", encoding=encoding) as fh:
            text_start = fh.read(1)
            if not text_start.strip() and not fh.read(1024).strip():
                raise CatalogError(f"{path.name} is empty: expected one JSON object per line")
            fh.seek(0)
            if text_start == "[":  # a plain JSON array of objects
                try:
                    items = json.load(fh)
                except ValueError as exc:
                    raise CatalogError(f"{path.name} is not valid JSON: {exc}") from None
                for number, item in enumerate(items, start=1):
                    yield number, item if isinstance(item, dict) else "is not a JSON object"
                return
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError as exc:
                    yield number, f"unparsable JSON ({exc.args[0] if exc.args else exc})"
                    continue
                yield number, item if isinstance(item, dict) else "is not a JSON object"
    except UnicodeDecodeError:
        raise _encoding_error(path, encoding) from None


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise CatalogError(f"{path.name} is not a readable Parquet file: {exc}") from None
    yield 0, {"__header__": list(parquet.schema_arrow.names)}
    number = 0
    for batch in parquet.iter_batches(batch_size=8192):
        for record in batch.to_pylist():
            number += 1
            yield number, record


def _records(path: Path, fmt: str, encoding: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    """Header (union of keys for JSONL) and the row iterator."""
    if fmt in ("csv", "tsv"):
        it = _iter_delimited(path, fmt, encoding)
    elif fmt == "parquet":
        it = _iter_parquet(path)
    else:
        items = list(_iter_jsonl(path, encoding))
        keys: dict[str, None] = {}
        for _, item in items:
            if isinstance(item, dict):
                keys.update(dict.fromkeys(item))
        if not keys:
            raise CatalogError(f"{path.name} holds no JSON object at all")
        return list(keys), iter(items)
    _, first = next(it)
    assert isinstance(first, dict)
    return first["__header__"], it


def rows_to_products(
    rows: Iterable[tuple[int, Mapping[str, Any] | str]],
    columns: ColumnMap,
    report: CatalogReport,
) -> None:
    """Validate rows into products, filling the report (last duplicate id wins)."""
    by_id: dict[str, Product] = {}
    seen_rows: dict[str, list[int]] = {}
    for number, record in rows:
        report.rows_read += 1
        if isinstance(record, str):
            report.rejected.append(RejectedRow(number, record))
            continue
        pid = clean_text(record.get(columns.id)) if columns.id else str(number)
        if not pid:
            report.rejected.append(RejectedRow(number, f"no id (column {columns.id!r} is empty)"))
            continue
        if len(columns.category) == 1:
            category = parse_category(record.get(columns.category[0]), columns.category_separator)
        else:
            category = tuple(c for c in (clean_text(record.get(col)) for col in columns.category) if c)
        product = Product(
            id=pid,
            title=clean_text(record.get(columns.title)) if columns.title else "",
            description=clean_text(record.get(columns.description)) if columns.description else "",
            brand=clean_text(record.get(columns.brand)) if columns.brand else "",
            image=(clean_text(record.get(columns.image)) or None) if columns.image else None,
            category=category,
            attributes=parse_attributes(record.get(columns.attributes)) if columns.attributes else "",
        )
        if not product.has_text:
            report.rejected.append(RejectedRow(number, f"no text: title and description are empty (id {pid!r})"))
            continue
        seen_rows.setdefault(pid, []).append(number)
        by_id.pop(pid, None)  # re-insert so the last occurrence keeps its position
        by_id[pid] = product
    report.products = list(by_id.values())
    report.duplicates = {pid: rows for pid, rows in seen_rows.items() if len(rows) > 1}


def read_catalog(
    path: str | Path,
    columns: ColumnMap | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
) -> CatalogReport:
    """Read a catalog file into products plus a report of what was rejected and why."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"catalog file not found: {path}")
    if path.is_dir():
        raise CatalogError(f"{path} is a directory, not a catalog file")
    if path.stat().st_size == 0:
        raise CatalogError(f"{path.name} is empty (0 bytes)")
    fmt = detect_format(path, fmt)
    try:
        header, rows = _records(path, fmt, encoding)
    except LookupError:
        raise CatalogError(f"unknown encoding {encoding!r}") from None
    resolved, notes = resolve_columns(header, columns)
    report = CatalogReport(path=path, format=fmt, columns=resolved, notes=notes)
    try:
        rows_to_products(rows, resolved, report)
    except LookupError:
        raise CatalogError(f"unknown encoding {encoding!r}") from None
    if report.rows_read == 0:
        raise CatalogError(f"{path.name} has a header but no product rows")
    return report
