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
    spreadsheet exports write them); else the one given, UTF-8 read BOM-tolerant."""
    with path.open("rb") as fh:
        head = fh.read(4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def encoding_error(path: Path, encoding: str) -> CatalogError:
    with path.open("rb") as fh:
        sample = fh.read(4096)
    if sample.count(0) > len(sample) // 4:  # every other byte zero: UTF-16 without a byte-order mark
        hint = "it looks like UTF-16 without a byte-order mark: pass --encoding utf-16-le (or utf-16-be)"
    else:
        hint = "save it as UTF-8 or pass its encoding, e.g. --encoding cp1252"
    line, what = _first_bad_line(path, encoding)
    shown = "utf-8" if encoding == "utf-8-sig" else encoding
    return CatalogError(f"{path.name} is not valid {shown} text ({what} on line {line}); {hint}")
