"""Catalog readers (CSV, TSV, JSONL, Parquet, a pandas DataFrame) and column detection.

A reader never lets one bad row kill a run: malformed rows are collected in the
report with their row numbers and a reason, and the rest is returned. Only a file
that cannot be read at all (missing, empty, not decodable, no text column) raises
:class:`~semcat.errors.CatalogError`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcat.catalog.columns import ColumnMap, resolve_columns
from semcat.catalog.product import Product, clean_text, parse_attributes, parse_category
from semcat.errors import CatalogError

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
    path: str | Path | Any,
    columns: ColumnMap | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
) -> CatalogReport:
    """Read a catalog into products plus a report of what was rejected and why.

    ``path`` is a file (CSV, TSV, JSONL/JSON, Parquet) or a ``pandas.DataFrame`` whose
    columns are detected the same way (rows are numbered from 1 in frame order).
    """
    if _is_dataframe(path):
        return read_dataframe(path, columns)
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


def _is_dataframe(value: object) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns") and hasattr(value, "itertuples")


def read_dataframe(frame: Any, columns: ColumnMap | None = None) -> CatalogReport:
    """A ``pandas.DataFrame`` as a catalog: the same column detection, row validation and
    report as a file (row N is the frame's N-th row; missing values are empty cells)."""
    header = [str(c) for c in frame.columns]
    if len(set(header)) != len(header):
        raise CatalogError("the DataFrame has duplicate column names")
    if len(frame) == 0:
        raise CatalogError("the DataFrame has no rows")
    resolved, notes = resolve_columns(header, columns)
    report = CatalogReport(path=Path("<DataFrame>"), format="dataframe", columns=resolved, notes=notes)

    def rows() -> Iterator[tuple[int, dict[str, Any] | str]]:
        for number, values in enumerate(frame.itertuples(index=False, name=None), start=1):
            yield number, {name: (None if _missing(v) else v) for name, v in zip(header, values, strict=True)}

    rows_to_products(rows(), resolved, report)
    return report


def _missing(value: object) -> bool:
    """pandas' missing markers (NaN, None, NaT, pd.NA) read as an empty cell."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT are the only values unequal to themselves
    except (TypeError, ValueError):  # pd.NA raises on bool(); arrays compare elementwise
        return type(value).__name__ == "NAType"
