"""Embedded Qdrant on qdrant-edge: Qdrant's own Rust engine in this process, one shard.

What ``--store qdrant`` uses without a server (qdrant-client's local mode, pure Python
and an exact scan over every point, could not hold 1M products; docs/benchmarks.md).
The same points as the server backend (:mod:`semcat.search.qdrant_store`): point id
``uuid5(product id)``, the product id in the payload, dense spaces with cosine distance,
sparse spaces with Qdrant's IDF modifier, keyword payload indexes on the fields the
categorizer filters on. Per-category counts are the engine's facets. The model name and
spaces live in ``semcat.json`` beside the shard.

The engine builds its HNSW index only when asked (:meth:`QdrantEdgeStore.flush`, which
``semcat index`` and the API's shutdown call): until then new points sit in an appendable
segment that searches scan exactly, so a write is searchable at once either way.

One process at a time: the shard is not shared between processes (the engine keeps no
lock of its own, so semcat takes an exclusive ``flock`` on the folder); a second process
gets a clear error instead of a corrupted shard. Several API replicas need a Qdrant server.

Long module: one class implements the whole store protocol against one shard (with the
folder lock and the saved metadata it depends on), as the server backend does.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog.product import PATH_JOIN
from semcat.errors import NotFoundError, StoreError, StoreMissingError
from semcat.options import HNSW_DEFAULTS, QUANTIZATION, HnswOptions, Quantization
from semcat.search.base import (
    DEFAULT_SPACE,
    Hit,
    Page,
    Record,
    SearchFilter,
    StoreMeta,
    VectorStore,
)
from semcat.search.qdrant_store import (
    INT8_QUANTILE,
    PAYLOAD_INDEXES,
    QUANTIZED_OVERSAMPLING,
    hit_of,
    page_of,
    point_id,
    record_of,
    scroll_offset,
    vector_rows,
)

_CHUNK = 1024  # points per engine call (upserts, retrieves, scroll pages)
_META = "semcat.json"
# Qdrant's full_scan_threshold, in KB of vectors (~6,700 MiniLM vectors): a filter expected
# to let fewer through is searched by scanning them, not the graph
FULL_SCAN_KB = 10_000
FACET_LIMIT = 10_000_000  # distinct values a facet may return: every category of any catalog


def _locked(method: Any) -> Any:
    """One call at a time on the shard (its Python binding is called from the API's
    thread pool), and an open store required."""

    @functools.wraps(method)
    def wrapper(self: QdrantEdgeStore, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._shard is None:
                raise StoreError(f"the Qdrant store at {self.location} is closed")
            return method(self, *args, **kwargs)

    return wrapper


def import_edge() -> Any:
    try:
        import qdrant_edge
    except ImportError as exc:  # pragma: no cover - broken install
        raise StoreError(f"qdrant-edge is not importable ({exc}); pip install qdrant-edge-py") from exc
    return qdrant_edge


class QdrantEdgeStore(VectorStore):
    """A Qdrant shard in ``directory`` (None: a temporary one, removed on close)."""

    backend = "qdrant"
    generation_is_global = True  # one process owns the shard: its writes are all the writes

    def __init__(
        self,
        directory: Path | None,
        meta: StoreMeta | None,
        hnsw: HnswOptions = HNSW_DEFAULTS,
        quantization: Quantization = QUANTIZATION,
    ) -> None:
        self.qe = import_edge()
        self._lock = threading.RLock()
        self._shard: Any = None
        self._lockfile: Any = None
        self._temporary = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="semcat-qdrant-")) if directory is None else Path(directory)
        self.location = ":memory:" if self._temporary else f"{self.directory} (embedded qdrant-edge)"
        self.hnsw = hnsw
        self.quantization = quantization  # a new shard's; an existing one keeps its own
        self._writes = 0
        self.build_seconds: float | None = None  # the last index build (flush) in this process
        meta_path = self.directory / _META
        if meta is None and not meta_path.exists():
            raise StoreMissingError(f"no Qdrant store at {self.directory}: index a catalog first (semcat index)")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lockfile = (self.directory / ".lock").open("a")
        except OSError as exc:
            raise StoreError(f"cannot create the Qdrant folder {self.directory}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockfile.close()
            raise StoreError(
                f"the Qdrant store at {self.directory} is open in another process (an embedded shard has one "
                "owner; stop it, or use a Qdrant server for several processes)"
            ) from None
        try:
            self.meta = self._open(meta)
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------- opening
    def _config(self, meta: StoreMeta) -> Any:
        qe = self.qe
        return qe.EdgeConfig(
            vectors={
                space: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine) for space, dim in meta.spaces.items()
            },
            sparse_vectors={space: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf) for space in meta.sparse}
            or None,
            # payload_m=0: no extra graph per category value. With the keyword indexes on
            # the category fields Qdrant otherwise builds one for every prefix held by more
            # than ~6,700 products, and at 1M products the build took several times the main
            # graph's; filtered searches walk the main graph with ACORN instead (_query;
            # benchmarks/studies/qdrant_filtered.py measured both)
            hnsw_config=qe.HnswIndexConfig(
                m=self.hnsw.m,
                ef_construct=self.hnsw.ef_construction,
                full_scan_threshold=FULL_SCAN_KB,
                payload_m=0,
            ),
            # int8: the graph is built and walked on a quantized copy held in RAM (a quarter of
            # the floats' bytes); every hit is rescored with its original vector, so scores stay
            # exact cosines (_query)
            quantization_config=qe.ScalarQuantizationConfig(
                type=qe.ScalarType.Int8, quantile=INT8_QUANTILE, always_ram=True
            )
            if self.quantization == "int8"
            else None,
        )

    def _open(self, wanted: StoreMeta | None) -> StoreMeta:
        meta_path, shard_path = self.directory / _META, self.directory / "shard"
        if not meta_path.exists():
            assert wanted is not None  # checked by the caller
            try:
                self._shard = self.qe.EdgeShard.create(str(shard_path), self._config(wanted))
                for key in PAYLOAD_INDEXES:
                    self._shard.update(
                        self.qe.UpdateOperation.create_field_index(key, self.qe.PayloadSchemaType.Keyword)
                    )
                self._shard.flush()
            except Exception as exc:
                raise StoreError(f"cannot create the Qdrant store at {self.directory}: {exc}") from exc
            tmp = meta_path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps(
                    {
                        "model": wanted.model,
                        "spaces": wanted.spaces,
                        "sparse": list(wanted.sparse),
                        "quantization": self.quantization,
                    }
                )
            )
            os.replace(tmp, meta_path)  # written last: a store without it was never finished
            return wanted
        try:
            saved = json.loads(meta_path.read_text())
            have = StoreMeta(
                model=saved["model"],
                spaces={k: int(v) for k, v in saved["spaces"].items()},
                sparse=tuple(saved.get("sparse") or ()),
            )
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise StoreError(f"the Qdrant store at {self.directory} has an unreadable {_META}: {exc}") from None
        self.quantization = saved.get("quantization", "none")  # the shard's own, fixed at its creation
        if wanted is not None and not wanted.same_as(have):
            raise StoreError(
                f"the Qdrant store at {self.directory} holds vectors of model {have.describe()}; "
                f"you asked for {wanted.describe()}. Use another --collection"
            )
        try:
            self._shard = self.qe.EdgeShard.load(str(shard_path))
        except Exception as exc:
            raise StoreError(f"cannot open the Qdrant store at {self.directory}: {exc}") from exc
        return have

    # ------------------------------------------------------------- helpers
    def _filter(self, flt: SearchFilter | None) -> Any:
        if flt is None or flt.empty:
            return None
        qe = self.qe
        must = [qe.FieldCondition("category_prefixes", match=qe.MatchValue(flt.category))] if flt.category else []
        # unlabeled products store an empty category_levels list
        must_not = [qe.IsEmptyCondition("category_levels")] if flt.labeled else []
        return qe.Filter(must=must or None, must_not=must_not or None)

    def _query(self, query: Any, space: str, k: int, flt: Any, subtree: bool = False) -> Any:
        """One search request; ``subtree``: filtered to a category, searched with ACORN (the
        graph has no per-category links; Qdrant applies it only to selective filters)."""
        acorn = self.qe.AcornSearchParams(enable=True) if subtree else None
        return self.qe.QueryRequest(
            limit=k,
            query=self.qe.Query.Nearest(query, using=space),
            filter=flt,
            with_payload=True,
            params=self.qe.SearchParams(
                hnsw_ef=max(self.hnsw.ef_search, k),
                acorn=acorn,
                quantization=self.qe.QuantizationSearchParams(rescore=True, oversampling=QUANTIZED_OVERSAMPLING),
            ),
        )

    def _present(self, ids: Sequence[str]) -> list[str]:
        return [r.id for r in self.get(ids)]

    # --------------------------------------------------------------- writes
    @_locked
    def _upsert(
        self,
        ids: list[str],
        arrays: dict[str, tuple[np.ndarray, np.ndarray]],
        sparse: dict[str, list[tuple[np.ndarray, np.ndarray]]],
        payloads: Sequence[dict[str, Any]],
    ) -> None:
        qe = self.qe
        per_row: list[dict[str, Any]] = [{} for _ in ids]
        for space, (rows, array) in arrays.items():
            for row, vec in zip(rows.tolist(), array.tolist(), strict=True):
                per_row[row][space] = vec
        for space, sparse_rows in sparse.items():
            for row, (idx, val) in enumerate(sparse_rows):
                if len(idx):
                    per_row[row][space] = qe.SparseVector(idx.tolist(), val.tolist())
        points = [qe.Point(point_id(pid), per_row[row], {**payloads[row], "id": pid}) for row, pid in enumerate(ids)]
        for start in range(0, len(points), _CHUNK):
            self._shard.update(qe.UpdateOperation.upsert_points(points[start : start + _CHUNK]))
        self._writes += 1

    @_locked
    def update_payloads(self, ids: Sequence[str], payloads: Sequence[dict[str, Any]]) -> None:
        ids = [str(i) for i in ids]
        present = set(self._present(ids))
        missing = [i for i in ids if i not in present]
        if missing:
            raise NotFoundError(f"unknown product id(s): {', '.join(missing[:10])}")
        for pid, payload in zip(ids, payloads, strict=True):
            self._shard.update(self.qe.UpdateOperation.overwrite_payload([point_id(pid)], {**payload, "id": pid}))
        self._writes += 1

    @_locked
    def delete(self, ids: Sequence[str]) -> int:
        present = self._present([str(i) for i in ids])
        if present:
            self._shard.update(self.qe.UpdateOperation.delete_points([point_id(i) for i in present]))
            self._writes += 1
        return len(present)

    @_locked
    def flush(self) -> None:
        """Persist, and build the HNSW index over what was written since the last flush
        (the engine's optimizers run only when asked; minutes at 1M products)."""
        start = time.perf_counter()
        self._shard.flush()
        if self._shard.optimize():
            self.build_seconds = round(time.perf_counter() - start, 2)
        self._shard.flush()

    def generation(self) -> int:
        return self._writes

    # ---------------------------------------------------------------- reads
    @_locked
    def _search(self, queries: np.ndarray, k: int, filter: SearchFilter | None, space: str) -> list[list[Hit]]:
        flt = self._filter(filter)
        subtree = filter is not None and filter.category is not None
        requests = [self._query(q, space, k, flt, subtree) for q in queries.tolist()]
        answers = self._shard.query_batch(self.qe.QueryBatchRequest(requests)) if requests else []
        return [[hit_of(p) for p in points] for points in answers]

    @_locked
    def _search_sparse(
        self, queries: Sequence[tuple[np.ndarray, np.ndarray]], k: int, filter: SearchFilter | None, space: str
    ) -> list[list[Hit]]:
        flt = self._filter(filter)
        requests = [
            self._query(self.qe.SparseVector(np.asarray(i).tolist(), np.asarray(v).tolist()), space, k, flt)
            for i, v in queries
        ]
        answers = self._shard.query_batch(self.qe.QueryBatchRequest(requests))
        return [[hit_of(p) for p in points if p.score > 0] for points in answers]

    @_locked
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Record]:
        ids = [str(i) for i in ids]
        found: dict[str, Record] = {}
        spaces = list(self.meta.spaces) if with_vectors else False
        for start in range(0, len(ids), _CHUNK):
            chunk = [point_id(i) for i in ids[start : start + _CHUNK]]
            for p in self._shard.retrieve(chunk, True, spaces):
                record = record_of(p, list(self.meta.spaces), with_vectors)
                found[record.id] = record
        return [found[i] for i in ids if i in found]

    @_locked
    def count(self, filter: SearchFilter | None = None) -> int:
        return int(self._shard.count(self.qe.CountRequest(exact=True, filter=self._filter(filter))))

    @_locked
    def exists(self, filter: SearchFilter | None = None) -> bool:
        points, _ = self._shard.scroll(
            self.qe.ScrollRequest(limit=1, filter=self._filter(filter), with_payload=False, with_vector=False)
        )
        return bool(points)

    @_locked
    def _browse(self, filter: SearchFilter | None, limit: int, cursor: str | None) -> Page:
        points, offset = self._shard.scroll(
            self.qe.ScrollRequest(
                offset=scroll_offset(cursor),
                limit=limit,
                filter=self._filter(filter),
                with_payload=True,
                with_vector=False,
            )
        )
        return page_of(points, offset)

    @_locked
    def category_counts(self, level: int | None = None) -> dict[str, int]:
        """The engine's facet counts: full paths (``category``), or the prefixes of one level
        (``category_prefixes`` holds every level's prefix of a product's path)."""
        key = "category" if level is None else "category_prefixes"
        hits = self._shard.facet(self.qe.FacetRequest(key, limit=FACET_LIMIT, exact=True)).hits
        counts: Counter[str] = Counter()
        for hit in hits:
            value = str(hit.value.value if hasattr(hit.value, "value") else hit.value)
            if level is None or value.count(PATH_JOIN) + 1 == level:
                counts[value] += int(hit.count)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def iter_vectors(
        self, space: str = DEFAULT_SPACE, batch_size: int = _CHUNK
    ) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        if space not in self.meta.spaces:
            raise StoreError(f"unknown vector space {space!r}")
        offset = None
        while True:
            with self._lock:  # a generator: lock each page, not the whole walk
                if self._shard is None:
                    raise StoreError(f"the Qdrant store at {self.location} is closed")
                points, offset = self._shard.scroll(
                    self.qe.ScrollRequest(offset=offset, limit=batch_size, with_payload=True, with_vector=[space])
                )
            rows = vector_rows(points, space)
            if rows is not None:
                yield rows
            if offset is None:
                return

    def _count_vectors(self, space: str) -> int:
        """Points holding a vector in this space (not every product has a photo)."""
        has = self.qe.Filter(must=[self.qe.HasVectorCondition(space)])
        return int(self._shard.count(self.qe.CountRequest(exact=True, filter=has)))

    @_locked
    def describe(self) -> dict[str, Any]:
        info = self._shard.info()
        return {
            "backend": "qdrant",
            "location": self.location,
            "model": self.meta.model,
            "spaces": {
                space: {
                    "dim": dim,
                    "index": "hnsw (qdrant-edge)" if info.indexed_vectors_count else "exact (qdrant-edge)",
                    "quantization": self.quantization,
                    "vectors": self._count_vectors(space),
                    **({"built_in_s": self.build_seconds} if self.build_seconds is not None else {}),
                }
                for space, dim in self.meta.spaces.items()
            },
            "sparse": {space: {"vectors": self._count_vectors(space)} for space in self.meta.sparse},
            "products": self.count(),
            "segments": info.segments_count,
        }

    def reader_spec(self) -> dict[str, Any] | None:
        return None  # the shard's folder is locked by the process that opened it

    def close(self) -> None:
        with self._lock:
            if self._shard is None:
                return
            try:
                self._shard.flush()
                self._shard.close()
            finally:
                self._shard = None
                self._release()

    def _release(self) -> None:
        if self._lockfile is not None:
            self._lockfile.close()  # drops the flock
            self._lockfile = None
        if self._temporary:
            shutil.rmtree(self.directory, ignore_errors=True)
