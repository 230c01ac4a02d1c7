"""What routes depend on: the engine, the settings, the API key, the batch limit."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from semcat.api.batcher import CallBatcher
from semcat.api.errors import PayloadTooLargeError, UnauthorizedError
from semcat.api.schemas import ErrorBody
from semcat.config import Settings
from semcat.engine import Engine


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_calls(request: Request) -> CallBatcher | None:
    """The batcher of one-product ``/categorize`` calls (None: micro-batching off)."""
    return getattr(request.app.state, "calls", None)


def get_writes(request: Request) -> CallBatcher | None:
    """The batcher of one-product writes (``PUT /products/{id}``; None: micro-batching off)."""
    return getattr(request.app.state, "writes", None)


EngineDep = Annotated[Engine, Depends(get_engine)]
WritesDep = Annotated[CallBatcher | None, Depends(get_writes)]
CallsDep = Annotated[CallBatcher | None, Depends(get_calls)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed when SEMCAT_API_KEY is set.")


def key_matches(settings: Settings, key: str | None) -> bool:
    """Whether a request's ``X-API-Key`` is the configured key. Compared as bytes: HTTP
    headers arrive as latin-1 text, the setting may hold any Unicode (a non-ASCII key or
    header is a mismatch or a match, never an error)."""
    if settings.api_key is None or key is None:
        return False
    sent = key.encode("latin-1", errors="replace")
    return secrets.compare_digest(sent, settings.api_key.get_secret_value().encode("utf-8"))


def require_key(settings: SettingsDep, key: Annotated[str | None, Depends(_key_header)] = None) -> None:
    """Write routes: the ``X-API-Key`` header must match ``SEMCAT_API_KEY`` when it is set."""
    if settings.api_key is not None and not key_matches(settings, key):
        raise UnauthorizedError("missing or wrong X-API-Key")


def has_key(settings: SettingsDep, key: Annotated[str | None, Depends(_key_header)] = None) -> bool:
    """Whether this request showed the configured key (what /ready may reveal depends on it)."""
    return key_matches(settings, key)


WRITE = [Depends(require_key)]
UNAUTHORIZED = {401: {"model": ErrorBody, "description": "Missing or wrong X-API-Key (when SEMCAT_API_KEY is set)."}}


def check_batch(n: int, settings: Settings) -> None:
    if n > settings.max_batch:
        raise PayloadTooLargeError(f"{n} items in one call; the limit is {settings.max_batch} (SEMCAT_MAX_BATCH)")
