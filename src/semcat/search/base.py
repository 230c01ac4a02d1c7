"""The VectorStore seam, shared by the FAISS and Qdrant backends."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semcat.catalog import level_key as level_key  # re-exported for the backends
from semcat.errors import InvalidInputError, StoreError
from semcat.spaces import DEFAULT_SPACE as DEFAULT_SPACE  # re-exported: the stores' names for the spaces
from semcat.spaces import IMAGE_SPACE as IMAGE_SPACE

VectorsIn = np.ndarray | Mapping[str, Any]  # dense (n, dim) arrays; sparse spaces: lists of (indices, values)


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: product id, similarity (cosine, higher is closer), payload."""

    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


CURSOR_DIGITS = 39  # a page cursor's most digits: FAISS's 64-bit row ids, Qdrant's 128-bit point ids
CURSOR_PATTERN = rf"^[0-9]{{1,{CURSOR_DIGITS}}}$"


def cursor_number(cursor: str) -> int:
    """The position a page's cursor names, the same form on every backend (so one OpenAPI
    pattern describes it); anything else is refused by name."""
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise InvalidInputError(f"cursor {cursor[:100]!r} is not one this store gave (a page's 'next')")
    return int(cursor)


@dataclass(frozen=True, slots=True)
class Page:
    """A page of stored products (:meth:`VectorStore.browse`): ``next`` is the cursor of
    the following page, None after the last: decimal digits on every backend
    (:func:`cursor_number`)."""

    records: list[Record]
    next: str | None


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restrict a search. ``category`` matches a taxonomy prefix at any level
    (``"Watches"`` or ``"Watches > Wrist Watches"``); ``labeled`` keeps only products
    that carry a category (the ones that can vote)."""

    category: str | None = None
    labeled: bool = False

    @property
    def empty(self) -> bool:
        return self.category is None and not self.labeled


@dataclass(frozen=True, slots=True)
class StoreMeta:
    """What a store was built with; checked on every open. ``spaces`` are the dense
    vector spaces and their dimensions; ``sparse`` the sparse (lexical) ones."""

    model: str
    spaces: dict[str, int]
    sparse: tuple[str, ...] = ()

    def same_as(self, other: StoreMeta) -> bool:
        return self.model == other.model and self.spaces == other.spaces and set(self.sparse) == set(other.sparse)

    def describe(self) -> str:
        return f"{self.model!r} ({', '.join([*self.spaces, *self.sparse])})"


class VectorStore(ABC):
    """A collection of products, each with up to one vector per named space and a JSON payload.

    ``vectors`` given to :meth:`upsert` is one (n, dim) array (the ``text`` space) or a
    mapping of space name to (n, dim) array (dense spaces) or list of (indices, values)
    rows (sparse spaces). An all-zero dense row, or an empty sparse row, means "this
    product has no vector in this space": it is not stored and the product is not found by
    searches in that space. Upserting an existing id replaces it (vectors and payload).
    Every write is durable when the call returns: an interrupted process loses at most the
    call in flight.

    The base class checks every input once, for every backend (ids and payloads agree, the
    spaces exist with their dimensions, no NaN, no duplicate id, k at least 1), then calls
    the backend's private part: :meth:`_upsert`, :meth:`_search`, :meth:`_search_sparse`.
    A backend declares ``backend`` (its name in a reader spec and ``describe``) and
    ``generation_is_global``.
    """

    meta: StoreMeta
    backend: str = ""  # its name in semcat.search.factory.BACKENDS ("faiss", "qdrant")
    # whether generation() counts every process's writes (FAISS's database counter, an
    # embedded Qdrant's single owner) or only this client's (a Qdrant server)
    generation_is_global: bool = False

    # ------------------------------------------------ checked here, done by the backend
    def upsert(self, ids: Sequence[str], vectors: VectorsIn, payloads: Sequence[dict[str, Any]]) -> None:
        ids = [str(i) for i in ids]
        if len(payloads) != len(ids):
            raise StoreError(f"{len(ids)} ids but {len(payloads)} payloads")
        dense = as_space_arrays(ids, vectors, self.meta)
        sparse = as_sparse_rows(ids, vectors, self.meta)
        self._upsert(ids, dense, sparse, payloads)

    def search_batch(
        self, vectors: np.ndarray, k: int, filter: SearchFilter | None = None, space: str = DEFAULT_SPACE
    ) -> list[list[Hit]]:
        """Top-k stored products per query row by cosine, best first."""
        return self._search(check_query(vectors, self.meta, space, k), k, filter, space)

    def search(
        self, vector: np.ndarray, k: int, filter: SearchFilter | None = None, space: str = DEFAULT_SPACE
    ) -> list[Hit]:
        """One query (a row of :meth:`search_batch`)."""
        return self.search_batch(np.asarray(vector)[None, :] if np.ndim(vector) == 1 else vector, k, filter, space)[0]

    def search_sparse(
        self, queries: Sequence[tuple[np.ndarray, np.ndarray]], k: int, filter: SearchFilter | None, space: str
    ) -> list[list[Hit]]:
        """Top-k by sparse dot product, the query weighted by the stored products' IDF
        (BM25's, as Qdrant's ``Modifier.IDF``). Queries are (indices, values) rows."""
        check_sparse_query(self.meta, space, k)
        if not queries:
            return []
        return self._search_sparse(queries, k, filter, space)

    @abstractmethod
    def _upsert(
        self,
        ids: list[str],
        dense: dict[str, tuple[np.ndarray, np.ndarray]],
        sparse: dict[str, list[tuple[np.ndarray, np.ndarray]]],
        payloads: Sequence[dict[str, Any]],
    ) -> None:
        """Store checked input: per dense space the row positions holding a vector and
        those rows (:func:`as_space_arrays`), per sparse space one row per id."""

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int, filter: SearchFilter | None, space: str) -> list[list[Hit]]:
        """Search with checked (n, dim) float32 queries in a known space."""

    @abstractmethod
    def _search_sparse(
        self, queries: Sequence[tuple[np.ndarray, np.ndarray]], k: int, filter: SearchFilter | None, space: str
    ) -> list[list[Hit]]:
        """Search a known sparse space with at least one query."""

    # ------------------------------------------------------------ the backend's own
    @abstractmethod
    def update_payloads(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        """Replace payloads of stored products without touching their vectors."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Delete products; returns how many existed."""

    @abstractmethod
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Record]:
        """Stored records for the ids that exist, in the order asked."""

    @abstractmethod
    def count(self, filter: SearchFilter | None = None) -> int: ...

    def exists(self, filter: SearchFilter | None = None) -> bool:
        """Whether any product passes ``filter``: what a request asks before it votes (a
        backend answers at a cost that does not grow with the store where it can)."""
        return self.count(filter) > 0

    def browse(self, filter: SearchFilter | None, limit: int, cursor: str | None = None) -> Page:
        """The stored products passing ``filter``, ``limit`` at a time (payloads, no
        vectors), in an order the backend keeps from page to page (FAISS: as stored;
        Qdrant: by point id). ``cursor``: the previous page's ``next``; one this backend
        never gave is refused with :class:`~semcat.errors.InvalidInputError`."""
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, not {limit}")
        return self._browse(filter, limit, cursor)

    @abstractmethod
    def _browse(self, filter: SearchFilter | None, limit: int, cursor: str | None) -> Page: ...

    @abstractmethod
    def category_counts(self, level: int | None = None) -> dict[str, int]:
        """Products per category path (``level=1``: per main category)."""

    @abstractmethod
    def iter_vectors(
        self, space: str = DEFAULT_SPACE, batch_size: int = 1024
    ) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        """All stored (ids, vectors, payloads) in batches, for evaluation."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Backend, location, index kind and sizes, for ``semcat info``."""

    @abstractmethod
    def generation(self) -> int:
        """A counter that changes with every write this store can see (see
        ``generation_is_global``). Derived data (the linear head) compares it to tell it may
        be stale; it says nothing about content."""

    @abstractmethod
    def flush(self) -> None:
        """Persist derived state (index files); writes are already durable without it."""

    def reader_spec(self) -> dict[str, Any] | None:
        """How another process opens this collection to read its products while this one
        serves it (:func:`semcat.search.factory.open_reader`), as JSON-able data (secrets
        included: pass it in the environment, never on a command line); None when no other
        process may (an embedded Qdrant belongs to the process that opened it)."""
        return None

    @abstractmethod
    def close(self) -> None: ...


