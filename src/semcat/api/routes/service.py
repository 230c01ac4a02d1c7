"""``/health`` (liveness) and ``/ready`` (readiness)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from semcat.api.errors import error_response
from semcat.api.schemas import ErrorBody, Health, Ready

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/ready", response_model=Ready, responses={503: {"model": ErrorBody}})
async def ready(request: Request) -> Ready | JSONResponse:
    """Readiness: the model is loaded and the store answers."""
    try:
        engine = request.app.state.engine
        return Ready(**await run_in_threadpool(engine.ready))
    except Exception as exc:  # not ready is an answer, not a crash
        return error_response(503, "not_ready", str(exc))
