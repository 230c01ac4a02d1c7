"""Qdrant backend on qdrant-client: one class for ``:memory:``, a server or cluster, and the
local-mode folder of earlier releases (new embedded collections use qdrant-edge:
:mod:`semcat.search.qdrant_edge`).

Product ids are arbitrary strings; Qdrant point ids must be integers or UUIDs, so each
point's id is ``uuid5(product id)`` and the product id lives in the payload. The
model name and vector sizes live in the collection's metadata and are checked on open.

Long module: one class implements the whole store protocol against one client (with the
cluster layout and the payload indexes it creates a collection with); split, the
protocol's methods would be spread over files that each need the client.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semcat.errors import NotFoundError, StoreError, StoreMissingError
from semcat.options import QUANTIZATION, Quantization
from semcat.search.base import (
    DEFAULT_SPACE,
    Hit,
    Page,
    Record,
    SearchFilter,
    StoreMeta,
    VectorStore,
    cursor_number,
    level_key,
)

_NAMESPACE = uuid.UUID("8f1d7a0e-4c1b-5b8e-9a53-2f0c3e6d5a10")
_UPSERT_CHUNK = 256
# int8 quantization (Settings.qdrant.quantization): the share of values the int8 range spans
# (outliers clipped), and how many more candidates than asked the int8 search hands to the
# rescoring with the original vectors
INT8_QUANTILE = 0.99
QUANTIZED_OVERSAMPLING = 2.0


def _locked(method: Any) -> Any:
    """Serialize calls (the embedded, local-mode client is not thread-safe), and make a
    server that does not answer (down, unreachable, a lost cluster peer, a 5xx) a
    :class:`StoreError`, which the API answers as 503 rather than 500."""

    @functools.wraps(method)
    def wrapper(self: QdrantStore, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if self.server and _unanswered(exc):
                    raise StoreError(f"Qdrant at {self.location} did not answer: {exc}") from exc
                raise

    return wrapper


def _unanswered(exc: Exception) -> bool:
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, UnexpectedResponse):
        return exc.status_code is not None and exc.status_code >= 500
    return isinstance(exc, ResponseHandlingException | ConnectionError | TimeoutError)


def point_id(product_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, product_id))


def scroll_offset(cursor: str | None) -> str | None:
    """The point id a page's cursor names: Qdrant's ``next_page_offset``, a UUID, written as
    its 128 bits in decimal (the cursor form of every store: :func:`cursor_number`)."""
    if cursor is None:
        return None
    with contextlib.suppress(ValueError):  # a cursor given before cursors were digits
        return str(uuid.UUID(cursor))
    return str(uuid.UUID(int=min(cursor_number(cursor), 2**128 - 1)))  # past the last id: an empty page


def page_of(points: Sequence[Any], offset: Any) -> Page:
    """A :class:`Page` from one scroll's points and next offset (qdrant-client or -edge)."""
    records = [record_of(p, (), False) for p in points]
    if offset is None:
        return Page(records, None)
    return Page(records, str(uuid.UUID(str(getattr(offset, "uuid", None) or offset)).int))


# What a Qdrant point becomes, the same for qdrant-client's points and qdrant-edge's.
def hit_of(point: Any) -> Hit:
    payload = dict(point.payload or {})
    return Hit(id=str(payload.get("id")), score=float(point.score), payload=payload)


def record_of(point: Any, spaces: Sequence[str], with_vectors: bool) -> Record:
    payload = dict(point.payload or {})
    vecs = (
        {name: np.asarray(v, dtype=np.float32) for name, v in point.vector.items() if name in spaces}
        if with_vectors and isinstance(point.vector, dict)
        else {}
    )
    return Record(id=str(payload.get("id")), payload=payload, vectors=vecs)


def vector_rows(points: Sequence[Any], space: str) -> tuple[list[str], np.ndarray, list[dict[str, Any]]] | None:
    """(ids, vectors, payloads) of the points that hold a vector in ``space``, as
    ``iter_vectors`` yields them; None when none does."""
    rows = [p for p in points if isinstance(p.vector, dict) and space in p.vector]
    if not rows:
        return None
    return (
        [str(p.payload["id"]) for p in rows],
        np.asarray([p.vector[space] for p in rows], dtype=np.float32),
        [dict(p.payload) for p in rows],
    )


