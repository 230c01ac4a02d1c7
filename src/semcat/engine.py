"""The one object the faces (CLI, API) use: settings + embedder + store + categorizer.

Models and stores are loaded lazily, once, and kept; the faces only parse input,
call these methods and format the output.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semcat.catalog import PATH_JOIN, CatalogReport, ColumnMap, Product, parse_category, read_catalog
from semcat.config import Settings
from semcat.embedding.base import Embedder, Role
from semcat.embedding.lexical import CHAR_SPACE, LEXICAL_SPACE, LexicalEncoder
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
    IMAGE_SPACE,
    Hit,
    KnnCategorizer,
    Prediction,
    SearchFilter,
    StoreMeta,
    VectorStore,
    open_store,
)
from semcat.search.base import present_rows
from semcat.search.head import LinearHead, fingerprint, training_set
from semcat.search.zeroshot import HybridCategorizer, ZeroShotCategorizer

log = logging.getLogger(__name__)


class Engine:
    """semcat's core, configured by one :class:`Settings`."""

    def __init__(
        self, settings: Settings | None = None, embedder: Embedder | None = None, store: VectorStore | None = None
    ) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._store = store
        self._zero_shot: tuple[Any, ZeroShotCategorizer] | None = None
        self._lexical: dict[str, LexicalEncoder] = {}
        self._head: tuple[Any, LinearHead | None] | None = None
        self._writes = 0  # bumped by every write through this engine: the head retrains after one
        self._head_lock = threading.Lock()
        self._head_train_lock = threading.Lock()
        self._head_training: threading.Thread | None = None

    # ------------------------------------------------------------ resources
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from semcat.embedding import load_embedder

            self._embedder = load_embedder(self.settings)
        return self._embedder

    @property
    def supports_images(self) -> bool:
        """Whether the configured model embeds images (CLIP), known without loading it."""
        if self._embedder is not None:
            return bool(getattr(self._embedder, "supports_images", False))
        from semcat.embedding.registry import is_clip

        return is_clip(self.settings)

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
                spaces = {DEFAULT_SPACE: self.embedder.dim}
                if self.supports_images:
                    spaces[IMAGE_SPACE] = self.embedder.dim
                meta = StoreMeta(model=self.embedder.name, spaces=spaces, sparse=(LEXICAL_SPACE,))
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
        """Embed and store products (their photos too, with a CLIP model and an images root)."""
        store = self.store(create=True)
        self._writes += 1
        return index_products(
            products,
            _LazyEmbedder(self),
            store,
            fields=self.settings.text_fields,
            batch_size=self.settings.batch_size,
            progress=progress,
            flush=flush,
            images_root=self.settings.images_root,
            max_pixels=self.settings.image_max_pixels,
        )

    # --------------------------------------------------------- categorizing
    def embed_queries(self, products: Sequence[Product]) -> np.ndarray:
        texts = [p.text(self.settings.text_fields) for p in products]
        for product, text in zip(products, texts, strict=True):
            if not text.strip():
                raise InvalidInputError(f"product {product.id!r} has no text to categorize")
        return self.embedder.encode_texts(texts, role="query")

    def encode_query_images(self, images: Sequence[Any | None]) -> np.ndarray:
        """Image vectors for decoded query images; an all-zero row where there is none."""
        self.check_images()
        out = np.zeros((len(images), self.embedder.dim), dtype=np.float32)
        rows = [i for i, im in enumerate(images) if im is not None]
        if rows:
            out[rows] = self.embedder.encode_images([images[i] for i in rows])
        return out

    def check_images(self, need_store_space: bool = False) -> None:
        """Images need a model that embeds them (and, to vote or search, stored image vectors)."""
        if not self.supports_images:
            raise InvalidInputError(
                f"the model {self.model_name!r} embeds text only: image queries need a CLIP model "
                "(SEMCAT_MODEL=clip, see README 'Images and CLIP')"
            )
        if need_store_space and IMAGE_SPACE not in self.store().meta.spaces:
            raise InvalidInputError("the store holds no image vectors: index the catalog with a CLIP model")

    def query_spaces(
        self,
        ids: Sequence[str],
        text_vectors: np.ndarray | None,
        image_vectors: np.ndarray | None,
        modality: str | None = None,
    ) -> dict[str, np.ndarray]:
        """The query vectors the modality asks for: ``text``, ``image`` or ``both``
        (each query's text and image, whichever it has). Zero rows mean "none"."""
        modality = modality or self.settings.modality
        if modality not in ("text", "image", "both"):
            raise InvalidInputError(f"unknown modality {modality!r}: use text, image or both")
        n = len(ids)
        has_text = present_rows(text_vectors) if text_vectors is not None else np.zeros(n, dtype=bool)
        has_image = present_rows(image_vectors) if image_vectors is not None else np.zeros(n, dtype=bool)
        spaces: dict[str, np.ndarray] = {}
        if modality in ("text", "both") and has_text.any():
            spaces[DEFAULT_SPACE] = text_vectors  # type: ignore[assignment]
        if modality in ("image", "both") and has_image.any():
            spaces[IMAGE_SPACE] = image_vectors  # type: ignore[assignment]
        for row, pid in enumerate(ids):
            if modality == "text" and not has_text[row]:
                raise InvalidInputError(f"product {pid!r} has no text to categorize (modality text)")
            if modality == "image" and not has_image[row]:
                raise InvalidInputError(f"product {pid!r} has no image (modality image needs one)")
            if modality == "both" and not (has_text[row] or has_image[row]):
                raise InvalidInputError(f"product {pid!r} has neither text nor an image")
        return spaces

    def embed_products(
        self, products: Sequence[Product], images: Sequence[Any | None] | None = None, modality: str | None = None
    ) -> dict[str, np.ndarray]:
        """Query vectors for products (which need not be stored) and their decoded images."""
        modality = modality or self.settings.modality
        texts = [p.text(self.settings.text_fields) for p in products]
        text_vectors = None
        if modality != "image" and any(t.strip() for t in texts):
            rows = [i for i, t in enumerate(texts) if t.strip()]
            encoded = self.embedder.encode_texts([texts[i] for i in rows], role="query")
            text_vectors = np.zeros((len(products), encoded.shape[1]), dtype=np.float32)
            text_vectors[rows] = encoded
        image_vectors = None
        if images is not None and modality != "text" and any(im is not None for im in images):
            image_vectors = self.encode_query_images(images)
        return self.query_spaces([p.id for p in products], text_vectors, image_vectors, modality)

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
            space_weights=self.space_weights,
            lexical_weight=s.lexical_weight,
            lexical_power=s.lexical_power,
        )

    def head(self) -> LinearHead | None:
        """The linear head for the store as it is now (trained on first use and again
        after writes); None when the store has fewer than two labeled categories."""
        store = self.store()
        key = (id(store), self._writes, store.count(), store.count(SearchFilter(labeled=True)), _generation(store))
        with self._head_lock:
            current = self._head
            if current is not None and (current[0] == key or self._head_training is not None):
                return current[1]  # up to date, or a retrain is running: serve the one we have
            if current is not None and current[1] is not None and current[1].train_seconds > _SYNC_HEAD_SECONDS:
                # a big store: retrain in the background, keep answering with the old head
                # (a relabeled product still decides for its copies through the vote)
                self._head_training = threading.Thread(target=self._train_head, args=(key,), daemon=True)
                self._head_training.start()
                return current[1]
        return self._train_head(key)

    def _train_head(self, key: tuple[Any, ...]) -> LinearHead | None:
        with self._head_train_lock:  # concurrent requests after a write train it once
            if self._head is not None and self._head[0] == key:
                return self._head[1]
            store = self.store()
            self._check_model(store, self.embedder)
            try:
                head = self._saved_or_new_head(store)
            except EmptyIndexError:
                head = None
            except Exception:
                self._head_training = None
                raise
            self._head = (key, head)
            self._head_training = None
            return head

    @property
    def head_path(self) -> Path:
        """Where the trained linear head of this store is kept between processes."""
        return self.settings.data_dir / "heads" / f"{self.settings.store}-{self.settings.collection}.pkl"

    def _saved_or_new_head(self, store: VectorStore) -> LinearHead:
        """The head saved for exactly the store's labeled products and these settings, else
        a newly trained one (then saved: the next process loads it in a second)."""
        s = self.settings
        data = training_set(store, s.text_fields)
        options = {"fields": tuple(s.text_fields), "chars": s.head_chars, "c": s.head_c}
        digest = fingerprint(data, store.meta.model, **options)
        head = LinearHead.load(self.head_path, digest)
        if head is None:
            head = LinearHead.from_training_set(data, chars=s.head_chars, c=s.head_c)
            try:
                head.save(self.head_path, digest)
            except OSError as exc:  # a read-only data folder: the head still serves this process
                log.warning("could not save the linear head to %s: %s", self.head_path, exc)
        head.top_n = s.top_n
        head.uncertain_threshold = s.uncertain_threshold
        return head

    def with_lexical(
        self, vectors: Any, texts: Sequence[str], method: str | None = None, category: str | None = None
    ) -> Any:
        """Add the queries' word vectors when they get a vote or feed the linear head,
        and their character n-grams when the head uses them (the ``knn`` method without a
        category restriction, as :meth:`predict_vectors` decides)."""
        s = self.settings
        method = method or s.method
        head = s.head_weight > 0 and method == "knn" and category is None
        votes = s.lexical_weight > 0 and method != "zero-shot" and LEXICAL_SPACE in self.store().meta.sparse
        if not votes and not head:
            return vectors
        spaces = dict(vectors) if isinstance(vectors, dict) else {DEFAULT_SPACE: vectors}
        if DEFAULT_SPACE not in spaces:  # an image-only query: the words have no say
            return vectors
        cleaned = [t if t.strip() else "" for t in texts]
        spaces[LEXICAL_SPACE] = self._lexical_encoder("word").encode(cleaned)
        if head and s.head_chars:
            spaces[CHAR_SPACE] = self._lexical_encoder("char").encode(cleaned)
        return spaces

    def _lexical_encoder(self, analyzer: str) -> LexicalEncoder:
        if analyzer not in self._lexical:
            self._lexical[analyzer] = LexicalEncoder(analyzer)
        return self._lexical[analyzer]

    @property
    def space_weights(self) -> dict[str, float]:
        return {DEFAULT_SPACE: 1.0 - self.settings.image_weight, IMAGE_SPACE: self.settings.image_weight}

    def predict_vectors(
        self,
        vectors: np.ndarray | dict[str, np.ndarray],
        k: int | None = None,
        top_n: int | None = None,
        depth: int | None = None,
        category: str | None = None,
        method: str | None = None,
    ) -> list[Prediction]:
        """Categorize already-embedded queries (the API embeds in micro-batches): one
        text array, or {space: array} from :meth:`query_spaces`."""
        method = method or self.settings.method
        if isinstance(vectors, dict) and IMAGE_SPACE in vectors and method != "zero-shot":
            self.check_images(need_store_space=True)
        if method == "knn":
            knn = self.categorizer(k, top_n, depth)
            if not isinstance(vectors, dict):
                vectors = {DEFAULT_SPACE: vectors}
            # the head judges texts among all main categories: not for photo-only queries,
            # nor when the caller already restricted the vote to one subtree
            texts = vectors.get(DEFAULT_SPACE)
            usable = self.settings.head_weight > 0 and category is None
            head = self.head() if usable and texts is not None and present_rows(texts).all() else None
            if head is None:
                return knn.predict(vectors, category=category)
            mixed = HybridCategorizer(knn, head, 1.0 - self.settings.head_weight, method="knn")
            return mixed.predict(vectors, category=category)
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
            paths = [tuple(c.split(PATH_JOIN)) for c in self.store().category_counts(level=None)]
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
                space_weights=self.space_weights,
            )
            self._zero_shot = (key, categorizer)
        return self._zero_shot[1]

    def categorize(
        self,
        products: Sequence[Product],
        k: int | None = None,
        batch_size: int = 256,
        method: str | None = None,
        images: Sequence[Any | None] | None = None,
        modality: str | None = None,
    ) -> list[Prediction]:
        """Predict a category for each product (which need not be stored). ``images``
        (decoded, one per product or None) are used with a CLIP model per ``modality``."""
        if images is not None and len(images) != len(products):
            raise InvalidInputError(f"{len(products)} products but {len(images)} images")
        predictions: list[Prediction] = []
        for start in range(0, len(products), batch_size):
            chunk = products[start : start + batch_size]
            chunk_images = images[start : start + batch_size] if images is not None else None
            if chunk_images is None and (modality or self.settings.modality) != "image":
                vectors: Any = self.embed_queries(chunk)  # the text-only path
            else:
                vectors = self.embed_products(chunk, chunk_images, modality)
            vectors = self.with_lexical(vectors, [p.text(self.settings.text_fields) for p in chunk], method)
            predictions += self.predict_vectors(vectors, k=k, method=method)
        return predictions

    def categorize_text(self, text: str, k: int | None = None, method: str | None = None) -> Prediction:
        if not text or not text.strip():
            raise InvalidInputError("the text to categorize is empty")
        return self.categorize([Product(id="query", title=text.strip())], k, method=method)[0]

    # -------------------------------------------------------------- search
    def similar(
        self,
        text: str | None = None,
        product_id: str | None = None,
        k: int = 5,
        category: str | None = None,
        image: Any | None = None,
        space: str | None = None,
    ) -> list[Hit]:
        """Nearest stored products to a text, a decoded image (by the stored photos), or
        a stored product (itself excluded; ``space='image'`` compares photos)."""
        store = self.store()
        flt = SearchFilter(category=category) if category else None
        if image is not None:
            self.check_images(need_store_space=True)
            self._check_model(store, self.embedder)
            return store.search(self.encode_query_images([image])[0], k, flt, space=IMAGE_SPACE)
        if product_id is not None:
            space = space or DEFAULT_SPACE
            if space not in store.meta.spaces:
                raise InvalidInputError(f"the store has no {space!r} vectors (it has {', '.join(store.meta.spaces)})")
            records = store.get([product_id], with_vectors=True)
            if not records:
                raise NotFoundError(f"no stored product with id {product_id!r}")
            if space not in records[0].vectors:
                raise InvalidInputError(f"product {product_id!r} has no {space} vector (no usable photo was indexed)")
            hits = store.search(records[0].vectors[space], k + 1, flt, space=space)
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
        self._writes += 1
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


# A head that took longer than this to train is retrained in the background after writes.
_SYNC_HEAD_SECONDS = 2.0


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

    @property
    def supports_images(self) -> bool:
        return self._engine.supports_images

    def encode_images(self, images: Sequence[Any], batch_size: int | None = None) -> np.ndarray:
        return self._engine.embedder.encode_images(images, batch_size=batch_size)


_INTERNAL_KEYS = ("text_hash", "payload_hash", "category_prefixes")


def public_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload without semcat's bookkeeping fields."""
    return {k: v for k, v in payload.items() if k not in _INTERNAL_KEYS}


def _generation(store: VectorStore) -> int:
    """The FAISS store's write counter (seen across processes); 0 where there is none."""
    return int(getattr(store, "_generation", 0))
