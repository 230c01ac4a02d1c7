"""The products a search filter lets through, as a bitmap over internal ids.

A filtered search (a caller's ``category``, the level walk's restricted vote, the labeled
filter when some products are unlabeled) needs the set of internal ids the filter
allows. At 1M products a main category holds 150,000 of them: building FAISS's
``IDSelectorBatch`` (a hash set) over them took ~30 ms and testing the word search's
candidates against the array (``np.isin``) sorted it per query. A bitmap (one bit per
internal id, 125 KB at 1M) is built in a millisecond, tested in a vector operation, handed
to FAISS as ``IDSelectorBitmap``, and brought in line with a write in place instead of
being read again from SQLite (:meth:`Allowed.apply`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

FILTER_CACHE_MAX = 256  # filters kept per store (a bitmap is max internal id / 8 bytes: 125 KB at 1M)


def matches(payload: Mapping[str, Any], category: str | None, labeled: bool) -> bool:
    """Whether a product with this payload passes a filter: under ``category`` (any level's
    prefix of its path), or, with no category, labeled when ``labeled``."""
    if category is not None:
        return category in (payload.get("category_prefixes") or ())
    return not labeled or bool(payload.get("category"))


class Allowed:
    """The internal ids one filter lets through (:attr:`selector` for FAISS)."""

    def __init__(self, faiss: Any, iids: np.ndarray) -> None:
        self._faiss = faiss
        mask = np.zeros(int(iids.max()) + 1 if len(iids) else 0, dtype=bool)
        mask[iids] = True
        self.count = int(np.count_nonzero(mask))
        self._use(np.packbits(mask, bitorder="little"))

    def _use(self, bits: np.ndarray) -> None:
        self.bits = bits
        # FAISS keeps a pointer into self.bits: the array lives as long as this object and
        # is changed in place (apply), never replaced without a new selector
        self.selector = self._faiss.IDSelectorBitmap(len(bits), self._faiss.swig_ptr(bits))

    def contains(self, iids: np.ndarray) -> np.ndarray:
        """Which of ``iids`` the filter lets through (bool per id; negative ids never)."""
        iids = np.asarray(iids, dtype=np.int64)
        byte = iids >> 3
        inside = (iids >= 0) & (byte < len(self.bits))
        out = np.zeros(len(iids), dtype=bool)
        out[inside] = (self.bits[byte[inside]] >> (iids[inside] & 7).astype(np.uint8)) & 1 == 1
        return out

    def apply(self, off: Iterable[int], on: Iterable[int]) -> None:
        """One write's changes, in place and in time proportional to them (a write at 1M
        products touches a few bits of up to FILTER_CACHE_MAX bitmaps): ``off`` (deleted,
        replaced, relabeled) no longer pass, then ``on`` (new products and new labels that
        match) pass."""
        off_ids = np.unique(np.fromiter(off, dtype=np.int64))
        on_ids = np.unique(np.fromiter(on, dtype=np.int64))
        if len(on_ids) and int(on_ids[-1]) >> 3 >= len(self.bits):
            grown = np.zeros((int(on_ids[-1]) >> 3) + 1, dtype=np.uint8)
            grown[: len(self.bits)] = self.bits
            self._use(grown)
        was = off_ids[self.contains(off_ids)]
        np.bitwise_and.at(self.bits, was >> 3, ~(1 << (was & 7)).astype(np.uint8))
        new = on_ids[~self.contains(on_ids)]
        np.bitwise_or.at(self.bits, new >> 3, (1 << (new & 7)).astype(np.uint8))
        self.count += len(new) - len(was)
