"""Bulk indexing on Ray Data: ``semcat index --executor ray`` (the ``semcat[ray]`` extra).

The same store as :func:`semcat.indexer.bulk.index_products`, built by a Ray cluster (a
local one started for the run, or ``SEMCAT_RAY__ADDRESS``):

1. **read**: one task per shard (one file, every catalog file under a folder, or a pyarrow
   filesystem URI such as ``s3://bucket/catalog/``) reads it with semcat's own reader
   (:func:`semcat.catalog.read_catalog`: the same column detection, validation, limits and
   row reports, each naming its file and row), builds each product's embedded text and
   stored payload with its content hashes;
2. **join**: each batch's ids are looked up in the store (the stored hashes): unchanged
   products go no further, relabeled ones get their payload rewritten, new or changed ones
   are embedded;
3. **embed**: a pool of actors, one model copy each (``SEMCAT_RAY__ACTORS``,
   ``__CPUS_PER_ACTOR``, ``__GPUS_PER_ACTOR``);
4. **write**: a Qdrant server or cluster is written by the workers themselves (the store's
   own upsert: the same point ids and payloads as ``semcat index``); a local store (FAISS,
   embedded Qdrant) is written by this process as the batches stream back.

Each batch is one durable upsert, so a killed run re-run embeds only what is missing. The
head (and its calibration) trains once, at the end, as after ``semcat index``.

Long module: the four stages and the driver's accounting of what streams back are one
pipeline, read together.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import ColumnMap, RejectedRow, read_catalog, stored_payload, text_hash
from semcat.catalog.readers import CATALOG_SUFFIXES
from semcat.config import Settings
from semcat.errors import CatalogError, ConfigError, SemcatError
from semcat.indexer.bulk import IndexSummary, StoredHashes, hashes_of, outcome, stored_hashes
from semcat.search.base import DEFAULT_SPACE, VectorStore
from semcat.spaces import LEXICAL_SPACE

# what a row of the stream is
PRODUCT, REJECTED, NOTE, FAILED = "product", "rejected", "note", "failed"
# a product's share of a block (its text and payload as read; a 384-d vector adds 1.5 KB)
ROW_BYTES = 2048
# what the join decided for a product, from what the single-machine indexer does with it
EMBED, RELABEL, UNCHANGED = "embed", "relabel", "unchanged"
DECISIONS = {"created": EMBED, "updated": EMBED, "relabeled": RELABEL, "unchanged": UNCHANGED}


@dataclass(frozen=True)
class ReadSpec:
    """What every read task needs: how to read a shard and how to hash its products."""

    columns: ColumnMap | None
    fmt: str | None
    encoding: str
    model: str  # the vectors' model name: part of the text hash
    fields: tuple[str, ...]
    # several shards: a catalog without an id column numbers its products by row, per file,
    # so the file's name joins the row number (one file: the row number, as semcat index)
    many: bool = False


@dataclass
class RayRun:
    """What a Ray indexing run did, beyond :class:`IndexSummary`: what was read."""

    summary: IndexSummary
    shards: int = 0
    rows_read: int = 0
    labeled: int = 0
    notes: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)  # id -> times read (over every shard)
    actors: int = 0


def is_server(settings: Settings) -> bool:
    """Whether the store is a Qdrant server the workers can write to themselves."""
    url = settings.qdrant.url
    return settings.store == "qdrant" and bool(url) and url != ":memory:"


def shards(source: str | Path) -> list[str]:
    """The catalog files a source names: a file, every catalog file under a folder (sorted),
    or the same through a pyarrow filesystem URI (``s3://``, ``gs://``, ``hdfs://``, ``file://``)."""
    text = str(source)
    if "://" in text:
        import pyarrow.fs as pafs

        try:
            fs, root = pafs.FileSystem.from_uri(text)
            info = fs.get_file_info(root)
        except (OSError, ValueError) as exc:
            raise CatalogError(f"cannot open {text}: {exc}") from None
        scheme = text.split("://", 1)[0]
        if info.type == pafs.FileType.File:
            return [text]
        if info.type != pafs.FileType.Directory:
            raise CatalogError(f"catalog not found: {text}")
        found = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        files = sorted(i.path for i in found if i.type == pafs.FileType.File and _is_catalog(i.path))
        uris = [f"{scheme}://{'/' if scheme == 'file' and not p.startswith('/') else ''}{p}" for p in files]
    else:
        path = Path(source)
        if not path.exists():
            raise CatalogError(f"catalog file not found: {path}")
        uris = [str(path)] if path.is_file() else sorted(str(p) for p in path.rglob("*") if _is_catalog(str(p)))
    if not uris:
        raise CatalogError(f"no catalog file (.csv, .tsv, .jsonl, .parquet) under {text}")
    return uris


def _is_catalog(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in CATALOG_SUFFIXES and not os.path.basename(path).startswith(".")


@contextmanager
def _local(shard: str) -> Iterator[Path]:
    """A shard as a local file: itself, or a URI's bytes copied to a temporary file (semcat's
    reader sniffs encodings and formats from a file)."""
    if "://" not in shard:
        yield Path(shard)
        return
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(shard)
    folder = tempfile.mkdtemp(prefix="semcat-shard-")
    try:
        local = Path(folder) / os.path.basename(path)
        with fs.open_input_stream(path) as src, local.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_shard(item: dict[str, Any], spec: ReadSpec) -> list[dict[str, Any]]:
    """One shard's rows: a row per product (its text, payload and hashes), per rejected row,
    per reader note; a shard that cannot be read at all is one ``failed`` row."""
    shard = str(item["shard"])
    name = shard.rsplit("/", 1)[-1]
    empty = {"id": "", "text": "", "payload": "", "category": "", "row": 0, "reason": ""}
    try:
        with _local(shard) as path:
            report = read_catalog(path, spec.columns, spec.fmt, spec.encoding)
    except (SemcatError, OSError) as exc:
        return [empty | {"kind": FAILED, "shard": name, "reason": str(exc)}]
    rows = [empty | {"kind": NOTE, "shard": name, "reason": note} for note in report.notes]
    rows += [empty | {"kind": REJECTED, "shard": name, "row": r.row, "reason": r.reason} for r in report.rejected]
    rows.append(empty | {"kind": NOTE, "shard": name, "row": report.rows_read, "reason": "rows read"})
    products = report.products
    if spec.many and not report.columns.id:
        products = [replace(p, id=f"{name}:{p.id}") for p in products]
    for product in products:
        text = product.text(spec.fields)
        payload = stored_payload(product, text_hash(spec.model, text))
        rows.append(
            empty
            | {
                "kind": PRODUCT,
                "shard": name,
                "id": product.id,
                "text": text,
                "payload": json.dumps(payload, ensure_ascii=False),
                "category": payload.get("category") or "",
            }
        )
    return rows


class Join:
    """Decides per product: embed (new or changed text), relabel (payload only) or
    unchanged, from the stored hashes (a server's, looked up here; a local store's, handed
    over once as a Ray object)."""

    def __init__(self, settings: Settings, stored: Any = None) -> None:
        self.settings = settings
        # {id: (text hash, payload hash, label)} (or a Ray ObjectRef of it), or None: ask the server
        self.stored = stored
        self._store: VectorStore | None = None
        self._table: dict[str, StoredHashes] | None = None

    def lookup(self, ids: list[str]) -> dict[str, StoredHashes]:
        if self.stored is None:
            if self._store is None:
                from semcat.search import open_store

                self._store = open_store(self.settings)
            return stored_hashes(self._store, ids)
        if self._table is None:
            import ray

            self._table = self.stored if isinstance(self.stored, dict) else ray.get(self.stored)
        return {i: self._table[i] for i in ids if i in self._table}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        kinds = batch["kind"]
        ids = [str(i) for i, k in zip(batch["id"], kinds, strict=True) if k == PRODUCT]
        found = self.lookup(ids)
        outcomes, before = [], []
        for kind, pid, payload in zip(kinds, batch["id"], batch["payload"], strict=True):
            old = found.get(str(pid)) if kind == PRODUCT else None
            before.append("" if old is None or old[2] is None else old[2])
            outcomes.append(outcome(old, json.loads(payload)) if kind == PRODUCT else "")
        decision = [DECISIONS.get(o, "") for o in outcomes]
        return batch | {"decision": np.array(decision), "outcome": np.array(outcomes), "before": np.array(before)}


class Embed:
    """An embedding actor: one model copy, loaded once."""

    def __init__(self, settings: Settings, threads: int) -> None:
        from semcat.embedding import load_embedder

        update: dict[str, Any] = {"encode_threads": threads}
        if settings.ray.gpus_per_actor > 0:  # the backend is torch already (index_on_ray checks)
            update["device"] = "cuda"
        self.embedder = load_embedder(settings.model_copy(update=update))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = np.flatnonzero(batch["decision"] == EMBED)
        vectors = np.zeros((len(batch["kind"]), self.embedder.dim), dtype=np.float32)
        if len(rows):
            vectors[rows] = self.embedder.encode_texts([str(batch["text"][i]) for i in rows], role="passage")
        return batch | {"vector": vectors}


def write_batch(store: VectorStore, batch: dict[str, np.ndarray]) -> None:
    """Upsert a batch's embedded products and rewrite its relabeled ones' payloads: one
    durable write each, as the single-machine indexer does."""
    # an id read twice (in two shards) once per write: the later row, as a file's last row wins
    last = {str(pid): i for i, pid in enumerate(batch["id"])}
    keep = np.array([last.get(str(pid)) == i for i, pid in enumerate(batch["id"])], dtype=bool)
    embed = np.flatnonzero((batch["decision"] == EMBED) & keep)
    if len(embed):
        texts = [str(batch["text"][i]) for i in embed]
        vectors: Any = np.asarray(batch["vector"][embed], dtype=np.float32)
        if LEXICAL_SPACE in store.meta.sparse:
            from semcat.embedding.lexical import LexicalEncoder

            vectors = {DEFAULT_SPACE: vectors, LEXICAL_SPACE: LexicalEncoder().encode(texts)}
        store.upsert([str(batch["id"][i]) for i in embed], vectors, [json.loads(batch["payload"][i]) for i in embed])
    relabel = np.flatnonzero((batch["decision"] == RELABEL) & keep)
    if len(relabel):
        store.update_payloads(
            [str(batch["id"][i]) for i in relabel], [json.loads(batch["payload"][i]) for i in relabel]
        )


class Write:
    """A writer on the workers, for a Qdrant server or cluster: the store's own upsert."""

    def __init__(self, settings: Settings) -> None:
        from semcat.search import open_store

        self.store = open_store(settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        write_batch(self.store, batch)
        # what the driver still needs: no vector, no text
        return {k: v for k, v in batch.items() if k not in ("vector", "text")}


def all_hashes(store: VectorStore) -> dict[str, StoredHashes]:
    """Every stored product's hashes and label (the local store's side of the join)."""
    table: dict[str, StoredHashes] = {}
    cursor = None
    while True:
        page = store.browse(None, 1000, cursor)
        for record in page.records:
            table[record.id] = hashes_of(record.payload)
        cursor = page.next
        if not cursor:
            return table


def _start_ray(settings: Settings) -> bool:
    """Connect to the configured cluster or start a local one; True when this run started it."""
    import logging

    import ray

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its per-dataset lines: the CLI says what happened
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if settings.ray.address:
        ray.init(address=settings.ray.address, **options)
    else:
        ray.init(num_cpus=settings.ray.cpus or os.cpu_count() or 1, **options)
    return True


def actor_count(settings: Settings) -> int:
    """Embedding actors: as configured, else as many as the cluster's CPUs (or GPUs) hold."""
    if settings.ray.actors:
        return settings.ray.actors
    import ray

    resources = ray.cluster_resources()
    if settings.ray.gpus_per_actor > 0:
        return max(1, int(resources.get("GPU", 0) // settings.ray.gpus_per_actor))
    return max(1, int(resources.get("CPU", 1) // settings.ray.cpus_per_actor))


def index_on_ray(
    source: str | Path,
    settings: Settings,
    store: VectorStore,
    model: str,
    *,
    columns: ColumnMap | None = None,
    fmt: str | None = None,
    encoding: str = "utf-8",
    progress: Callable[[int], None] | None = None,
) -> RayRun:
    """Index a catalog (file, folder of shards or URI) into ``store`` on Ray; see the module
    docstring. ``model`` is the vectors' model name (the store's); ``progress`` gets the
    count of products handled so far."""
    try:
        import ray
        from ray.data import ActorPoolStrategy, DataContext
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'semcat[ray]'") from None
    if settings.ray.gpus_per_actor > 0 and settings.backend != "torch":
        raise ConfigError(
            "GPU actors embed with the torch backend, and a store's vectors carry their backend's name: set "
            "SEMCAT_BACKEND=torch for this store (or SEMCAT_RAY__GPUS_PER_ACTOR=0)"
        )
    files = shards(source)
    start = time.perf_counter()
    started = _start_ray(settings)
    run = RayRun(summary=IndexSummary(), shards=len(files))
    summary = run.summary
    try:
        context = DataContext.get_current()
        context.enable_progress_bars = False
        context.enable_operator_progress_bars = False
        # blocks of about a batch: Ray Data fills a stage's output blocks up to this size, and a
        # shard read as one block would reach one actor only (the others idle) and the store
        # only at its end (a repartition stage would need a CPU the actors hold)
        context.target_max_block_size = max(64 << 10, settings.ray.batch_rows * ROW_BYTES)
        spec = ReadSpec(columns, fmt, encoding, model, tuple(settings.text_fields), many=len(files) > 1)
        server = is_server(settings)
        stored = None if server else ray.put(all_hashes(store))
        run.actors = actor_count(settings)
        rows = settings.ray.batch_rows
        ds = ray.data.from_items([{"shard": f} for f in files], override_num_blocks=len(files))
        # reading and the join reserve no CPU: the actors hold every CPU of the cluster, and a
        # task waiting for a free one would wait for ever; they run beside the embedding
        ds = ds.flat_map(read_shard, fn_kwargs={"spec": spec}, num_cpus=0)

        ds = ds.map_batches(
            Join,
            fn_constructor_kwargs={"settings": settings, "stored": stored},
            batch_size=rows,
            compute=ActorPoolStrategy(size=1) if not server else ActorPoolStrategy(min_size=1, max_size=run.actors),
            num_cpus=0,
            batch_format="numpy",
        )
        ds = ds.map_batches(
            Embed,
            fn_constructor_kwargs={"settings": settings, "threads": max(1, int(settings.ray.cpus_per_actor))},
            batch_size=rows,
            compute=ActorPoolStrategy(size=run.actors),
            num_cpus=settings.ray.cpus_per_actor,
            num_gpus=settings.ray.gpus_per_actor or None,
            batch_format="numpy",
        )
        if server:
            ds = ds.map_batches(
                Write,
                fn_constructor_kwargs={"settings": settings},
                batch_size=rows,
                compute=ActorPoolStrategy(size=run.actors),
                num_cpus=0,  # waits on the server, beside the embedding
                batch_format="numpy",
            )
        seen: dict[str, int] = {}
        for batch in ds.iter_batches(batch_size=rows, batch_format="numpy", prefetch_batches=2):
            if not server:
                write_batch(store, batch)
            _account(run, batch, seen)
            if progress is not None:
                progress(summary.embedded + summary.relabeled + summary.unchanged)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        store.flush()
        if started:
            ray.shutdown()
        summary.seconds = time.perf_counter() - start
    run.duplicates = {pid: n for pid, n in seen.items() if n > 1}
    summary.valid = len(seen)
    return run


def _account(run: RayRun, batch: dict[str, np.ndarray], seen: dict[str, int]) -> None:
    """Fold one written batch into the run's counts, rejected rows and label changes."""
    summary = run.summary
    for i, kind in enumerate(batch["kind"]):
        shard, reason = str(batch["shard"][i]), str(batch["reason"][i])
        if kind == FAILED:
            summary.rejected.append(RejectedRow(0, f"the whole file: {reason}", shard))
        elif kind == REJECTED:
            summary.rejected.append(RejectedRow(int(batch["row"][i]), reason, shard))
        elif kind == NOTE and reason == "rows read":
            run.rows_read += int(batch["row"][i])
        elif kind == NOTE:
            run.notes.append(f"{shard}: {reason}")
        if kind != PRODUCT:
            continue
        pid, decision = str(batch["id"][i]), batch["decision"][i]
        seen[pid] = seen.get(pid, 0) + 1
        category, before = str(batch["category"][i]) or None, str(batch["before"][i]) or None
        run.labeled += category is not None
        summary.count(str(batch["outcome"][i]))
        summary.embedded += decision == EMBED
        if decision != UNCHANGED and category != before:
            summary.label_changes.append((pid, before, category))
