"""Catalog readers (CSV, TSV, JSONL, Parquet, a pandas DataFrame) and column detection.

A reader never lets one bad row kill a run: malformed rows are collected in the
report with their row numbers and a reason, and the rest is returned. Only a file
that cannot be read at all (missing, empty, not decodable, no text column) raises
:class:`~semcat.errors.CatalogError`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcat import limits
from semcat.catalog.columns import ColumnMap, normalize, resolve_columns, shown
from semcat.catalog.delimited import iter_delimited
from semcat.catalog.encodings import archive_problem, encoding_error, sniff_encoding
from semcat.catalog.product import Product, clean_text, parse_attributes, parse_category, product_id
from semcat.errors import CatalogError, InvalidInputError

FORMATS = ("csv", "tsv", "jsonl", "parquet")
CATALOG_SUFFIXES = {
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
    file: str = ""  # the shard it is in, where a catalog is several files (semcat index --executor ray)

    def __str__(self) -> str:
        return f"{self.file} row {self.row}: {self.reason}" if self.file else f"row {self.row}: {self.reason}"


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
    header: list[str] = field(default_factory=list)
    # every valid row is a product, a repeated id included (categorizing a file: each row gets
    # its answer); else the last row of an id wins (indexing: one product per id)
    every_row: bool = False
    # with keep_rows: per product id, its row number and the row's own cells (a review
    # session exports them back with the decisions)
    rows: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    @property
    def labeled(self) -> int:
        return sum(1 for p in self.products if p.category)

    @property
    def labels_warning(self) -> str | None:
        """What to tell a user whose catalog has products but no label (they cannot vote)."""
        if not self.products or self.labeled:
            return None
        seen = shown(self.header) if self.header else "none"
        if self.columns.category:
            where = f"the category column {'+'.join(self.columns.category)} is empty in every row"
        else:
            where = "no category column was found"
        return (
            f"no product has a category: {where} (columns: {seen}). The products are stored unlabeled and "
            "cannot vote; name the category with --category-col COLUMN (or level columns: --category-col A,B,C)"
        )

    def summary_lines(self, max_rows: int = 20) -> list[str]:
        lines = [
            f"read {self.rows_read} rows from {self.path} ({self.format}; columns: {self.columns.describe()})",
            f"  valid products: {len(self.products)} ({self.labeled} labeled)",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        if self.duplicates:
            extra = sum(len(rows) - 1 for rows in self.duplicates.values())
            outcome = "each row is categorized" if self.every_row else "the last row of each wins"
            lines.append(f"  duplicate ids: {len(self.duplicates)} ids on {extra} extra rows; {outcome}")
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
    found = CATALOG_SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise CatalogError(
            f"cannot tell the format of {path.name} from its extension; "
            f"use .csv, .tsv, .jsonl or .parquet, or pass --format"
        )
    return found


_TAG = re.compile(r"<[^>]{0,500}>")  # an HTML tag, in a description exported as HTML


def _iter_jsonl(path: Path, encoding: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    encoding = sniff_encoding(path, encoding)
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
                except RecursionError:
                    raise CatalogError(f"{path.name} is nested too deeply to be a catalog") from None
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
                except RecursionError:
                    yield number, f"JSON nested more than {limits.MAX_NESTING} levels deep"
                    continue
                yield number, item if isinstance(item, dict) else "is not a JSON object"
    except UnicodeDecodeError:
        raise encoding_error(path, encoding) from None


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
        it = iter_delimited(path, fmt, encoding)
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
    keep_rows: bool = False,
) -> None:
    """Validate rows into products, filling the report (last duplicate id wins);
    ``keep_rows``: the report keeps each product's row number and cells."""
    by_id: dict[str, Product] = {}
    in_order: list[Product] = []  # every_row: all of them, as read
    seen_rows: dict[str, list[int]] = {}
    for number, record in rows:
        report.rows_read += 1
        if isinstance(record, str):
            report.rejected.append(RejectedRow(number, record))
            continue
        try:
            product = row_product(number, record, columns)
        except InvalidInputError as exc:
            report.rejected.append(RejectedRow(number, exc.message))
            continue
        pid = product.id
        if not pid:
            report.rejected.append(RejectedRow(number, f"no id (column {columns.id!r} is empty)"))
            continue
        if not product.has_text:
            report.rejected.append(RejectedRow(number, f"no text: title and description are empty (id {pid!r})"))
            continue
        seen_rows.setdefault(pid, []).append(number)
        if report.every_row:
            in_order.append(product)
        by_id.pop(pid, None)  # re-insert so the last occurrence keeps its position
        by_id[pid] = product
        if keep_rows:
            report.rows[pid] = (number, {k: v for k, v in record.items() if not str(k).startswith("__")})
    report.products = in_order if report.every_row else list(by_id.values())
    report.duplicates = {pid: rows for pid, rows in seen_rows.items() if len(rows) > 1}


def row_product(number: int, record: Mapping[str, Any], columns: ColumnMap) -> Product:
    """One row as a product, under the same limits as every other door (semcat.limits)."""

    def text(name: str, column: str | None) -> str:
        if not column:
            return ""
        value = limits.scalar(record.get(column), name)
        if isinstance(value, str) and normalize(column).endswith("html"):  # Shopify's "Body (HTML)"
            value = html.unescape(_TAG.sub(" ", value))
        return limits.check_length(name, clean_text(value))

    pid = product_id(record.get(columns.id)) if columns.id else str(number)
    if len(columns.category) == 1:
        cell = record.get(columns.category[0])
        if columns.category_multi and isinstance(cell, str) and "," in cell:
            cell = cell.split(",")[0]  # several categories listed: the first is the product's
        category = parse_category(cell, columns.category_separator)
    else:
        levels = (clean_text(limits.scalar(record.get(col), "category")) for col in columns.category)
        category = limits.check_category(tuple(c for c in levels if c))
    return Product(
        id=pid,
        title=text("title", columns.title),
        description=text("description", columns.description),
        brand=text("brand", columns.brand),
        image=text("image", columns.image) or None,
        category=category,
        attributes=parse_attributes(record.get(columns.attributes)) if columns.attributes else "",
    )


def read_catalog(
    path: str | Path | Any,
    columns: ColumnMap | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
    keep_rows: bool = False,
    every_row: bool = False,
) -> CatalogReport:
    """Read a catalog into products plus a report of what was rejected and why.

    ``path`` is a file (CSV, TSV, JSONL/JSON, Parquet) or a ``pandas.DataFrame`` whose
    columns are detected the same way (rows are numbered from 1 in frame order).
    ``keep_rows``: the report also keeps each product's row (:attr:`CatalogReport.rows`).
    ``every_row``: a repeated id does not replace its earlier rows (:attr:`CatalogReport.every_row`).
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
    archived = archive_problem(path)
    if archived:
        raise CatalogError(archived)
    fmt = detect_format(path, fmt)
    try:
        header, rows = _records(path, fmt, encoding)
    except LookupError:
        raise CatalogError(f"unknown encoding {encoding!r}") from None
    resolved, notes = resolve_columns(header, columns)
    report = CatalogReport(
        path=path, format=fmt, columns=resolved, notes=notes, header=list(header), every_row=every_row
    )
    try:
        rows_to_products(rows, resolved, report, keep_rows)
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
    report = CatalogReport(path=Path("<DataFrame>"), format="dataframe", columns=resolved, notes=notes, header=header)

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
