"""The one CSV writer semcat writes with (review exports, ``categorize -o``, ``audit -o``).

A cell that a spreadsheet would run as a formula is neutralized by the OWASP rule: text
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so
a product titled ``=HYPERLINK("http://evil", "click")`` opens as that text, not as a link.
Numbers (``-5``, ``+3.5e2``) are left as they are: a spreadsheet reads them as numbers, and a
price column stays numeric.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralize(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates (text only; numbers pass)."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeDictWriter(csv.DictWriter):
    """:class:`csv.DictWriter` whose every cell (the header included) goes through
    :func:`neutralize`; unknown keys are ignored."""

    def __init__(self, fh: IO[str], fieldnames: Sequence[str], delimiter: str = ",") -> None:
        super().__init__(fh, fieldnames=list(fieldnames), extrasaction="ignore", delimiter=delimiter)

    def writeheader(self) -> Any:
        return self.writer.writerow([neutralize(name) for name in self.fieldnames])

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({key: neutralize(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts: Any) -> None:
        for row in rowdicts:
            self.writerow(row)
