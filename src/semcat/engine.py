"""The one pipeline, and the only thing the faces (CLI, API, Python) call.

``categorize`` runs the whole path for every face: request options resolved once into
:class:`~semcat.options.QueryOptions` -> query vectors (texts through the query encoder,
which the API replaces by its micro-batcher; photos decoded under the pixel guard) ->
sparse query rows -> the categorizer the options call for (built by
:func:`semcat.categorize.build_categorizer`, with the linear head and the zero-shot
prior kept here) -> predictions. Models and stores load lazily, once; the linear head is
kept current by a :class:`~semcat.categorize.keeper.HeadKeeper`, which never makes a
read wait for a retrain.

Long module: the engine is the faces' only door, so every operation a user has (index,
upsert, categorize, search, read, fine-tune) has its entry point here; each is a short
call into the package that does the work, and splitting the class would put the
pipeline back in several places.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from semcat.catalog import PATH_JOIN, CatalogReport, ColumnMap, Product, parse_category, public_payload, read_catalog
from semcat.categorize import QueryRows, ZeroShotCategorizer, build_categorizer, head_applies
from semcat.categorize.calibration import apply as calibrated
from semcat.categorize.depth import category_depth
from semcat.categorize.head import LinearHead
from semcat.categorize.keeper import HeadKeeper
from semcat.categorize.prediction import Prediction
from semcat.categorize.trainer import calibration_spec
from semcat.config import Settings
from semcat.embedding.base import Embedder, LazyEmbedder, Role
from semcat.embedding.queries import image_rows, query_spaces
from semcat.errors import ConfigError, EmptyIndexError, InvalidInputError, NotFoundError, StoreError, StoreMissingError
from semcat.indexer import IndexSummary, index_products
from semcat.methods import calibrated_methods, method_spec
from semcat.options import SIMILAR_K, QueryOptions
from semcat.search import DEFAULT_SPACE, IMAGE_SPACE, Hit, SearchFilter, StoreMeta, VectorStore, open_store
from semcat.spaces import LEXICAL_SPACE

CATEGORIZE_BATCH = 256  # products embedded and categorized per step of a long list
DEPTH_CHECK_SECONDS = 5.0  # after writes, the default depth is read from the labels again at most this often


class TextEncoder(Protocol):
    """What encodes query texts: the embedder itself, or the API's micro-batcher."""

    def encode_texts(self, texts: Sequence[str], role: Role = "query") -> np.ndarray: ...


def backend_hint(stored: str, wanted: str) -> str:
    """What to say when two model names differ only by the text backend's suffix."""
    from semcat.embedding.onnx import BACKEND_SUFFIX

    suffixes = [suffix for suffix in set(BACKEND_SUFFIX.values()) if suffix]

    def base(name: str) -> str:
        return next((name.removesuffix(x) for x in suffixes if name.endswith(x)), name)

    if stored == wanted or base(stored) != base(wanted):
        return ""
    backend = "onnx-int8" if base(stored) != stored else "onnx (or torch)"
    return f" (the same model run by another backend: set SEMCAT_BACKEND={backend} to use this store as it is)"


