"""Which text encoding a catalog file is in, and what to say when it is not the one given."""

from __future__ import annotations

import codecs
from pathlib import Path

from semcat.errors import CatalogError


def _first_bad_line(path: Path, encoding: str) -> tuple[int, str]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return number, f"byte 0x{raw[exc.start]:02x}"
    return 0, "unknown byte"


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def sniff_encoding(path: Path, encoding: str) -> str:
    """The file's encoding: a byte-order mark decides (UTF-8, UTF-16, UTF-32, as
    spreadsheet exports write them); UTF-16 without one is told by its zero bytes (every
    other byte of Latin text; NUL is valid UTF-8, so it would read as garbled names); else
    the one given, UTF-8 read BOM-tolerant."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    if utf8:
        wide = _utf16_without_bom(head)
        if wide:
            return wide
    return "utf-8-sig" if utf8 else encoding


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the bytes look like UTF-16 Latin text with no
    byte-order mark (a zero in every other byte, on one side), else None."""
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.1:
        return "utf-16-le"
    if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.1:
        return "utf-16-be"
    return None


_ARCHIVES = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one): unpack it, or save the sheet as CSV"),
    (b"\x1f\x8b", "gzip-compressed: gunzip it first"),
    (b"BZh", "bzip2-compressed: bunzip2 it first"),
    (b"\xfd7zXZ\x00", "xz-compressed: unxz it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: unpack it first"),
)


def archive_problem(path: Path) -> str | None:
    """What to say of a compressed or archived file given as a catalog (None: it is not one)."""
    with path.open("rb") as fh:
        head = fh.read(8)
    for magic, what in _ARCHIVES:
        if head.startswith(magic):
            return f"{path.name} is {what}; semcat reads CSV, TSV, JSONL and Parquet files"
    return None


def encoding_error(path: Path, encoding: str) -> CatalogError:
    with path.open("rb") as fh:
        sample = fh.read(4096)
    wide = _utf16_without_bom(sample)
    if wide or sample.count(0) > len(sample) // 4:  # zeros between the letters: UTF-16 without a byte-order mark
        named = f"--encoding {wide}" if wide else "--encoding utf-16-le (or utf-16-be)"
        hint = f"it looks like UTF-16 without a byte-order mark: pass {named}"
    else:
        hint = "save it as UTF-8 or pass its encoding, e.g. --encoding cp1252"
    line, what = _first_bad_line(path, encoding)
    shown = "utf-8" if encoding == "utf-8-sig" else encoding
    return CatalogError(f"{path.name} is not valid {shown} text ({what} on line {line}); {hint}")
