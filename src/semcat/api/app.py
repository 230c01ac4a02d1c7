"""The FastAPI application: the engine behind HTTP.

The model and the store are loaded once, in the lifespan. ``/categorize`` and
``/similar`` embed through a :class:`MicroBatcher`, so concurrent calls share model
calls. Errors always have the body ``{"error": code, "detail": message}``.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semcat import __version__
from semcat.api.batcher import MicroBatcher
from semcat.api.schemas import (
    BatchUpsertResult,
    CategoriesResponse,
    CategorizeRequest,
    CategorizeResponse,
    CategoryCount,
    ErrorBody,
    Health,
    ItemIn,
    PredictionOut,
    ProductIn,
    ProductOut,
    ProductsRequest,
    Ready,
    SimilarHit,
    SimilarRequest,
    SimilarResponse,
    UpsertResult,
)
from semcat.catalog import Product, clean_text, parse_attributes
from semcat.config import Settings
from semcat.errors import SemcatError
from semcat.search import SearchFilter

log = logging.getLogger("semcat.api")


def _warm_head(engine: Any) -> None:
    try:
        engine.head()
    except Exception as exc:  # a request will meet the same error and report it
        log.warning("linear head not ready at startup: %s", exc)


class PayloadTooLargeError(SemcatError):
    code = "payload_too_large"
    http_status = 413


class UnauthorizedError(SemcatError):
    code = "unauthorized"
    http_status = 401


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = _error(413, "payload_too_large", f"request body is over {self.max_bytes} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _error(400, "bad_request", "invalid Content-Length")(scope, receive, send)
                    return
                if length > self.max_bytes:
                    await too_large(scope, receive, send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await too_large(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _prediction_out(prediction: Any) -> PredictionOut:
    data = prediction.to_dict()
    return PredictionOut(**data)


def create_app(settings: Settings | None = None, engine: Any | None = None) -> FastAPI:
    """Build the app. ``engine`` may be given (tests); otherwise the lifespan makes one."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from semcat.engine import Engine

        own = engine is None
        eng = engine if engine is not None else Engine(settings)
        # load the model and open (or create) the store before accepting requests
        await run_in_threadpool(lambda: eng.store(create=True))
        await run_in_threadpool(lambda: eng.embedder)
        batcher = MicroBatcher(
            lambda texts: eng.embedder.encode_texts(texts, role="query"),
            max_texts=settings.microbatch_max,
            wait_ms=settings.microbatch_wait_ms,
            enabled=settings.microbatch,
        )
        await batcher.start()
        warmup = None
        if settings.head_weight > 0 and settings.method == "knn":
            # load the saved linear head (or train it) behind the first requests: they wait for
            # it only if they arrive before it is ready
            warmup = threading.Thread(target=_warm_head, args=(eng,), name="semcat-head-warmup", daemon=True)
            warmup.start()
        app.state.engine = eng
        app.state.batcher = batcher
        try:
            yield
        finally:
            await batcher.stop()
            if warmup is not None:
                await run_in_threadpool(warmup.join)
            if own:
                await run_in_threadpool(eng.close)
            else:
                await run_in_threadpool(lambda: eng.store().flush())

    app = FastAPI(
        title="semcat",
        version=__version__,
        description="Semantic product categorization on a vector database: kNN vote over labeled neighbors.",
        lifespan=lifespan,
        responses={
            400: {"model": ErrorBody},
            404: {"model": ErrorBody},
            413: {"model": ErrorBody},
            422: {"model": ErrorBody},
        },
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key"],
        )

    # ------------------------------------------------------------- errors
    @app.exception_handler(SemcatError)
    async def semcat_error(request: Request, exc: SemcatError) -> JSONResponse:
        headers = {"WWW-Authenticate": "ApiKey"} if isinstance(exc, UnauthorizedError) else None
        return _error(exc.http_status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err.get("loc", ()) if part != "body") or "body"
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        return _error(422, "validation_error", "; ".join(problems[:10]))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, _BodyTooLarge):  # FastAPI wraps body-read errors in a 400
            return _error(413, "payload_too_large", f"request body is over {settings.max_body_bytes} bytes")
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "internal server error (logged)")

    # ---------------------------------------------------------- security
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed when SEMCAT_API_KEY is set.")

    def require_key(key: str | None = Depends(key_header)) -> None:
        if settings.api_key is None:
            return
        if key is None or not secrets.compare_digest(key, settings.api_key.get_secret_value()):
            raise UnauthorizedError("missing or wrong X-API-Key")

    write = [Depends(require_key)]

    def state(request: Request) -> tuple[Any, MicroBatcher]:
        return request.app.state.engine, request.app.state.batcher

    def check_batch(n: int) -> None:
        if n > settings.max_batch:
            raise PayloadTooLargeError(f"{n} items in one call; the limit is {settings.max_batch} (SEMCAT_MAX_BATCH)")

    async def call(fn: Callable[[], Any]) -> Any:
        return await run_in_threadpool(fn)

    def decode_image(raw: bytes, name: str) -> Any:
        from semcat.images import load_image

        return load_image(raw, max_pixels=settings.image_max_pixels, name=name)

    async def predict_items(
        engine_: Any,
        batcher: MicroBatcher,
        items: list[ItemIn],
        images: list[bytes | None],
        options: dict[str, Any],
        modality: str | None,
    ) -> CategorizeResponse:
        check_batch(len(items))
        products = [
            Product(
                id=f"item-{i}",
                title=clean_text(it.title),
                description=clean_text(it.description),
                brand=clean_text(it.brand),
                attributes=parse_attributes(it.attributes),
            )
            for i, it in enumerate(items)
        ]
        texts = [p.text(settings.text_fields) for p in products]
        if not any(raw is not None for raw in images) and (modality or settings.modality) != "image":
            vectors: Any = await batcher.encode(texts)  # the text-only path, micro-batched
        else:
            engine_.check_images()
            decoded = await call(
                lambda: [
                    decode_image(raw, f"items[{i}] image") if raw is not None else None for i, raw in enumerate(images)
                ]
            )
            rows = [i for i, t in enumerate(texts) if t.strip()]
            text_vectors = None
            if rows:
                encoded = await batcher.encode([texts[i] for i in rows])
                text_vectors = np.zeros((len(texts), encoded.shape[1]), dtype=np.float32)
                text_vectors[rows] = encoded
            image_vectors = await call(lambda: engine_.encode_query_images(decoded))
            vectors = engine_.query_spaces([p.id for p in products], text_vectors, image_vectors, modality)
        vectors = await call(
            lambda: engine_.with_lexical(vectors, texts, options.get("method"), options.get("category"))
        )
        predictions = await call(lambda: engine_.predict_vectors(vectors, **options))
        return CategorizeResponse(predictions=[_prediction_out(p) for p in predictions], model=engine_.model_name)

    # ------------------------------------------------------------ routes
    @app.post("/categorize", response_model=CategorizeResponse, tags=["categorize"])
    async def categorize(body: CategorizeRequest, request: Request) -> CategorizeResponse:
        """Categorize one product or a batch by kNN vote over the stored labeled products
        (or zero-shot / hybrid). Items may carry a base64 photo (CLIP models)."""
        from semcat.images import decode_base64

        engine_, batcher = state(request)
        items = body.products()
        check_batch(len(items))
        images = [
            decode_base64(it.image_base64, f"items[{i}].image_base64") if it.image_base64 else None
            for i, it in enumerate(items)
        ]
        options = {"k": body.k, "top_n": body.top_n, "depth": body.depth, "category": body.category}
        return await predict_items(engine_, batcher, items, images, options | {"method": body.method}, body.modality)

    @app.post("/categorize/image", response_model=CategorizeResponse, tags=["categorize"])
    async def categorize_upload(
        request: Request,
        image: Annotated[UploadFile, File(description="The product photo (JPEG, PNG, WebP...).")],
        title: Annotated[str, Form(max_length=2_000)] = "",
        description: Annotated[str, Form(max_length=50_000)] = "",
        brand: Annotated[str, Form(max_length=500)] = "",
        attributes: Annotated[str, Form(max_length=50_000)] = "",
        method: Annotated[str | None, Form(pattern="^(knn|zero-shot|hybrid)$")] = None,
        modality: Annotated[str | None, Form(pattern="^(text|image|both)$")] = None,
        k: Annotated[int | None, Form(ge=1, le=1000)] = None,
        top_n: Annotated[int | None, Form(ge=1, le=100)] = None,
        depth: Annotated[int | None, Form(ge=1, le=50)] = None,
        category: Annotated[str | None, Form(max_length=1_000)] = None,
    ) -> CategorizeResponse:
        """Categorize one product from an uploaded photo (multipart form), with optional text."""
        engine_, batcher = state(request)
        raw = await image.read()
        item = ItemIn.model_construct(
            title=title, description=description, brand=brand, attributes=attributes or None, image_base64=None
        )
        options = {"k": k, "top_n": top_n, "depth": depth, "category": category, "method": method}
        return await predict_items(engine_, batcher, [item], [raw], options, modality)

    def similar_out(hits: list[Any]) -> SimilarResponse:
        return SimilarResponse(
            results=[SimilarHit(id=h.id, score=h.score, product=ProductOut.from_payload(h.payload)) for h in hits]
        )

    async def similar_image(engine_: Any, raw: bytes, name: str, k: int, category: str | None) -> SimilarResponse:
        engine_.check_images(need_store_space=True)
        picture = await call(lambda: decode_image(raw, name))
        return similar_out(await call(lambda: engine_.similar(image=picture, k=k, category=category)))

    @app.post("/similar", response_model=SimilarResponse, tags=["search"])
    async def similar(body: SimilarRequest, request: Request) -> SimilarResponse:
        """Stored products nearest to a text, a stored product, or a base64 photo."""
        from semcat.images import decode_base64

        engine_, batcher = state(request)
        if body.image_base64 is not None:
            return await similar_image(engine_, decode_base64(body.image_base64), "image_base64", body.k, body.category)
        if body.id is not None:
            hits = await call(lambda: engine_.similar(product_id=body.id, k=body.k, category=body.category))
        else:
            vector = (await batcher.encode([body.text.strip()]))[0]  # type: ignore[union-attr]
            hits = await call(lambda: engine_.search_vector(vector, k=body.k, category=body.category))
        return similar_out(hits)

    @app.post("/similar/image", response_model=SimilarResponse, tags=["search"])
    async def similar_upload(
        request: Request,
        image: Annotated[UploadFile, File(description="The photo to search by.")],
        k: Annotated[int, Form(ge=1, le=1000)] = 5,
        category: Annotated[str | None, Form(max_length=1_000)] = None,
    ) -> SimilarResponse:
        """Stored products whose photos are nearest to an uploaded photo (CLIP models)."""
        engine_, _ = state(request)
        return await similar_image(engine_, await image.read(), "the uploaded image", k, category)

    @app.get("/products/{product_id}", response_model=ProductOut, tags=["products"])
    async def get_product(product_id: str, request: Request) -> ProductOut:
        engine_, _ = state(request)
        return ProductOut.from_payload(await call(lambda: engine_.get_product(product_id)))

    @app.put("/products/{product_id}", response_model=UpsertResult, tags=["products"], dependencies=write)
    async def put_product(product_id: str, body: ProductIn, request: Request) -> UpsertResult:
        """Create or replace one product; searchable and voting from the next request."""
        engine_, _ = state(request)
        product = _to_product(product_id, body)
        summary = await call(lambda: engine_.upsert_products([product]))
        status = (
            "created"
            if summary.new
            else "updated"
            if summary.changed
            else "relabeled"
            if summary.relabeled
            else "unchanged"
        )
        return UpsertResult(id=product.id, status=status)

    @app.post("/products", response_model=BatchUpsertResult, tags=["products"], dependencies=write)
    async def post_products(body: ProductsRequest, request: Request) -> BatchUpsertResult:
        """Create or replace a batch of products (labeled or not). A repeated id: the last one wins."""
        engine_, _ = state(request)
        check_batch(len(body.items))
        by_id: dict[str, Product] = {}
        duplicates: list[str] = []
        for item in body.items:
            product = _to_product(item.id, item)
            if product.id in by_id:
                duplicates.append(product.id)
                by_id.pop(product.id)
            by_id[product.id] = product
        summary = await call(lambda: engine_.upsert_products(list(by_id.values())))
        return BatchUpsertResult(
            received=len(body.items),
            indexed=summary.embedded,
            new=summary.new,
            changed=summary.changed,
            relabeled=summary.relabeled,
            unchanged=summary.unchanged,
            duplicate_ids=sorted(set(duplicates)),
        )

    @app.delete("/products/{product_id}", status_code=204, tags=["products"], dependencies=write)
    async def delete_product(product_id: str, request: Request) -> Response:
        engine_, _ = state(request)
        await call(lambda: engine_.delete_product(product_id))
        return Response(status_code=204)

    @app.get("/categories", response_model=CategoriesResponse, tags=["products"])
    async def categories(
        request: Request,
        level: Annotated[int | None, Query(ge=1, le=50, description="Taxonomy level; omit for full paths.")] = 1,
    ) -> CategoriesResponse:
        engine_, _ = state(request)

        def work() -> CategoriesResponse:
            store = engine_.store()
            counts = store.category_counts(level=level)
            return CategoriesResponse(
                level=level,
                categories=[CategoryCount(category=c, count=n) for c, n in counts.items()],
                products=store.count(),
                labeled=store.count(SearchFilter(labeled=True)),
            )

        return await call(work)

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @app.get("/ready", response_model=Ready, tags=["service"], responses={503: {"model": ErrorBody}})
    async def ready(request: Request) -> Ready | JSONResponse:
        """Readiness: the model is loaded and the store answers."""
        try:
            engine_, _ = state(request)
            count = await call(lambda: engine_.store().count())
            return Ready(status="ready", model=engine_.model_name, store=settings.store_description(), products=count)
        except Exception as exc:  # not ready is an answer, not a crash
            return _error(503, "not_ready", str(exc))

    return app


def _to_product(product_id: str, body: ProductIn) -> Product:
    return Product.build(
        id=product_id,
        title=body.title,
        description=body.description,
        brand=body.brand,
        category=body.category,
        attributes=body.attributes,
    )