def present_rows(array: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows that hold a vector (all-zero rows stand for "none")."""
    return np.any(np.asarray(array) != 0, axis=1)


def as_space_arrays(
    ids: Sequence[str], vectors: VectorsIn, meta: StoreMeta
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validate upsert input: one float32 (n, dim) array per known space. Returns, per
    space, the row positions that hold a vector and those rows."""
    mapping = {DEFAULT_SPACE: vectors} if isinstance(vectors, np.ndarray) else dict(vectors)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for space, array in mapping.items():
        if space in meta.sparse:
            continue
        if space not in meta.spaces:
            raise StoreError(f"unknown vector space {space!r}; this store has {', '.join(meta.spaces)}")
        array = np.ascontiguousarray(array, dtype=np.float32)
        if array.ndim != 2 or array.shape != (len(ids), meta.spaces[space]):
            raise StoreError(
                f"space {space!r} expects an array of shape ({len(ids)}, {meta.spaces[space]}), got {array.shape}"
            )
        if not np.isfinite(array).all():
            raise InvalidInputError(f"vectors for space {space!r} contain NaN or infinity")
        rows = np.flatnonzero(present_rows(array)) if len(array) else np.zeros(0, dtype=np.int64)
        out[space] = (rows.astype(np.int64), array[rows])
    if len(set(ids)) != len(ids):
        raise InvalidInputError("duplicate ids in one upsert call")
    return out


def check_query(vectors: np.ndarray, meta: StoreMeta, space: str, k: int) -> np.ndarray:
    """Validate a search: known space, right dimension, k >= 1. Returns (n, dim) float32."""
    if k < 1:
        raise InvalidInputError("k must be at least 1")
    if space not in meta.spaces:
        raise StoreError(f"unknown vector space {space!r}; this store has {', '.join(meta.spaces)}")
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.shape[1] != meta.spaces[space]:
        raise StoreError(f"query vectors have dimension {array.shape[1]}, space {space!r} holds {meta.spaces[space]}")
    return array


def check_sparse_query(meta: StoreMeta, space: str, k: int) -> None:
    """Validate a sparse search: a known sparse space, k >= 1."""
    if k < 1:
        raise InvalidInputError("k must be at least 1")
    if space not in meta.sparse:
        raise StoreError(f"unknown sparse space {space!r}; this store has {', '.join(meta.sparse) or 'none'}")


def as_sparse_rows(
    ids: Sequence[str], vectors: VectorsIn, meta: StoreMeta
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """The sparse rows of an upsert, per sparse space: one (indices, values) pair per id;
    an empty pair means no vector in that space."""
    if isinstance(vectors, np.ndarray):
        return {}
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for space in meta.sparse:
        rows = vectors.get(space)  # type: ignore[union-attr]
        if rows is None:
            continue
        if len(rows) != len(ids):
            raise StoreError(f"sparse space {space!r} expects {len(ids)} rows, got {len(rows)}")
        clean = []
        for indices, values in rows:
            indices = np.asarray(indices, dtype=np.int32)
            values = np.asarray(values, dtype=np.float32)
            if indices.shape != values.shape or indices.ndim != 1:
                raise StoreError(f"sparse space {space!r}: indices and values must be 1-D of one length")
            if len(values) and not np.isfinite(values).all():
                raise InvalidInputError(f"sparse vectors for space {space!r} contain NaN or infinity")
            clean.append((indices, values))
        out[space] = clean
    return out
