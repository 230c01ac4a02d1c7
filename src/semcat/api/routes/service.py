"""``/health`` (liveness), ``/ready`` (readiness) and ``/options`` (what a request may set)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from semcat import auditing
from semcat.api.deps import has_key
from semcat.api.errors import error_response
from semcat.api.schemas import ErrorBody, Health, MethodOut, OptionsOut, Ready
from semcat.methods import REGISTRY
from semcat.options import MODALITIES, REQUEST_FIELDS, option_bounds

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/ready", response_model=Ready, responses={503: {"model": ErrorBody}})
async def ready(request: Request, keyed: Annotated[bool, Depends(has_key)]) -> Ready | JSONResponse:
    """Readiness: the model is loaded and the store answers. Where the store lives (a
    path, a server URL) is shown only to a request with the API key."""
    try:
        engine = request.app.state.engine
        stats = await run_in_threadpool(lambda: engine.stats(categories=False))
        audit = await run_in_threadpool(auditing.status, engine)
    except Exception as exc:  # not ready is an answer, not a crash
        detail = str(exc) if keyed else f"{type(exc).__name__}: the model or the store is not ready"
        return error_response(503, "not_ready", detail)
    return Ready(
        status="ready",
        model=stats.model,
        store=stats.store if keyed else engine.settings.store,  # where it lives, only with the key
        products=stats.products,
        labeled=stats.labeled,
        images=stats.images,
        photos=engine.settings.images_root is not None,
        keyed_writes=engine.settings.keyed,
        head_training=stats.head_training,
        depth={"value": stats.depth, "detected": stats.depth_detected},
        confidence=stats.confidence,
        audit=audit,
    )


@router.get("/options", response_model=OptionsOut)
async def options() -> OptionsOut:
    """The categorization methods (from semcat's method registry), the modalities and the
    request options' bounds."""
    return OptionsOut(
        methods=[
            MethodOut(
                name=spec.name,
                label=spec.label,
                description=spec.description,
                needs_prompts=spec.zero_shot,
                calibrated=spec.calibrated,
            )
            for spec in REGISTRY.values()
        ],
        modalities=list(MODALITIES),
        bounds={name: bounds for name in REQUEST_FIELDS if (bounds := option_bounds(name))},
    )