class Engine:
    """semcat's core, configured by one :class:`Settings`."""

    def __init__(
        self,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        query_encoder: TextEncoder | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._store = store
        self.query_encoder = query_encoder  # None: the embedder encodes queries itself
        self._zero_shot: tuple[Any, ZeroShotCategorizer] | None = None
        self._rows = QueryRows()
        self._writes = 0  # bumped by every write through this engine: the head retrains after one
        s = self.settings
        self._depth: tuple[Any, float, int | None] | None = None  # (store state, when read, detected depth)
        calibration = None
        if s.calibration.enabled:
            calibration = calibration_spec(s.query_options(), s.predict_depth, s.calibration.folds)
        self._heads = HeadKeeper(
            s.data_dir / "heads" / f"{s.store}-{s.collection}.pkl",
            s.text_fields,
            s.head,
            s.retrain,
            calibration,
        )

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
                "--collection for a second model" + backend_hint(self._store.meta.model, self.model_name)
            )
        return self._store

    def _checked_store(self) -> VectorStore:
        """The store, once it is known to hold vectors of the model that embeds the queries."""
        store = self.store()
        if store.meta.model != self.model_name:  # known without loading the weights
            raise StoreError(
                f"the store holds vectors of model {store.meta.model!r} but the configured model "
                f"{self.model_name!r} would embed the queries; pass the store's model with --model"
                + backend_hint(store.meta.model, self.model_name)
            )
        return store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- writes
    def read_catalog(
        self, path: str | Path | Any, columns: ColumnMap | None = None, fmt: str | None = None, encoding: str = "utf-8"
    ) -> CatalogReport:
        """A catalog file, or a ``pandas.DataFrame``, read into products and a row report."""
        return read_catalog(path, columns, fmt, encoding)

    def index(
        self, products: Sequence[Product], progress: bool = True, flush: bool = True, outcomes: bool = False
    ) -> IndexSummary:
        """Embed and store products (their photos too, with a CLIP model and an images root);
        ``outcomes``: the summary says what happened to each product."""
        store = self.store(create=True)
        self._writes += 1
        return index_products(
            products,
            LazyEmbedder(lambda: self.embedder, self.model_name, self.supports_images),
            store,
            fields=self.settings.text_fields,
            batch_size=self.settings.batch_size,
            progress=progress,
            flush=flush,
            images_root=self.settings.images_root,
            max_pixels=self.settings.image_max_pixels,
            outcomes=outcomes,
        )

    def upsert_products(self, products: Sequence[Product]) -> IndexSummary:
        """Store products now: searchable and voting on the next request. Index files
        are saved at close (the store's database already holds every write). Each id once
        per call (the API merges concurrent writes with
        :func:`semcat.api.routes.products.upsert_in_order`)."""
        return self.index(products, progress=False, flush=False, outcomes=True)

    def delete_product(self, product_id: str) -> None:
        self._writes += 1
        if self.store().delete([product_id]) == 0:
            raise NotFoundError(f"no stored product with id {product_id!r}")

    # --------------------------------------------------------- categorizing
    def options(self, **overrides: Any) -> QueryOptions:
        """The settings' categorization options with a request's overrides (None: not given)."""
        return self.settings.query_options(**overrides)

    def categorize(
        self,
        products: Sequence[Product],
        options: QueryOptions | None = None,
        *,
        images: Sequence[Any | None] | None = None,
        **overrides: Any,
    ) -> list[Prediction]:
        """Predict a category for each product (which need not be stored).

        ``options`` (else the settings') with ``overrides`` (``k``, ``top_n``, ``depth``,
        ``method``, ``modality``, ``category``, ...; None means not given) decide how.
        ``images``, one per product or None, are decoded photos or raw image bytes
        (decoded here under the pixel guard); a CLIP model embeds them per the modality.
        """
        opts = self._with_depth((options or self.settings.query_options()).merged(**overrides))
        if images is not None and len(images) != len(products):
            raise InvalidInputError(f"{len(products)} products but {len(images)} images")
        predictions: list[Prediction] = []
        for start in range(0, len(products), CATEGORIZE_BATCH):
            chunk = products[start : start + CATEGORIZE_BATCH]
            chunk_images = images[start : start + CATEGORIZE_BATCH] if images is not None else None
            texts = [p.text(self.settings.text_fields) for p in chunk]  # embedded, and the sparse rows' source
            vectors = self._query_vectors([p.id for p in chunk], texts, chunk_images, opts, start)
            predictions += self._predict(texts, vectors, opts)
        return predictions

    def categorize_text(self, text: str, options: QueryOptions | None = None, **overrides: Any) -> Prediction:
        if not text or not text.strip():
            raise InvalidInputError("the text to categorize is empty")
        return self.categorize([Product(id="query", title=text.strip())], options, **overrides)[0]

    def categorize_frame(
        self, frame: Any, options: QueryOptions | None = None, columns: ColumnMap | None = None, **overrides: Any
    ) -> Any:
        """Categorize the rows of a ``pandas.DataFrame`` (columns detected as for a catalog
        file, or mapped by ``columns``): a DataFrame with one prediction row per valid row
        (id, title, category, main_category, score, uncertain, top, levels, neighbors, and
        true_category where the frame has labels). Rejected rows raise nothing: they are
        missing from the result, as in a catalog report."""
        import pandas as pd

        from semcat.categorize.prediction import prediction_row

        report = self.read_catalog(frame, columns)
        predictions = self.categorize(report.products, options, **overrides)
        return pd.DataFrame([prediction_row(p, pred) for p, pred in zip(report.products, predictions, strict=True)])

    def _with_depth(self, options: QueryOptions) -> QueryOptions:
        """The options with the store's default depth where they name none."""
        if options.depth is not None:
            return options
        depth = self.default_depth()
        return options if depth is None else replace(options, depth=depth)

    def default_depth(self) -> int | None:
        """The deepest level predicted when a request names none: ``predict_depth``, else
        the levels above the first made of product names rather than categories
        (:func:`semcat.categorize.depth.category_depth`), read from the store's labels again
        after writes, at most every :data:`DEPTH_CHECK_SECONDS` (a stream of writes would
        otherwise have every request count the labels)."""
        if self.settings.predict_depth is not None:
            return self.settings.predict_depth
        store = self.store()
        key = self._heads.state(store, self._writes)
        now = time.monotonic()
        stale = self._depth is not None and self._depth[0] != key
        if self._depth is None or (stale and (self._depth[2] is None or now - self._depth[1] >= DEPTH_CHECK_SECONDS)):
            self._depth = (key, now, category_depth(store.category_counts(level=None)))
        return self._depth[2]

    def head(self, wait: bool = False) -> LinearHead | None:
        """The linear head requests are answered with: loaded or trained on first use;
        after writes the previous one keeps answering while the next trains in the
        background (``wait=True``: the head of the store as it is now). None when the
        store has fewer than two labeled categories."""
        store = self.store()
        return self._heads.current(store, self._writes, self._checked_store, wait=wait)

    @property
    def head_path(self) -> Path:
        """Where the trained linear head of this store is kept between processes."""
        return self._heads.path

    def warm_up(self, load: bool = True) -> float | None:
        """Prepare what the default options need before the first request: the linear head,
        loaded (or trained and saved). ``load=False`` (``semcat index``) only makes sure a
        current head is saved for the next process, reading just the saved file's header
        when it is. Returns the seconds taken, or None when the defaults use no head."""
        if not self.settings.query_options().uses_head:
            return None
        start = time.perf_counter()
        store = self.store()
        ready = self.head() is not None if load else self._heads.ensure_saved(store, self._checked_store)
        return round(time.perf_counter() - start, 1) if ready else None

    def zero_shot_categories(self) -> list[tuple[str, ...]]:
        """The taxonomy file's paths, else the stored labels, cut at the zero-shot level."""
        level = self.settings.zero_shot.level
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

    def _zero_shot_prior(self) -> ZeroShotCategorizer:
        """The zero-shot categorizer for the current categories (prompt vectors cached)."""
        categories = tuple(self.zero_shot_categories())
        key = (categories, self.settings.zero_shot.temperature)
        if self._zero_shot is None or self._zero_shot[0] != key:
            self._checked_store()
            prior = ZeroShotCategorizer(self.embedder, categories, temperature=self.settings.zero_shot.temperature)
            self._zero_shot = (key, prior)
        return self._zero_shot[1]

    # ------------------------------------------------- the pipeline's steps
    def _encode_query_texts(self, texts: Sequence[str]) -> np.ndarray:
        encoder = self.query_encoder or self.embedder
        return encoder.encode_texts(list(texts), role="query")

    def _check_images(self, need_store_space: bool = False) -> None:
        """Images need a model that embeds them (and, to vote or search, stored image vectors)."""
        if not self.supports_images:
            raise InvalidInputError(
                f"the model {self.model_name!r} embeds text only: image queries need a CLIP model "
                "(SEMCAT_MODEL=clip, see README 'Images and CLIP')"
            )
        if need_store_space and IMAGE_SPACE not in self.store().meta.spaces:
            raise InvalidInputError("the store holds no image vectors: index the catalog with a CLIP model")

    def _image_vectors(self, images: Sequence[Any | None], offset: int = 0) -> np.ndarray:
        self._check_images()
        return image_rows(
            images, self.embedder.encode_images, self.embedder.dim, self.settings.image_max_pixels, offset
        )

    def _query_vectors(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        images: Sequence[Any | None] | None,
        options: QueryOptions,
        offset: int,
    ) -> dict[str, np.ndarray]:
        if options.modality == "image" or (images is not None and any(im is not None for im in images)):
            self._check_images()  # a text model cannot read photos, whatever else the query has
        return query_spaces(
            ids,
            texts,
            images,
            options.modality,
            encode_texts=self._encode_query_texts,
            encode_images=lambda chunk: self._image_vectors(chunk, offset),
        )

    def _predict(self, texts: Sequence[str], vectors: dict[str, np.ndarray], options: QueryOptions) -> list[Prediction]:
        """Sparse rows (from the queries' embedded texts), the categorizer the options call
        for, and its predictions."""
        spec = method_spec(options.method)
        if IMAGE_SPACE in vectors and spec.store_vectors:
            self._check_images(need_store_space=True)
        store = self._checked_store()
        queries = self._rows.add(
            vectors, texts, options, store_sparse=store.meta.sparse, head_chars=self.settings.head.chars
        )
        head = self.head() if head_applies(options, queries) else None
        zero_shot = self._zero_shot_prior() if spec.zero_shot else None
        categorizer = build_categorizer(store, options, head=head, zero_shot=zero_shot)
        predictions = categorizer.predict(queries, category=options.category)
        # the confidence is learned for the default categorizer: the vote with the head
        calibration = head.calibration if head is not None and spec.calibrated else None
        why_not = "the confidence is not calibrated"
        if not spec.calibrated:
            why_not = f"the confidence is calibrated for the {', '.join(calibrated_methods())} method, not {spec.name}"
        elif head is not None and head.calibration is None:
            why_not = head.calibration_note or why_not
        return calibrated(
            calibration, predictions, options.auto_precision, options.uncertain_threshold, options.depth, why_not
        )

    # -------------------------------------------------------------- search
    def similar(
        self,
        text: str | None = None,
        product_id: str | None = None,
        k: int = SIMILAR_K,
        category: str | None = None,
        image: Any | None = None,
        space: str | None = None,
    ) -> list[Hit]:
        """Nearest stored products to a text, a photo (decoded or raw bytes; by the stored
        photos), or a stored product (itself excluded; ``space='image'`` compares photos)."""
        store = self.store()
        flt = SearchFilter(category=category) if category else None
        if image is not None:
            self._check_images(need_store_space=True)
            self._checked_store()
            return store.search(self._image_vectors([image])[0], k, flt, space=IMAGE_SPACE)
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
        self._checked_store()
        return store.search(self._encode_query_texts([text.strip()])[0], k, flt)

    # ------------------------------------------------------------- reading
    def get_product(self, product_id: str) -> dict[str, Any]:
        records = self.store().get([product_id])
        if not records:
            raise NotFoundError(f"no stored product with id {product_id!r}")
        return public_payload(records[0].payload)

    def product_image(self, product_id: str) -> Path:
        """The stored photo of a product: its catalog image path resolved under the images
        root with the indexer's guard (never a path a client names)."""
        from semcat.images import ImageError, resolve_image

        reference = self.get_product(product_id).get("image")
        if not reference or self.settings.images_root is None:
            raise NotFoundError(f"product {product_id!r} has no stored photo")
        try:
            return resolve_image(str(reference), self.settings.images_root)
        except ImageError:
            raise NotFoundError(f"the photo of product {product_id!r} is not available") from None

    def categories(self, level: int | None = 1) -> dict[str, Any]:
        """Products per category at a level (None: full paths), with the store's counts."""
        store = self.store()
        return {
            "level": level,
            "categories": store.category_counts(level=level),
            "products": store.count(),
            "labeled": store.count(SearchFilter(labeled=True)),
        }

    def info(self, level: int = 1) -> dict[str, Any]:
        store = self.store()
        data = store.describe()
        data["labeled"] = store.count(SearchFilter(labeled=True))
        data["categories"] = store.category_counts(level=level)
        data["depth"] = self.depth_status()
        data["confidence"] = self.confidence_status(head=self._heads.latest or self._heads.saved(store))
        return data

    def ready(self) -> dict[str, Any]:
        """What /ready reports: the model and the store answer."""
        store = self.store()
        return {
            "status": "ready",
            "model": self.model_name,
            "store": self.settings.store_description(),
            "products": store.count(),
            "labeled": store.count(SearchFilter(labeled=True)),
            "images": self.supports_images,
            "keyed_writes": self.settings.api_key is not None,
            "head_training": self._heads.training is not None,
            "depth": self.depth_status(),
            "confidence": self.confidence_status(),
        }

    def depth_status(self) -> dict[str, Any]:
        """The default depth, and whether it was set or detected from the labels."""
        return {"value": self.default_depth(), "detected": self.settings.predict_depth is None}

    def confidence_status(self, target: float | None = None, head: LinearHead | None = None) -> dict[str, Any]:
        """What the auto-file decision stands on (/ready, ``semcat info``): the target, the
        confidence threshold learned for it and the share of the store's own labeled
        products it files automatically (out of fold), or why every decision is review.
        Reads the head the requests use (or ``head``), never trains one."""
        target = self.settings.auto_precision if target is None else target
        status: dict[str, Any] = {"target_precision": target, "calibrated": False}
        if not self.settings.calibration.enabled:
            off = "calibration is off (SEMCAT_CALIBRATION__ENABLED=false): every decision is review"
            return status | {"reason": off}
        if not self.settings.query_options().uses_head:
            return status | {"reason": "the confidence is learned with the linear head, which is off (head_weight 0)"}
        head = head or self._heads.latest
        if head is None:
            return status | {"reason": "the linear head and its calibration are loading (or training)"}
        calibration = head.calibration
        if calibration is None:
            return status | {"reason": head.calibration_note or "not calibrated"}
        threshold = calibration.threshold(target)
        status |= {
            "calibrated": True,
            "threshold": None if threshold is None else round(threshold, 4),
            "expected_auto_share": round(calibration.expected_share(target), 4),
            "out_of_fold_accuracy": round(calibration.accuracy, 4),
            "products": calibration.products,
            "depth": calibration.depth,
        }
        if threshold is None:
            status["reason"] = f"no confidence reaches {target:.0%} precision on the store's own products"
        return status

    # ------------------------------------------------------------ training
    def fine_tune(
        self,
        config: Any,
        out: Path | None = None,
        level: int = 1,
        reindex_into: str | None = None,
        progress: Any = None,
        show_progress: bool = False,
    ) -> dict[str, Any]:
        """Fine-tune the store's model on its labeled products into a new model folder
        (:func:`semcat.embedding.train.fine_tune_labeled`) and, with ``reindex_into``,
        re-embed every stored product into that new collection. Returns the training
        summary (``target``: the folder; ``interrupted``: nothing was saved)."""
        from semcat.embedding.train import fine_tune_labeled

        stored = self.store()
        if stored.meta.model != self.model_name:
            raise ConfigError(f"the store holds vectors of {stored.meta.model!r}; pass that model with --model")
        products = [Product.from_payload(p) for _, _, payloads in stored.iter_vectors() for p in payloads]
        self.close()  # the products are read; an embedded Qdrant folder admits one client at a time
        summary = fine_tune_labeled(products, self.settings, config, out, level, self.model_name, progress)
        data = summary.as_dict() | {"target": summary.output, "interrupted": summary.interrupted}
        if summary.interrupted or not reindex_into:
            return data
        update = {"model": summary.output, "collection": reindex_into}
        with Engine(self.settings.model_copy(update=update)) as new_engine:
            indexed = new_engine.index(products, progress=show_progress)
        data["reindexed"] = {"collection": reindex_into, "products": indexed.as_dict()["indexed"]}
        return data
