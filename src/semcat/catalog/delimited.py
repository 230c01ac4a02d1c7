"""CSV and TSV catalogs, row by row: the delimiter sniffed from the header, blank lines
skipped, a row of the wrong width or an unclosed quote reported with its lines."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from semcat.catalog.encodings import encoding_error, sniff_encoding
from semcat.errors import CatalogError


def _sniff_delimiter(first_line: str, default: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts.get(default, 0) else default


def iter_delimited(path: Path, fmt: str, encoding: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (row number, record or error reason). Row 1 is the header, as in a spreadsheet."""
    csv.field_size_limit(1 << 30)
    enc = sniff_encoding(path, encoding)
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
            last: tuple[int, list[str], int, int] | None = None  # the last record, checked at the end
            while True:
                row += 1
                first_line = reader.line_num + 1
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
                if last is not None:
                    yield _delimited_row(last[0], last[1], header, last[3])
                last = (row, values, first_line, reader.line_num)
            if last is not None:
                number, values, first_line, last_line = last
                if last_line > first_line and _unclosed_quote(path, enc, first_line):
                    # the reader took every line to the end of the file into one cell
                    yield (
                        number,
                        f"a quote opened on line {first_line} is never closed: lines {first_line}-{last_line} "
                        "(the rest of the file) were read as one cell and are skipped; close the quote",
                    )
                else:
                    yield _delimited_row(number, values, header, last_line)
    except UnicodeDecodeError:
        raise encoding_error(path, enc) from None


def _delimited_row(row: int, values: list[str], header: list[str], line: int) -> tuple[int, dict[str, Any] | str]:
    if len(values) != len(header):
        return (
            row,
            f"has {len(values)} fields but the header has {len(header)} (line {line}; check quoting and the delimiter)",
        )
    return row, dict(zip(header, values, strict=True))


def _unclosed_quote(path: Path, encoding: str, first: int) -> bool:
    """Whether the file's last record, from line ``first`` to the end, ends inside a quote:
    an odd count of quote characters (a quoted cell with line breaks in it, a description,
    has an even count)."""
    with path.open("r", encoding=encoding, newline="") as fh:
        return sum(line.count('"') for number, line in enumerate(fh, start=1) if number >= first) % 2 == 1
