"""The bulk indexer.

Every product gets two hashes: ``text_hash`` (model name + the embedded text) and
``payload_hash`` (everything else stored). A re-run embeds only products whose
text hash changed or that are not stored yet, and rewrites just the payload of those
whose label or other fields changed. Each batch is one durable upsert, so an
interrupted run (Ctrl-C, kill -9) resumes where it stopped: re-running the same
command embeds only what is missing, and upsert-by-id never duplicates.

With a model that embeds images (CLIP) and an images root, each product's photo is
resolved under the root, hashed (its content digest joins the text hash, so a
replaced photo is re-embedded) and decoded safely; the product gets a ``text`` and an
``image`` vector. A missing, unsafe or corrupt photo is a warning naming the product,
and the product is indexed text-only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import TEXT_FIELDS, Product, RejectedRow, stored_payload, text_hash
from semcat.embedding.base import Embedder
from semcat.embedding.lexical import LexicalEncoder
from semcat.images import DEFAULT_MAX_PIXELS, ImageError, file_digest, load_image, resolve_image
from semcat.search.base import DEFAULT_SPACE, IMAGE_SPACE, VectorStore
from semcat.spaces import LEXICAL_SPACE

_LOOKUP_CHUNK = 1000


@dataclass
class IndexSummary:
    """What an indexing run did."""

    valid: int = 0
    new: int = 0
    changed: int = 0
    relabeled: int = 0
    unchanged: int = 0
    embedded: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    embed_seconds: float = 0.0
    images: int = 0
    warnings: list[str] = field(default_factory=list)
    outcomes: dict[str, str] | None = None  # id -> created / updated / relabeled / unchanged, when asked
    # (id, label before, label after) of each written product whose label changed (a new
    # labeled product included): what the label history records
    label_changes: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    head_seconds: float | None = None  # the linear head saved after the run (Engine.index(save_head=True))

    def count(self, outcome: str) -> None:
        """Count one product's :func:`outcome`."""
        if outcome == "created":
            self.new += 1
        elif outcome == "updated":
            self.changed += 1
        elif outcome == "relabeled":
            self.relabeled += 1
        else:
            self.unchanged += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "indexed": self.embedded,
            "new": self.new,
            "changed": self.changed,
            "relabeled": self.relabeled,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "rejected_rows": [
                {"row": r.row, "reason": r.reason} | ({"file": r.file} if r.file else {}) for r in self.rejected
            ],
            "images": self.images,
            "warnings": len(self.warnings),
            "warning_messages": self.warnings[:100],
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "products_per_second": round(self.embedded / self.seconds, 1) if self.embedded and self.seconds else None,
        }


StoredHashes = tuple[str, str, str | None]  # a stored product's text hash, payload hash and label


def hashes_of(payload: dict[str, Any]) -> StoredHashes:
    """What a re-run compares a stored payload by (and its label: the label history's "before")."""
    return payload.get("text_hash", ""), payload.get("payload_hash", ""), payload.get("category")


def stored_hashes(store: VectorStore, ids: Sequence[str]) -> dict[str, StoredHashes]:
    """Per stored id: its text hash, payload hash and label."""
    found: dict[str, StoredHashes] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        for record in store.get(ids[start : start + _LOOKUP_CHUNK]):
            found[record.id] = hashes_of(record.payload)
    return found


def outcome(old: StoredHashes | None, payload: dict[str, Any]) -> str:
    """What indexing does with a product whose new payload is ``payload`` and whose stored
    hashes are ``old`` (None: not stored): created or updated (embedded), relabeled (its
    payload rewritten) or unchanged."""
    if old is None:
        return "created"
    if old[0] != payload["text_hash"]:
        return "updated"
    return "relabeled" if old[1] != payload["payload_hash"] else "unchanged"


# Products embedded per call and written per store transaction, in batch_size batches:
# the ONNX backend spreads one call's batches over its threads, so a call of many
# batches keeps every core busy to its end (a few batches per call left a core idle at
# each call's end; docs/design-notes.md, "Text encoder backend"). An interrupted run
# loses at most one call's work.
CHUNK_BATCHES = 16


