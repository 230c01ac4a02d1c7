"""What the linear head learns from: the store's labeled products
(:class:`LabeledProducts`), a sample of them past a size (:func:`training_sample`), and a
digest of all of them that tells a saved head from a stale one."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from semcat.catalog import Product
from semcat.errors import EmptyIndexError
from semcat.search.base import DEFAULT_SPACE, Record, VectorStore

HEAD_FORMAT = 7  # bump when the saved head's layout or features change: older files are retrained

READ_BACK_BATCH = 1024  # sampled products read back by id per store call

TrainingSet = tuple[np.ndarray, list[str], list[str]]  # dense vectors, texts, full category paths


class ProductSource(Protocol):
    """What the head's training reads of a store: a :class:`VectorStore`, or another
    process's read-only view of one (:func:`semcat.search.factory.open_reader`)."""

    def iter_vectors(
        self, space: str = DEFAULT_SPACE, batch_size: int = 1024
    ) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]: ...

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[Record]: ...


def training_sample(labels: Sequence[str], max_products: int | None, seed: int = 0) -> np.ndarray | None:
    """The rows the head trains on when there are more than ``max_products`` labeled
    products (None: all of them): every product of a leaf category with at most q
    products, q random ones of each larger leaf, q the largest quota that fits. Rare
    categories, the ones a linear model struggles with most, keep all their examples."""
    if max_products is None or len(labels) <= max_products:
        return None
    groups: dict[str, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        groups[str(label)].append(row)
    sizes = np.sort(np.fromiter((len(g) for g in groups.values()), dtype=np.int64))
    low, high = 1, int(sizes[-1])  # the largest q with sum(min(size, q)) <= max_products
    while low < high:
        mid = (low + high + 1) // 2
        if int(np.minimum(sizes, mid).sum()) <= max_products:
            low = mid
        else:
            high = mid - 1
    rng = np.random.default_rng(seed)
    rows = [r for g in groups.values() for r in (g if len(g) <= low else rng.choice(g, low, replace=False).tolist())]
    return np.sort(np.asarray(rows, dtype=np.int64))


class LabeledProducts:
    """The store's labeled products as the head sees them, read in one pass over the store:
    a digest of all of them (:meth:`fingerprint`) and what the head trains on
    (:meth:`training_set`): all of them, or past ``max_products`` the sample of
    :func:`training_sample`, read back by id. Memory is bounded by the sample, not by the
    store: past ``max_products`` the pass keeps ids and labels only (a 1M-product store's
    vectors alone are 1.5 GB, its texts as many again)."""

    def __init__(self, store: ProductSource, fields: Sequence[str], max_products: int | None) -> None:
        self.store, self.fields, self.max_products = store, tuple(fields), max_products
        content = hashlib.sha256()
        self.ids: list[str] = []
        self.labels: list[str] = []
        dense: list[np.ndarray] | None = []
        texts: list[str] | None = []
        for batch_ids, vectors, payloads in store.iter_vectors(DEFAULT_SPACE):
            for pid, vector, p in zip(batch_ids, vectors, payloads, strict=True):
                path = p.get("category")
                if not path:
                    continue
                text = Product.from_payload(p).text(self.fields)
                vector = np.asarray(vector, dtype=np.float32)
                content.update(vector.tobytes())
                content.update(text.encode("utf-8", "surrogatepass") + b"\x00")
                content.update(path.encode("utf-8", "surrogatepass") + b"\x01")
                self.ids.append(pid)
                self.labels.append(path)
                if dense is not None and texts is not None:
                    dense.append(vector)
                    texts.append(text)
                    if max_products is not None and len(dense) > max_products:
                        dense = texts = None  # sampled later: read back by id
        if not self.labels:
            raise EmptyIndexError("the store holds no labeled product to train the linear head on")
        self._content = content.hexdigest()
        self._all = None if dense is None or texts is None else (np.stack(dense), texts, list(self.labels))

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self, model: str, **options: Any) -> str:
        """A digest of everything a trained head depends on: the labeled products' vectors,
        texts and labels (in store order), the text fields, the model name and the head's
        training options."""
        header = repr((HEAD_FORMAT, model, sorted({**options, "fields": self.fields}.items()), len(self.labels)))
        return hashlib.sha256(header.encode() + self._content.encode()).hexdigest()

    def training_set(self) -> TrainingSet:
        """What the head trains on: every labeled product, or the sample past ``max_products``."""
        keep = training_sample(self.labels, self.max_products)
        if keep is None:  # at most max_products: the pass kept all of them
            assert self._all is not None
            return self._all
        wanted = [self.ids[i] for i in keep]
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), READ_BACK_BATCH):
            for record in self.store.get(wanted[start : start + READ_BACK_BATCH], with_vectors=True):
                found[record.id] = record
        dense, texts, labels = [], [], []
        for pid in wanted:  # a product deleted since the pass is left out
            record = found.get(pid)
            path = None if record is None else record.payload.get("category")
            if record is None or not path or DEFAULT_SPACE not in record.vectors:
                continue
            dense.append(np.asarray(record.vectors[DEFAULT_SPACE], dtype=np.float32))
            texts.append(Product.from_payload(record.payload).text(self.fields))
            labels.append(path)
        if not labels:
            raise EmptyIndexError("the store holds no labeled product to train the linear head on")
        return np.stack(dense), texts, labels


def training_set(store: VectorStore, fields: Sequence[str], max_products: int | None = None) -> TrainingSet:
    """The store's labeled products as the head trains on them (labels: full paths): all of
    them, or the sample past ``max_products``."""
    return LabeledProducts(store, fields, max_products).training_set()
