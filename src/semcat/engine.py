"""The one object the faces (CLI, API) use: settings + embedder + store + categorizer.

Models and stores are loaded lazily, once, and kept; the faces only parse input,
call these methods and format the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import CatalogReport, ColumnMap, Product, parse_category, read_catalog
from semcat.config import Settings
from semcat.embedding.base import Embedder, Role
from semcat.errors import (
    ConfigError,
    EmptyIndexError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreMissingError,
)
from semcat.indexer import IndexSummary, index_products
from semcat.search import (
    DEFAULT_SPACE,
    Hit,
    KnnCategorizer,
    Prediction,
    SearchFilter,
    StoreMeta,
    VectorStore,
    open_store,
)
from semcat.search.zeroshot import HybridCategorizer, ZeroShotCategorizer


class Engine:
    """semcat's core, configured by one :class:`Settings`."""

    def __init__(
        self, settings: Settings | None = None, embedder: Embedder | None = None, store: VectorStore | None = None
    ) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._store = store
        self._zero_shot: tuple[Any, ZeroShotCategorizer] | None = None

    # ------------------------------------------------------------ resources
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from semcat.embedding import load_embedder

            self._embedder = load_embedder(self.settings)
        return self._embedder

    @property
    def model_name(self) -> str:
        """The configured model's name, known without loading its weights."""
        if self._embedder is not None:
            return self._embedder.name
        from semcat.embedding.registry import model_name

        return model_name(self.settings)

    def store(self, create: bool = False) -> VectorStore:
        """The configured store; ``create`` makes it (for the configured model) if missing.

        An existing store is opened without loading the model, so a re-run that has
        nothing to embed never pays for the weights.
        """
        if self._store is None:
            try:
                self._store = open_store(self.settings, None)
            except StoreMissingError:
                if not create:
                    raise
                meta = StoreMeta(model=self.embedder.name, spaces={DEFAULT_SPACE: self.embedder.dim})
                self._store = open_store(self.settings, meta)
        if create and self._store.meta.model != self.model_name:
            raise StoreError(
                f"the store ({self.settings.store_description()}) holds vectors of model "
                f"{self._store.meta.model!r}, not {self.model_name!r}: use another --data-dir or "
                "--collection for a second model"
            )
        return self._store

    @staticmethod
    def _check_model(store: VectorStore, embedder: Embedder) -> None:
        if store.meta.model != embedder.name:
            raise StoreError(
                f"the store holds vectors of model {store.meta.model!r} but the configured model "
                f"{embedder.name!r} would embed the queries; pass the store's model with --model"
            )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- indexing
    def read_catalog(
        self, path: str | Path, columns: ColumnMap | None = None, fmt: str | None = None, encoding: str = "utf-8"
    ) -> CatalogReport:
        return read_catalog(path, columns, fmt, encoding)

    def index(self, products: Sequence[Product], progress: bool = True, flush: bool = True) -> IndexSummary:
        store = self.store(create=True)
        return index_products(
            products,
            _LazyEmbedder(self),
            store,
            fields=self.settings.text_fields,
            batch_size=self.settings.batch_size,
            progress=progress,
            flush=flush,
        )

    # --------------------------------------------------------- categorizing
    def embed_queries(self, products: Sequence[Product]) -> np.ndarray:
        texts = [p.text(self.settings.text_fields) for p in products]
        for product, text in zip(products, texts, strict=True):
            if not text.strip():
                raise InvalidInputError(f"product {product.id!r} has no text to categorize")
        return self.embedder.encode_texts(texts, role="query")

    def categorizer(self, k: int | None = None, top_n: int | None = None, depth: int | None = None) -> KnnCategorizer:
        s = self.settings
        store = self.store()
        self._check_model(store, self.embedder)
        return KnnCategorizer(
            store,
            k=k or s.k,
            top_n=top_n or s.top_n,
            power=s.vote_power,
            uncertain_threshold=s.uncertain_threshold,
            depth=depth or s.predict_depth,
            duplicate_threshold=s.duplicate_threshold,
        )

    def predict_vectors(
        self,
        vectors: np.ndarray,
        k: int | None = None,
        top_n: int | None = None,
        depth: int | None = None,
        category: str | None = None,
        method: str | None = None,
    ) -> list[Prediction]:
        """Categorize already-embedded queries (the API embeds in micro-batches)."""
        method = method or self.settings.method
        if method == "knn":
            return self.categorizer(k, top_n, depth).predict(vectors, category=category)
        zero_shot = self.zero_shot()
        if method == "zero-shot":
            return zero_shot.predict(vectors)
        if method == "hybrid":
            hybrid = HybridCategorizer(self.categorizer(k, top_n, depth), zero_shot, self.settings.hybrid_knn_weight)
            return hybrid.predict(vectors, category=category)
        raise InvalidInputError(f"unknown method {method!r}: use knn, zero-shot or hybrid")

    def zero_shot_categories(self) -> list[tuple[str, ...]]:
        """The taxonomy file's paths, else the stored labels, cut at the zero-shot level."""
        level = self.settings.zero_shot_level
        if self.settings.taxonomy_file is not None:
            path = self.settings.taxonomy_file
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read the taxonomy file {path}: {exc}") from None
            paths = [parse_category(line) for line in lines if line.strip() and not line.startswith("#")]
        else:
            paths = [tuple(c.split(" > ")) for c in self.store().category_counts(level=None)]
        cut = sorted({p[:level] for p in paths if p})
        if not cut:
            raise EmptyIndexError("zero-shot needs category names: index labeled products or set SEMCAT_TAXONOMY_FILE")
        return cut

    def zero_shot(self) -> ZeroShotCategorizer:
        """The zero-shot categorizer for the current categories (prompt vectors cached)."""
        categories = tuple(self.zero_shot_categories())
        key = (categories, self.settings.zero_shot_temperature)
        if self._zero_shot is None or self._zero_shot[0] != key:
            self._check_model(self.store(), self.embedder)
            categorizer = ZeroShotCategorizer(
                self.embedder,
                categories,
                temperature=self.settings.zero_shot_temperature,
                top_n=self.settings.top_n,
                uncertain_threshold=self.settings.uncertain_threshold,
            )
            self._zero_shot = (key, categorizer)
        return self._zero_shot[1]

    def categorize(
        self, products: Sequence[Product], k: int | None = None, batch_size: int = 256, method: str | None = None
    ) -> list[Prediction]:
        """Predict a category for each product (which need not be stored)."""
        predictions: list[Prediction] = []
        for start in range(0, len(products), batch_size):
            chunk = products[start : start + batch_size]
            predictions += self.predict_vectors(self.embed_queries(chunk), k=k, method=method)
        return predictions

    def categorize_text(self, text: str, k: int | None = None, method: str | None = None) -> Prediction:
        if not text or not text.strip():
            raise InvalidInputError("the text to categorize is empty")
        return self.categorize([Product(id="query", title=text.strip())], k, method=method)[0]

    # -------------------------------------------------------------- search
    def similar(
        self, text: str | None = None, product_id: str | None = None, k: int = 5, category: str | None = None
    ) -> list[Hit]:
        """Nearest stored products to a text or to a stored product (itself excluded)."""
        store = self.store()
        flt = SearchFilter(category=category) if category else None
        if product_id is not None:
            records = store.get([product_id], with_vectors=True)
            if not records or DEFAULT_SPACE not in records[0].vectors:
                raise NotFoundError(f"no stored product with id {product_id!r}")
            hits = store.search(records[0].vectors[DEFAULT_SPACE], k + 1, flt)
            return [h for h in hits if h.id != product_id][:k]
        if not text or not text.strip():
            raise InvalidInputError("the text to search for is empty")
        self._check_model(store, self.embedder)
        return store.search(self.embedder.encode_texts([text.strip()], role="query")[0], k, flt)

    def search_vector(self, vector: np.ndarray, k: int = 5, category: str | None = None) -> list[Hit]:
        store = self.store()
        self._check_model(store, self.embedder)
        return store.search(vector, k, SearchFilter(category=category) if category else None)

    # ------------------------------------------------------------ products
    def get_product(self, product_id: str) -> dict[str, Any]:
        records = self.store().get([product_id])
        if not records:
            raise NotFoundError(f"no stored product with id {product_id!r}")
        return public_payload(records[0].payload)

    def delete_product(self, product_id: str) -> None:
        if self.store().delete([product_id]) == 0:
            raise NotFoundError(f"no stored product with id {product_id!r}")

    def upsert_products(self, products: Sequence[Product]) -> IndexSummary:
        """Store products now: searchable and voting on the next request. Index files
        are saved at close (the store's database already holds every write)."""
        return self.index(products, progress=False, flush=False)

    def info(self) -> dict[str, Any]:
        store = self.store()
        data = store.describe()
        data["labeled"] = store.count(SearchFilter(labeled=True))
        data["categories"] = store.category_counts(level=1)
        return data


class _LazyEmbedder:
    """The engine's embedder, loaded on the first vector asked of it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.name = engine.model_name

    @property
    def dim(self) -> int:
        return self._engine.embedder.dim

    def encode_texts(self, texts: Sequence[str], role: Role = "query", batch_size: int | None = None) -> np.ndarray:
        return self._engine.embedder.encode_texts(texts, role=role, batch_size=batch_size)

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        return self._engine.embedder.encode_images(images, batch_size=batch_size)


_INTERNAL_KEYS = ("text_hash", "payload_hash", "category_prefixes")


def public_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload without semcat's bookkeeping fields."""
    return {k: v for k, v in payload.items() if k not in _INTERNAL_KEYS}
