"""The bulk indexer.

Every product gets two hashes: ``text_hash`` (model name + the embedded text) and
``payload_hash`` (everything else stored). A re-run embeds only products whose
text hash changed or that are not stored yet, and rewrites just the payload of those
whose label or other fields changed. Each batch is one durable upsert, so an
interrupted run (Ctrl-C, kill -9) resumes where it stopped: re-running the same
command embeds only what is missing, and upsert-by-id never duplicates.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from semcat.catalog import Product, RejectedRow
from semcat.embedding.base import Embedder
from semcat.search.base import VectorStore

_LOOKUP_CHUNK = 1000


def text_hash(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()[:32]


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


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

    @property
    def to_embed(self) -> int:
        return self.new + self.changed

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "indexed": self.embedded,
            "new": self.new,
            "changed": self.changed,
            "relabeled": self.relabeled,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "rejected_rows": [{"row": r.row, "reason": r.reason} for r in self.rejected],
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "products_per_second": round(self.embedded / self.seconds, 1) if self.embedded and self.seconds else None,
        }


def _stored_hashes(store: VectorStore, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        for record in store.get(ids[start : start + _LOOKUP_CHUNK]):
            found[record.id] = (record.payload.get("text_hash", ""), record.payload.get("payload_hash", ""))
    return found


def index_products(
    products: Sequence[Product],
    embedder: Embedder,
    store: VectorStore,
    *,
    fields: Sequence[str] = ("title", "brand", "description"),
    batch_size: int = 64,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    flush: bool = True,
) -> IndexSummary:
    """Index products into the store, embedding only what changed. Ctrl-C stops
    cleanly after the batch in flight; the summary says so."""
    start = time.perf_counter()
    summary = IndexSummary(valid=len(products))
    stored = _stored_hashes(store, [p.id for p in products])

    to_embed: list[tuple[Product, str, dict[str, Any]]] = []
    relabel: list[tuple[str, dict[str, Any]]] = []
    for product in products:
        text = product.text(fields)
        payload = product.payload()
        payload["text_hash"] = text_hash(embedder.name, text)
        payload["payload_hash"] = payload_hash(product.payload())
        old = stored.get(product.id)
        if old is None:
            summary.new += 1
            to_embed.append((product, text, payload))
        elif old[0] != payload["text_hash"]:
            summary.changed += 1
            to_embed.append((product, text, payload))
        elif old[1] != payload["payload_hash"]:
            summary.relabeled += 1
            relabel.append((product.id, payload))
        else:
            summary.unchanged += 1

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
        for start_row in range(0, len(to_embed), batch_size):
            batch = to_embed[start_row : start_row + batch_size]
            t0 = time.perf_counter()
            vectors = embedder.encode_texts([text for _, text, _ in batch], role="passage")
            summary.embed_seconds += time.perf_counter() - t0
            store.upsert([p.id for p, _, _ in batch], vectors, [payload for _, _, payload in batch])
            summary.embedded += len(batch)
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
