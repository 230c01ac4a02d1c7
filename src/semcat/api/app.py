"""The FastAPI application: the engine behind HTTP.

The model and the store are loaded once, in the lifespan, and the micro-batcher is
handed to the engine as its query-text encoder, so concurrent ``/categorize`` and
``/similar`` calls share model calls. Routes (``semcat.api.routes``) parse a request,
call one engine method in the threadpool and shape its answer; errors always have the
body ``{"error": code, "detail": message}`` (``semcat.api.errors``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from semcat import __version__
from semcat.api import server
from semcat.api.batcher import CallBatcher, MicroBatcher
from semcat.api.collector import freeze_loaded, serving_collector
from semcat.api.deps import KeylessItems
from semcat.api.errors import BodyLimitMiddleware, install_error_handlers
from semcat.api.openapi import install_openapi
from semcat.api.routes import audit, categorize, products, reviews, service, similar, web
from semcat.api.routes.products import upsert_in_order
from semcat.api.schemas import ErrorBody
from semcat.api.security import MethodsMiddleware, SecurityHeadersMiddleware, install_docs
from semcat.catalog import Product
from semcat.categorize.prediction import Prediction
from semcat.config import Settings
from semcat.engine import Engine
from semcat.threads import cpu_threads

log = logging.getLogger("semcat.api")


def _warm_up(engine: Engine) -> None:
    if not engine.options().uses_head:
        return
    try:
        engine.head()  # the saved one loaded, or trained and saved
    except Exception as exc:  # a request will meet the same error and report it
        log.warning("linear head not ready at startup: %s", exc)
        return
    freeze_loaded()  # the head lives as long as the server, like the model


# how long a merged write waits at most for the reads in flight to finish before it runs:
# reads stay fast under a stream of writes, and every write is stored within about this long
WRITE_YIELD_MS = 100.0
# the write worker's niceness (its own thread, its embedding kept on it): where reads and
# writes both want the cores, reads get them (benchmarks/performance/write_load.py)
WRITE_NICE = 10


# the settings of `semcat serve --workers N`'s processes, from the process that starts them
WORKER_SETTINGS_ENV = "SEMCAT_WORKER_SETTINGS"


def worker_app() -> FastAPI:
    """The app of one of several API worker processes (uvicorn's factory): the settings
    `semcat serve` resolved, passed in the environment. Each worker loads the model and the
    store itself and follows the others' writes (the FAISS store's change log)."""
    settings = Settings.from_json(os.environ[WORKER_SETTINGS_ENV])
    server.configure(settings)  # this process's connection limits
    return create_app(settings)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. ``engine`` may be given (tests); otherwise the lifespan makes one."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        eng = engine if engine is not None else Engine(settings)
        # load the model and open (or create) the store before accepting requests
        await run_in_threadpool(lambda: eng.store(create=True))
        await run_in_threadpool(lambda: eng.model.embedder)
        batcher = MicroBatcher(
            lambda texts: eng.model.embedder.encode_texts(texts, role="query"),
            max_texts=settings.microbatch_max,
            wait_ms=settings.microbatch_wait_ms,
            enabled=settings.microbatch,
        )
        await batcher.start()
        eng.query_encoder = batcher
        calls = writes = None
        if settings.microbatch:

            def run(key: Hashable, products: list[Product]) -> list[Prediction]:
                with batcher.direct():  # the call is the batch: its texts go to the model at once
                    return eng.categorize(products, **dict(key))

            calls = CallBatcher(run, max_items=settings.microbatch_max, workers=cpu_threads())
            await calls.start()
            # writes: one at a time, each carrying every write queued meanwhile (one embedding
            # call, one transaction), so a stream of writers takes one worker, not the cores
            writes = CallBatcher(
                lambda actor, items: upsert_in_order(eng, items, actor),
                max_items=settings.max_batch,
                workers=1,
                yield_to=calls,
                max_yield_ms=WRITE_YIELD_MS,
                background_nice=WRITE_NICE,
            )
            await writes.start()
        app.state.calls = calls
        app.state.writes = writes
        # load the saved linear head (or train it) behind the first requests: they wait for
        # it only if they arrive before it is ready
        warmup = threading.Thread(target=_warm_up, args=(eng,), name="semcat-head-warmup", daemon=True)
        warmup.start()
        app.state.engine = eng
        app.state.batcher = batcher
        try:
            with serving_collector():
                yield
        finally:
            eng.query_encoder = None
            if calls is not None:
                await calls.stop()
            if writes is not None:
                await writes.stop()
            await batcher.stop()
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
        docs_url=None,  # served from local assets by install_docs
        redoc_url=None,
        responses={
            400: {"model": ErrorBody},
            404: {"model": ErrorBody},
            413: {"model": ErrorBody},
            422: {"model": ErrorBody},
        },
    )
    app.state.settings = settings
    app.state.keyless = KeylessItems(settings.max_keyless_items)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MethodsMiddleware, routes=lambda: app.routes)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every answer carries them, a 413 too
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key"],
        )
    install_error_handlers(app, settings.max_body_bytes)
    for module in (categorize, similar, products, reviews, audit, service, web):
        app.include_router(module.router)
    install_docs(app)
    from semcat.embedding.registry import is_clip

    install_openapi(app, images=engine.model.images if engine is not None else is_clip(settings), keyed=settings.keyed)
    app.mount("/static", StaticFiles(directory=web.WEB), name="static")
    return app