def index_products(
    products: Sequence[Product],
    embedder: Embedder,
    store: VectorStore,
    *,
    fields: Sequence[str] = TEXT_FIELDS,
    batch_size: int = 64,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    flush: bool = True,
    images_root: Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    outcomes: bool = False,
) -> IndexSummary:
    """Index products into the store, embedding only what changed. Ctrl-C stops
    cleanly after the batch in flight; the summary says so. ``outcomes``: the summary
    also says what happened to each product (an API write answers with it)."""
    start = time.perf_counter()
    summary = IndexSummary(valid=len(products), outcomes={} if outcomes else None)
    stored = stored_hashes(store, [p.id for p in products])
    with_images = bool(getattr(embedder, "supports_images", False)) and IMAGE_SPACE in store.meta.spaces
    # the word vectors' encoder (scikit-learn, ~1 s to import) is made when something is embedded
    lexical: LexicalEncoder | None = None
    wants_words = LEXICAL_SPACE in store.meta.sparse
    image_paths: dict[str, Path] = {}

    def image_digest(product: Product) -> str:
        if not with_images or not product.image or images_root is None:
            return "none"
        try:
            image_paths[product.id] = resolve_image(product.image, images_root)
            return file_digest(image_paths[product.id])
        except (ImageError, OSError) as exc:
            summary.warnings.append(f"product {product.id!r}: {exc}; indexed text-only")
            return "none"

    to_embed: list[tuple[Product, str, dict[str, Any]]] = []
    relabel: list[tuple[str, dict[str, Any]]] = []
    labels: dict[str, tuple[str | None, str | None]] = {}  # id -> (before, after), where they differ
    for product in products:
        text = product.text(fields)
        hashed = text + f"\x00image:{image_digest(product)}" if with_images else text
        payload = stored_payload(product, text_hash(embedder.name, hashed))
        old = stored.get(product.id)
        before = old[2] if old is not None else None
        if before != payload.get("category"):
            labels[product.id] = (before, payload.get("category"))
        done = outcome(old, payload)
        if done in ("created", "updated"):
            to_embed.append((product, text, payload))
        elif done == "relabeled":
            relabel.append((product.id, payload))
        summary.count(done)
        if summary.outcomes is not None:
            summary.outcomes[product.id] = done

    # Similar lengths in one batch waste less padding.
    to_embed.sort(key=lambda item: len(item[1]))
    bar = None
    if progress and to_embed:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(to_embed), unit="product", desc="embedding", file=sys.stderr, dynamic_ncols=True)
    try:
        for start_row in range(0, len(relabel), _LOOKUP_CHUNK):
            chunk = relabel[start_row : start_row + _LOOKUP_CHUNK]
            store.update_payloads([pid for pid, _ in chunk], [payload for _, payload in chunk])
            summary.label_changes += [(pid, *labels[pid]) for pid, _ in chunk if pid in labels]
        per_call = batch_size * CHUNK_BATCHES
        for start_row in range(0, len(to_embed), per_call):
            batch = to_embed[start_row : start_row + per_call]
            t0 = time.perf_counter()
            vectors: Any = embedder.encode_texts([text for _, text, _ in batch], role="passage", batch_size=batch_size)
            if with_images or wants_words:
                vectors = {DEFAULT_SPACE: vectors}
            if with_images:
                vectors[IMAGE_SPACE] = _embed_images(batch, image_paths, embedder, max_pixels, summary)
            if wants_words:
                lexical = lexical or LexicalEncoder()
                vectors[LEXICAL_SPACE] = lexical.encode([text for _, text, _ in batch])
            summary.embed_seconds += time.perf_counter() - t0
            store.upsert([p.id for p, _, _ in batch], vectors, [payload for _, _, payload in batch])
            summary.embedded += len(batch)
            summary.label_changes += [(p.id, *labels[p.id]) for p, _, _ in batch if p.id in labels]
            if bar is not None:
                bar.update(len(batch))
            if on_batch is not None:
                on_batch(summary.embedded)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if bar is not None:
            bar.close()
        if flush:
            store.flush()
        summary.seconds = time.perf_counter() - start
    return summary


def _embed_images(
    batch: Sequence[tuple[Product, str, dict[str, Any]]],
    paths: dict[str, Path],
    embedder: Embedder,
    max_pixels: int,
    summary: IndexSummary,
) -> np.ndarray:
    """Image vectors for a batch; an all-zero row (no image vector) where a product has
    no usable photo."""
    out = np.zeros((len(batch), embedder.dim), dtype=np.float32)
    rows: list[int] = []
    images: list[Any] = []
    for row, (product, _, _) in enumerate(batch):
        path = paths.get(product.id)
        if path is None:
            continue
        try:
            images.append(load_image(path, max_pixels=max_pixels, name=f"image {product.image!r}"))
            rows.append(row)
        except ImageError as exc:
            summary.warnings.append(f"product {product.id!r}: {exc}; indexed text-only")
    if images:
        out[rows] = embedder.encode_images(images)
        summary.images += len(images)
    return out