@dataclass(frozen=True)
class QdrantCluster:
    """How a new collection is laid out on a Qdrant cluster (None: Qdrant's default).
    Read only when semcat creates the collection; an existing one keeps its layout."""

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None

    def create_args(self) -> dict[str, int]:
        return {name: value for name, value in asdict(self).items() if value is not None}


# The payload fields the categorizer filters on (a subtree: category_prefixes; labeled
# products only: category_levels not empty) or looks products up by (id, category); a
# Qdrant server indexes them at collection creation so filtered searches stay fast.
PAYLOAD_INDEXES = ("id", "category", "category_prefixes", "category_levels")


class QdrantStore(VectorStore):
    """A Qdrant collection. ``location`` is ``":memory:"``, a server URL, or None with ``path``."""

    backend = "qdrant"
    generation_is_global = False  # counts only this client's writes (see generation)

    def __init__(
        self,
        collection: str,
        meta: StoreMeta | None,
        location: str | None = None,
        path: Path | None = None,
        api_key: str | None = None,
        cluster: QdrantCluster | None = None,
        quantization: Quantization = QUANTIZATION,
    ) -> None:
        self.cluster = cluster or QdrantCluster()
        self.quantization = quantization  # a new collection's; an existing one keeps its own
        try:
            from qdrant_client import QdrantClient, models
        except ImportError as exc:  # pragma: no cover - broken install
            raise StoreError(f"qdrant-client is not importable ({exc}); pip install qdrant-client") from exc
        self._models = models
        self._lock = threading.RLock()
        self.collection = collection
        self.server = bool(location and location != ":memory:")
        self.location = location or str(path)
        self._api_key = api_key
        if location is None and path is None:
            raise StoreError("QdrantStore needs a location (':memory:' or URL) or a path")
        if location is None and meta is None and not (Path(path) / "collection" / collection).exists():  # type: ignore[arg-type]
            raise StoreMissingError(
                f"no Qdrant collection {collection!r} at {path}: index a catalog first (semcat index)"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # local mode warns about its size limits at open
                if location == ":memory:":
                    self._client = QdrantClient(location=":memory:")
                elif location:
                    self._client = QdrantClient(url=location, api_key=api_key, timeout=30)
                else:
                    try:
                        Path(path).mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
                    except OSError as exc:
                        raise StoreError(f"cannot create the Qdrant folder {path}: {exc.strerror or exc}") from None
                    self._client = QdrantClient(path=str(path))
        except StoreError:
            raise
        except RuntimeError as exc:  # local mode: the folder is locked by another process
            raise StoreError(f"cannot open the Qdrant store at {self.location}: {exc}") from exc
        except Exception as exc:
            raise StoreError(f"cannot reach Qdrant at {self.location}: {exc}") from exc
        self.meta = self._open_collection(meta)
        self._writes = 0  # this client's writes (see generation())

    def _open_collection(self, wanted: StoreMeta | None) -> StoreMeta:
        models = self._models
        try:
            exists = self._client.collection_exists(self.collection)
        except Exception as exc:
            raise StoreError(f"cannot reach Qdrant at {self.location}: {exc}") from exc
        if not exists:
            if wanted is None:
                raise StoreMissingError(f"Qdrant has no collection {self.collection!r}: index a catalog first")
            self._client.create_collection(
                self.collection,
                vectors_config={
                    space: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                    for space, dim in wanted.spaces.items()
                },
                sparse_vectors_config={
                    space: models.SparseVectorParams(modifier=models.Modifier.IDF) for space in wanted.sparse
                }
                or None,
                metadata={
                    "semcat_model": wanted.model,
                    "semcat_spaces": wanted.spaces,
                    "semcat_sparse": list(wanted.sparse),
                },
                quantization_config=models.ScalarQuantization(
                    scalar=models.ScalarQuantizationConfig(
                        type=models.ScalarType.INT8, quantile=INT8_QUANTILE, always_ram=True
                    )
                )
                if self.quantization == "int8"
                else None,
                **self.cluster.create_args(),
            )
            if self.server:  # local mode ignores payload indexes (and warns)
                for key in PAYLOAD_INDEXES:
                    self._client.create_payload_index(
                        self.collection, key, field_schema=models.PayloadSchemaType.KEYWORD
                    )
            return wanted
        info = self._client.get_collection(self.collection)
        metadata = info.config.metadata or {}
        if "semcat_model" not in metadata:
            raise StoreError(
                f"Qdrant collection {self.collection!r} was not created by semcat (no model metadata); "
                "choose another --collection"
            )
        have = StoreMeta(
            model=metadata["semcat_model"],
            spaces={k: int(v) for k, v in metadata["semcat_spaces"].items()},
            sparse=tuple(metadata.get("semcat_sparse") or ()),
        )
        if wanted is not None and not wanted.same_as(have):
            raise StoreError(
                f"Qdrant collection {self.collection!r} holds vectors of model {have.describe()}; "
                f"you asked for {wanted.describe()}. Use another --collection"
            )
        return have

    # ------------------------------------------------------------- helpers
    def _filter(self, flt: SearchFilter | None) -> Any:
        if flt is None or flt.empty:
            return None
        models = self._models
        must: list[Any] = []
        if flt.category is not None:
            must.append(models.FieldCondition(key="category_prefixes", match=models.MatchValue(value=flt.category)))
        # unlabeled products store an empty category_levels list
        must_not = [models.IsEmptyCondition(is_empty=models.PayloadField(key="category_levels"))] if flt.labeled else []
        return models.Filter(must=must or None, must_not=must_not or None)

    # --------------------------------------------------------------- writes
    @_locked
    def _upsert(
        self,
        ids: list[str],
        arrays: dict[str, tuple[np.ndarray, np.ndarray]],
        sparse: dict[str, list[tuple[np.ndarray, np.ndarray]]],
        payloads: Sequence[dict[str, Any]],
    ) -> None:
        models = self._models
        per_row: list[dict[str, Any]] = [{} for _ in ids]
        for space, (rows, array) in arrays.items():
            for row, vec in zip(rows.tolist(), array, strict=True):
                per_row[row][space] = vec.tolist()
        for space, sparse_rows in sparse.items():
            for row, (idx, val) in enumerate(sparse_rows):
                if len(idx):
                    per_row[row][space] = models.SparseVector(indices=idx.tolist(), values=val.tolist())
        points = [
            models.PointStruct(id=point_id(pid), vector=per_row[row], payload={**payloads[row], "id": pid})
            for row, pid in enumerate(ids)
        ]
        for start in range(0, len(points), _UPSERT_CHUNK):
            self._client.upsert(self.collection, points=points[start : start + _UPSERT_CHUNK], wait=True)
        self._writes += 1

    @_locked
    def update_payloads(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        ids = [str(i) for i in ids]
        present = {r.id for r in self.get(ids)}
        missing = [i for i in ids if i not in present]
        if missing:
            raise NotFoundError(f"unknown product id(s): {', '.join(missing[:10])}")
        models = self._models
        operations = [
            models.OverwritePayloadOperation(
                overwrite_payload=models.SetPayload(payload={**payload, "id": pid}, points=[point_id(pid)])
            )
            for pid, payload in zip(ids, payloads, strict=True)
        ]
        for start in range(0, len(operations), _UPSERT_CHUNK):
            self._client.batch_update_points(self.collection, operations[start : start + _UPSERT_CHUNK], wait=True)
        self._writes += 1

    @_locked
    def delete(self, ids: Sequence[str]) -> int:
        ids = [str(i) for i in ids]
        present = [r.id for r in self.get(ids)]
        if present:
            self._client.delete(
                self.collection,
                points_selector=self._models.PointIdsList(points=[point_id(i) for i in present]),
                wait=True,
            )
            self._writes += 1
        return len(present)

    def flush(self) -> None:
        """Qdrant persists each write itself."""

    def generation(self) -> int:
        """This client's write count: Qdrant has no collection-wide write counter, so writes
        by other clients of a server are seen through the counts (the head also compares
        them) and the head's content fingerprint."""
        return self._writes

    # ---------------------------------------------------------------- reads
    @_locked
    def _search(self, queries: np.ndarray, k: int, filter: SearchFilter | None, space: str) -> list[list[Hit]]:
        models = self._models
        qfilter = self._filter(filter)
        # on an int8 collection: hits rescored with their float vectors (exact cosines);
        # nothing on a float one
        params = (
            models.SearchParams(
                quantization=models.QuantizationSearchParams(rescore=True, oversampling=QUANTIZED_OVERSAMPLING)
            )
            if self.server
            else None  # local mode searches exactly (and warns about parameters)
        )
        requests = [
            models.QueryRequest(
                query=q.tolist(), using=space, limit=k, filter=qfilter, with_payload=True, params=params
            )
            for q in queries
        ]
        responses = self._client.query_batch_points(self.collection, requests=requests)
        return [[hit_of(p) for p in response.points] for response in responses]

    @_locked
    def _search_sparse(
        self, queries: Sequence[tuple[np.ndarray, np.ndarray]], k: int, filter: SearchFilter | None, space: str
    ) -> list[list[Hit]]:
        models = self._models
        qfilter = self._filter(filter)
        requests = [
            models.QueryRequest(
                query=models.SparseVector(indices=np.asarray(idx).tolist(), values=np.asarray(val).tolist()),
                using=space,
                limit=k,
                filter=qfilter,
                with_payload=True,
            )
            for idx, val in queries
        ]
        responses = self._client.query_batch_points(self.collection, requests=requests)
        return [[hit_of(p) for p in response.points if p.score > 0] for response in responses]

    @_locked
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Record]:
        ids = [str(i) for i in ids]
        if not ids:
            return []
        points = self._client.retrieve(
            self.collection, ids=[point_id(i) for i in ids], with_payload=True, with_vectors=with_vectors
        )
        found = {r.id: r for r in (record_of(p, list(self.meta.spaces), with_vectors) for p in points)}
        return [found[i] for i in ids if i in found]

    @_locked
    def count(self, filter: SearchFilter | None = None) -> int:
        return int(self._client.count(self.collection, count_filter=self._filter(filter), exact=True).count)

    @_locked
    def exists(self, filter: SearchFilter | None = None) -> bool:
        points, _ = self._client.scroll(
            self.collection, scroll_filter=self._filter(filter), limit=1, with_payload=False, with_vectors=False
        )
        return bool(points)

    @_locked
    def _browse(self, filter: SearchFilter | None, limit: int, cursor: str | None) -> Page:
        points, offset = self._client.scroll(
            self.collection,
            scroll_filter=self._filter(filter),
            limit=limit,
            offset=scroll_offset(cursor),
            with_payload=True,
            with_vectors=False,
        )
        return page_of(points, offset)

    def _scroll(self, with_vectors: Any = False, batch_size: int = 1024) -> Iterator[list[Any]]:
        offset = None
        while True:
            with self._lock:  # a generator: lock each page, not the whole walk
                points, offset = self._client.scroll(
                    self.collection, limit=batch_size, offset=offset, with_payload=True, with_vectors=with_vectors
                )
            if points:
                yield points
            if offset is None:
                return

    @_locked
    def category_counts(self, level: int | None = None) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for points in self._scroll():
            for p in points:
                path = (p.payload or {}).get("category")
                if path and (level is None or len((p.payload or {}).get("category_levels") or []) >= level):
                    counts[level_key(path, level) or ""] += 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def iter_vectors(
        self, space: str = DEFAULT_SPACE, batch_size: int = 1024
    ) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        if space not in self.meta.spaces:
            raise StoreError(f"unknown vector space {space!r}")
        for points in self._scroll(with_vectors=[space], batch_size=batch_size):
            rows = vector_rows(points, space)
            if rows is not None:
                yield rows

    def _count_vectors(self, space: str) -> int:
        """Points holding a vector in this space (not every product has a photo)."""
        has = self._models.Filter(must=[self._models.HasVectorCondition(has_vector=space)])
        return int(self._client.count(self.collection, count_filter=has, exact=True).count)

    @_locked
    def describe(self) -> dict[str, Any]:
        return {
            "backend": "qdrant",
            "location": self.location if self.server or self.location == ":memory:" else f"{self.location} (embedded)",
            "collection": self.collection,
            "model": self.meta.model,
            "spaces": {
                space: {
                    "dim": dim,
                    "index": "hnsw (server)" if self.server else "exact (local mode)",
                    "vectors": self._count_vectors(space),
                }
                for space, dim in self.meta.spaces.items()
            },
            "sparse": {space: {"vectors": self._count_vectors(space)} for space in self.meta.sparse},
            "products": self.count(),
        }

    def reader_spec(self) -> dict[str, Any] | None:
        if not self.server:  # local mode's folder is locked by the process that opened it
            return None
        return {"backend": self.backend, "url": self.location, "collection": self.collection, "api_key": self._api_key}

    @_locked
    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
            self._client = None  # type: ignore[assignment]
