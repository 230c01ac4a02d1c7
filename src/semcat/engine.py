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
upsert, categorize, search, read) has its entry point here; each is a short call into the
package that does the work, and splitting the class would put the pipeline back in
several places. What the engine says about itself is one typed :class:`EngineStats`; each
face shapes its own payload from it (the API's /ready, ``semcat info``). Its public
members are few (a test holds them to 14): the pipeline (``options``, ``categorize``,
``predict``), the writes (``index``, ``index_catalog``, ``upsert_products``,
``delete_product``), the reads (``similar``, ``get_product``, ``stats``), the resources
(``model``, ``store``, ``head``, ``close``). Helpers for DataFrames and fine-tuning are
functions of this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from semcat.catalog import CatalogReport, ColumnMap, Product, public_payload, read_catalog
from semcat.categorize import QueryRows, ZeroShotCategorizer, build_categorizer, head_applies
from semcat.categorize.calibration import apply as calibrated
from semcat.categorize.depth import category_depth
from semcat.categorize.head import LinearHead
from semcat.categorize.keeper import HeadKeeper
from semcat.categorize.prediction import Prediction
from semcat.categorize.retrain import calibration_spec
from semcat.categorize.zeroshot import prompt_categories
from semcat.config import Settings
from semcat.embedding.base import Embedder, LazyEmbedder, Role
from semcat.embedding.queries import image_rows, query_spaces
from semcat.errors import ConfigError, InvalidInputError, NotFoundError, StoreError, StoreMissingError
from semcat.indexer import IndexSummary, index_products
from semcat.methods import calibrated_methods, method_spec
from semcat.options import SIMILAR_K, QueryOptions
from semcat.review import Audits, LabelChange, LabelHistory, ReviewSessions
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


class EngineModel:
    """The configured model, as :attr:`Engine.model` hands it out."""

    def __init__(self, name: Callable[[], str], images: Callable[[], bool], load: Callable[[], Embedder]) -> None:
        self._name, self._images, self._load = name, images, load

    @property
    def name(self) -> str:
        """The model's name, known without loading its weights."""
        return self._name()

    @property
    def images(self) -> bool:
        """Whether it embeds photos (CLIP), known without loading it."""
        return self._images()

    @property
    def embedder(self) -> Embedder:
        """The embedder itself, loaded on first use."""
        return self._load()


@dataclass(frozen=True, slots=True)
class EngineStats:
    """What the engine says about itself (:meth:`Engine.stats`); each face shapes its payload."""

    model: str
    images: bool  # whether the model embeds photos
    store: str  # where the store lives, in words
    backend: dict[str, Any]  # the store's own description (backend, location, spaces, indexes), when asked
    products: int
    labeled: int
    level: int | None  # the level ``categories`` counts at (None: full paths)
    categories: dict[str, int]
    depth: int | None  # the deepest level predicted when a request names none
    depth_detected: bool  # detected from the labels (else set by predict_depth)
    head_training: bool  # a new linear head is training in the background
    head_path: Path  # where the trained head is kept between processes
    confidence: dict[str, Any]  # the auto-file status: target, threshold, expected share, or why not


def _as_product(index: int, item: Product | str) -> Product:
    """A product to categorize: a plain text is a product with that title."""
    if isinstance(item, Product):
        return item
    if not isinstance(item, str) or not item.strip():
        raise InvalidInputError(f"item {index}: the text to categorize is empty")
    return Product(id=f"text-{index}", title=item.strip())


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
        # the label history and the review sessions of the store collection, beside its heads
        self.history = LabelHistory(s.data_dir / "history" / f"{s.store}-{s.collection}.sqlite")
        self.reviews = ReviewSessions(s.data_dir / "history" / f"{s.store}-{s.collection}-reviews.sqlite")
        self.audits = Audits(s.data_dir / "history" / f"{s.store}-{s.collection}-audit.sqlite")
        self._heads = HeadKeeper(
            s.data_dir / "heads" / f"{s.store}-{s.collection}.pkl",
            s.text_fields,
            s.head,
            s.retrain,
            calibration,
        )

    # ------------------------------------------------------------ resources
    @property
    def model(self) -> EngineModel:
        """The configured model: its name and whether it reads photos (known without loading
        its weights), and its embedder (loaded on first use)."""
        return EngineModel(self._model_name, self._images, self._load_embedder)

    def _load_embedder(self) -> Embedder:
        if self._embedder is None:
            from semcat.embedding import load_embedder

            self._embedder = load_embedder(self.settings)
        return self._embedder

    def _images(self) -> bool:
        """Whether the configured model embeds images (CLIP), known without loading it."""
        if self._embedder is not None:
            return bool(getattr(self._embedder, "supports_images", False))
        from semcat.embedding.registry import is_clip

        return is_clip(self.settings)

    def _model_name(self) -> str:
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
                embedder = self._load_embedder()
                spaces = {DEFAULT_SPACE: embedder.dim}
                if self._images():
                    spaces[IMAGE_SPACE] = embedder.dim
                meta = StoreMeta(model=embedder.name, spaces=spaces, sparse=(LEXICAL_SPACE,))
                self._store = open_store(self.settings, meta)
        if create and self._store.meta.model != (wanted := self._model_name()):
            raise StoreError(
                f"the store ({self.settings.store_description()}) holds vectors of model "
                f"{self._store.meta.model!r}, not {wanted!r}: use another --data-dir or "
                "--collection for a second model" + backend_hint(self._store.meta.model, wanted)
            )
        return self._store

    def _checked_store(self) -> VectorStore:
        """The store, once it is known to hold vectors of the model that embeds the queries."""
        store = self.store()
        wanted = self._model_name()  # known without loading the weights
        if store.meta.model != wanted:
            raise StoreError(
                f"the store holds vectors of model {store.meta.model!r} but the configured model "
                f"{wanted!r} would embed the queries; pass the store's model with --model"
                + backend_hint(store.meta.model, wanted)
            )
        return store

    def close(self) -> None:
        self.history.close()
        self.reviews.close()
        self.audits.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- writes
    def index(
        self,
        products: Sequence[Product],
        progress: bool = True,
        flush: bool = True,
        outcomes: bool = False,
        save_head: bool = False,
        via: str = "python",
        actor: str | None = None,
    ) -> IndexSummary:
        """Embed and store products (their photos too, with a CLIP model and an images root);
        ``outcomes``: the summary says what happened to each product; ``save_head``: then
        make sure a current linear head (and its calibration) is saved for the next process,
        its seconds in ``summary.head_seconds`` (None: the defaults use no head). Every label
        it changes goes to :attr:`history`, with ``via`` (what wrote it: one of
        :data:`semcat.review.SOURCES`) and ``actor`` (a name, where the caller has one)."""
        store = self.store(create=True)
        self._writes += 1
        summary = index_products(
            products,
            LazyEmbedder(lambda: self._load_embedder(), self._model_name(), self._images()),
            store,
            fields=self.settings.text_fields,
            batch_size=self.settings.batch_size,
            progress=progress,
            flush=flush,
            images_root=self.settings.images_root,
            max_pixels=self.settings.image_max_pixels,
            outcomes=outcomes,
        )
        return self._indexed(summary, via, actor, save_head)

    def _indexed(self, summary: IndexSummary, via: str, actor: str | None, save_head: bool) -> IndexSummary:
        """After any indexing run: its label changes into the history, then (``save_head``,
        a run that finished) a current head saved for the next process."""
        self.history.record(
            LabelChange(product_id, old, new, via, actor=actor) for product_id, old, new in summary.label_changes
        )
        if save_head and not summary.interrupted:
            summary.head_seconds = self._save_head()
        return summary

    def index_catalog(
        self,
        source: str | Path | Any,
        columns: ColumnMap | None = None,
        fmt: str | None = None,
        encoding: str = "utf-8",
        *,
        progress: bool = True,
        require_labels: bool = False,
        before: Callable[[CatalogReport], None] | None = None,
        via: str = "cli",
        executor: str = "local",
        on_progress: Callable[[int], None] | None = None,
    ) -> tuple[Any, IndexSummary | None]:
        """``semcat index``'s workflow: read a catalog file (or a ``pandas.DataFrame``), index
        its valid products, then save a current linear head so the first categorization
        does not wait for one. ``before`` sees the row report before anything is embedded.
        Returns the report and the summary (None: no valid product, nothing indexed);
        ``require_labels``: a catalog without any category is refused, nothing indexed.

        ``executor="ray"``: a Ray cluster reads (a file, a folder of shards or a filesystem
        URI), embeds and writes (:mod:`semcat.indexer.distributed`); the report is then its
        :class:`~semcat.indexer.distributed.RayRun` (shards are read as they are embedded,
        so ``before`` and ``require_labels`` do not apply), ``on_progress`` gets the products
        handled so far."""
        if executor == "ray":
            return self._index_on_ray(source, columns, fmt, encoding, on_progress, via)
        report = read_catalog(source, columns, fmt, encoding)
        if before is not None:
            before(report)
        if not report.products:
            return report, None
        if report.labels_warning and require_labels:
            raise ConfigError(f"{report.labels_warning}; nothing was indexed (--require-labels)")
        summary = self.index(report.products, progress=progress, save_head=True, via=via)
        summary.rejected = report.rejected
        return report, summary

    def upsert_products(self, products: Sequence[Product], via: str = "api", actor: str | None = None) -> IndexSummary:
        """Store products now: searchable and voting on the next request. Index files
        are saved at close (the store's database already holds every write). Each id once
        per call (the API merges concurrent writes with
        :func:`semcat.api.routes.products.upsert_in_order`)."""
        return self.index(products, progress=False, flush=False, outcomes=True, via=via, actor=actor)

    def delete_product(self, product_id: str, via: str = "api", actor: str | None = None) -> None:
        """Remove a stored product (its label history records the removal of its label)."""
        self._writes += 1
        store = self.store()
        before = [record.payload.get("category") for record in store.get([product_id])]
        if store.delete([product_id]) == 0:
            raise NotFoundError(f"no stored product with id {product_id!r}")
        if before and before[0] is not None:
            self.history.record([LabelChange(product_id, before[0], None, via, actor=actor)])

    # --------------------------------------------------------- categorizing
    def options(self, **overrides: Any) -> QueryOptions:
        """The settings' categorization options with a request's overrides (None: not given)."""
        return self.settings.query_options(**overrides)

    def categorize(
        self,
        products: Sequence[Product | str],
        options: QueryOptions | None = None,
        *,
        images: Sequence[Any | None] | None = None,
        **overrides: Any,
    ) -> list[Prediction]:
        """Predict a category for each product (which need not be stored; a plain text is a
        product with that title).

        ``options`` (else the settings') with ``overrides`` (``k``, ``top_n``, ``depth``,
        ``method``, ``modality``, ``category``, ...; None means not given) decide how.
        ``images``, one per product or None, are decoded photos or raw image bytes
        (decoded here under the pixel guard); a CLIP model embeds them per the modality.
        """
        opts = self._with_depth((options or self.settings.query_options()).merged(**overrides))
        products = [_as_product(i, p) for i, p in enumerate(products)]
        if images is not None and len(images) != len(products):
            raise InvalidInputError(f"{len(products)} products but {len(images)} images")
        predictions: list[Prediction] = []
        for start in range(0, len(products), CATEGORIZE_BATCH):
            chunk = products[start : start + CATEGORIZE_BATCH]
            chunk_images = images[start : start + CATEGORIZE_BATCH] if images is not None else None
            texts = [p.text(self.settings.text_fields) for p in chunk]  # embedded, and the sparse rows' source
            vectors = self._query_vectors([p.id for p in chunk], texts, chunk_images, opts, start)
            predictions += self.predict(texts, vectors, opts)
        return predictions

    def _with_depth(self, options: QueryOptions) -> QueryOptions:
        """The options with the store's default depth where they name none."""
        if options.depth is not None:
            return options
        depth = self._default_depth()
        return options if depth is None else replace(options, depth=depth)

    def _default_depth(self) -> int | None:
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

    def _index_on_ray(
        self,
        source: Any,
        columns: ColumnMap | None,
        fmt: str | None,
        encoding: str,
        on_progress: Callable[[int], None] | None,
        via: str,
    ) -> tuple[Any, IndexSummary]:
        from semcat.indexer.distributed import index_on_ray

        if self._images():
            raise ConfigError("--executor ray embeds texts only; index photos (CLIP) with the default executor")
        store = self.store(create=True)
        self._writes += 1
        run = index_on_ray(
            source,
            self.settings,
            store,
            self._model_name(),
            columns=columns,
            fmt=fmt,
            encoding=encoding,
            progress=on_progress,
        )
        return run, self._indexed(run.summary, via, None, save_head=run.summary.valid > 0)

    def _save_head(self) -> float | None:
        """Make sure a current head is saved for the next process (reading just the saved
        file's header when it is); its seconds, or None when the defaults use no head."""
        if not self.settings.query_options().uses_head:
            return None
        start = time.perf_counter()
        ready = self._heads.ensure_saved(self.store(), self._checked_store)
        return round(time.perf_counter() - start, 1) if ready else None

    def _zero_shot_categories(self) -> list[tuple[str, ...]]:
        """The taxonomy file's paths, else the stored labels, cut at the zero-shot level."""
        stored = None if self.settings.taxonomy_file is not None else self.store().category_counts(level=None)
        return prompt_categories(self.settings.taxonomy_file, self.settings.zero_shot.level, stored)

    def _zero_shot_prior(self) -> ZeroShotCategorizer:
        """The zero-shot categorizer for the current categories (prompt vectors cached)."""
        categories = tuple(self._zero_shot_categories())
        key = (categories, self.settings.zero_shot.temperature)
        if self._zero_shot is None or self._zero_shot[0] != key:
            self._checked_store()
            prior = ZeroShotCategorizer(
                self._load_embedder(), categories, temperature=self.settings.zero_shot.temperature
            )
            self._zero_shot = (key, prior)
        return self._zero_shot[1]

    # ------------------------------------------------- the pipeline's steps
    def _encode_query_texts(self, texts: Sequence[str]) -> np.ndarray:
        encoder = self.query_encoder or self._load_embedder()
        return encoder.encode_texts(list(texts), role="query")

    def _check_images(self, need_store_space: bool = False) -> None:
        """Images need a model that embeds them (and, to vote or search, stored image vectors)."""
        if not self._images():
            raise InvalidInputError(
                f"the model {self._model_name()!r} embeds text only: image queries need a CLIP model "
                "(SEMCAT_MODEL=clip, see docs/guides/models.md, 'Images and CLIP')"
            )
        if need_store_space and IMAGE_SPACE not in self.store().meta.spaces:
            raise InvalidInputError("the store holds no image vectors: index the catalog with a CLIP model")

    def _image_vectors(self, images: Sequence[Any | None], offset: int = 0) -> np.ndarray:
        self._check_images()
        embedder = self._load_embedder()
        return image_rows(images, embedder.encode_images, embedder.dim, self.settings.image_max_pixels, offset)

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

    def predict(
        self,
        texts: Sequence[str],
        vectors: dict[str, np.ndarray],
        options: QueryOptions,
        zero_shot: ZeroShotCategorizer | None = None,
    ) -> list[Prediction]:
        """The pipeline over query vectors (``vectors``: per space, one row per query;
        ``texts``: the queries' texts, the sparse rows' source): the sparse rows, the
        categorizer the options call for (with the head and the zero-shot prior it needs),
        its predictions, their confidence and decision. ``categorize`` embeds and calls it;
        ``semcat evaluate`` calls it with the held-out products' vectors (and, for the
        zero-shot methods, ``zero_shot``: a prior over the evaluated catalog's categories
        instead of the store's)."""
        spec = method_spec(options.method)
        if IMAGE_SPACE in vectors and spec.store_vectors:
            self._check_images(need_store_space=True)
        store = self._checked_store()
        queries = self._rows.add(
            vectors, texts, options, store_sparse=store.meta.sparse, head_chars=self.settings.head.chars
        )
        head = self.head() if head_applies(options, queries) else None
        prior = (zero_shot or self._zero_shot_prior()) if spec.zero_shot else None
        categorizer = build_categorizer(store, options, head=head, zero_shot=prior)
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

    def stats(
        self,
        level: int | None = 1,
        *,
        categories: bool = True,
        target: float | None = None,
        saved_head: bool = False,
        describe: bool = False,
    ) -> EngineStats:
        """What the engine can say about itself (/ready, ``semcat info``, /categories): the
        model, the store and its counts, the products per category at ``level`` (None: full
        paths; ``categories=False``: not counted), the default depth, the head's state and the
        auto-file status at ``target`` (default: the settings'). ``saved_head``: read the
        saved head's calibration when this process has none loaded; ``describe``: the
        store's own description too (both for ``semcat info``: a description counts the
        stored word vectors, too slow for a health check polled every few seconds)."""
        store = self.store()
        head = self._heads.latest
        if head is None and saved_head:
            head = self._heads.saved(store)
        return EngineStats(
            model=self._model_name(),
            images=self._images(),
            store=self.settings.store_description(),
            backend=store.describe() if describe else {},
            products=store.count(),
            labeled=store.count(SearchFilter(labeled=True)),
            level=level,
            categories=store.category_counts(level=level) if categories else {},
            depth=self._default_depth(),
            depth_detected=self.settings.predict_depth is None,
            head_training=self._heads.training is not None,
            head_path=self._heads.path,
            confidence=self._confidence_status(target, head),
        )

    def _confidence_status(self, target: float | None = None, head: LinearHead | None = None) -> dict[str, Any]:
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
        filed_precision = calibration.filed_precision(target)
        status |= {
            "calibrated": True,
            "threshold": None if threshold is None else round(threshold, 4),
            "expected_auto_share": round(calibration.expected_share(target), 4),
            # how often the out-of-fold paths it files were right (the threshold also reads
            # their calibrated confidences, so this may differ from the target)
            "out_of_fold_precision": None if filed_precision is None else round(filed_precision, 4),
            "out_of_fold_accuracy": round(calibration.accuracy, 4),
            "products": calibration.products,
            "depth": calibration.depth,
            # whether a stored copy's label decides for a new listing of the same product
            "near_duplicates": asdict(calibration.near_duplicates) | {"summary": calibration.near_duplicates.line()},
        }
        if threshold is None:
            status["reason"] = f"no confidence reaches {target:.0%} precision on the store's own products"
        return status


def relabel(
    engine: Engine, product_id: str, category: tuple[str, ...], via: str = "api", actor: str | None = None
) -> str:
    """Give a stored product a new label (empty: unlabeled), keeping its text, photo and
    attributes (its vectors are unchanged, so nothing is embedded again); recorded in its
    label history. Returns the write's outcome (``relabeled`` or ``unchanged``)."""
    records = engine.store().get([product_id])
    if not records:
        raise NotFoundError(f"no stored product with id {product_id!r}")
    product = replace(Product.from_payload(records[0].payload), category=tuple(category))
    outcomes = engine.upsert_products([product], via=via, actor=actor).outcomes or {}
    return outcomes.get(product_id, "unchanged")


def browse(
    engine: Engine, category: str | None, limit: int, cursor: str | None = None
) -> tuple[int, list[dict[str, Any]], str | None]:
    """The stored products under ``category`` (a path prefix at any level; None: every
    product) a page at a time: how many there are, this page's payloads (as
    :meth:`Engine.get_product` shows them) and the next page's cursor (None: the last page)."""
    store = engine.store()
    flt = SearchFilter(category=category) if category else None
    page = store.browse(flt, limit, cursor)
    return store.count(flt), [public_payload(r.payload) for r in page.records], page.next


def label_history(engine: Engine, product_id: str) -> list[LabelChange]:
    """Every change of a product's label, oldest first (a deleted product's included);
    :class:`~semcat.errors.NotFoundError` when the id has no history and is not stored."""
    changes = engine.history.of(product_id)
    if not changes:
        engine.get_product(product_id)  # stored before the history began (or never): its 404
    return changes


def categorize_frame(
    engine: Engine,
    frame: Any,
    options: QueryOptions | None = None,
    columns: ColumnMap | None = None,
    **overrides: Any,
) -> Any:
    """Categorize the rows of a ``pandas.DataFrame`` (columns detected as for a catalog
    file, or mapped by ``columns``): a DataFrame with one prediction row per valid row
    (id, title, category, main_category, score, uncertain, top, levels, neighbors, and
    true_category where the frame has labels). Rejected rows raise nothing: they are
    missing from the result, as in a catalog report."""
    import pandas as pd

    from semcat.categorize.prediction import prediction_row

    report = read_catalog(frame, columns)
    predictions = engine.categorize(report.products, options, **overrides)
    return pd.DataFrame([prediction_row(p, pred) for p, pred in zip(report.products, predictions, strict=True)])


def fine_tune(
    engine: Engine,
    config: Any,
    out: Path | None = None,
    level: int = 1,
    reindex_into: str | None = None,
    progress: Any = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Fine-tune the store's model on its labeled products into a new model folder
    (:func:`semcat.embedding.finetune.fine_tune_labeled`) and, with ``reindex_into``,
    re-embed every stored product into that new collection. Returns the training
    summary (``target``: the folder; ``interrupted``: nothing was saved)."""
    from semcat.embedding.finetune import fine_tune_labeled

    stored = engine.store()
    if stored.meta.model != engine.model.name:
        raise ConfigError(f"the store holds vectors of {stored.meta.model!r}; pass that model with --model")
    products = [Product.from_payload(p) for _, _, payloads in stored.iter_vectors() for p in payloads]
    engine.close()  # the products are read; an embedded Qdrant folder admits one client at a time
    summary = fine_tune_labeled(products, engine.settings, config, out, level, engine.model.name, progress)
    data = summary.as_dict() | {"target": summary.output, "interrupted": summary.interrupted}
    if summary.interrupted or not reindex_into:
        return data
    update = {"model": summary.output, "collection": reindex_into}
    with Engine(engine.settings.model_copy(update=update)) as new_engine:
        indexed = new_engine.index(products, progress=show_progress)
    data["reindexed"] = {"collection": reindex_into, "products": indexed.as_dict()["indexed"]}
    return data
