"""What routes depend on: the engine, the settings, the API key, the batch limit."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

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


def _same(sent: bytes, secret: Any) -> bool:
    return secrets.compare_digest(sent, secret.get_secret_value().encode("utf-8"))


def key_owner(settings: Settings, key: str | None) -> tuple[bool, str | None]:
    """Whether a request's ``X-API-Key`` is a configured key, and the name of it when it is
    a named one (``SEMCAT_API_KEYS``). Compared as bytes: HTTP headers arrive as latin-1
    text, the setting may hold any Unicode (a non-ASCII key or header is a mismatch or a
    match, never an error). Every key is compared, so the time taken says nothing of which
    one (nearly) matched."""
    if key is None or not settings.keyed:
        return False, None
    sent = key.encode("latin-1", errors="replace")
    owner: str | None = None
    matched = settings.api_key is not None and _same(sent, settings.api_key)
    for name, secret in settings.api_keys.items():
        if _same(sent, secret):
            matched, owner = True, name
    return matched, owner


def key_matches(settings: Settings, key: str | None) -> bool:
    """Whether a request's ``X-API-Key`` is one of the configured keys."""
    return key_owner(settings, key)[0]


def require_key(settings: SettingsDep, key: Annotated[str | None, Depends(_key_header)] = None) -> str | None:
    """Write routes: the ``X-API-Key`` header must match a configured key when one is set.
    Returns the key's name (a named key) for the label history, else None."""
    if not settings.keyed:
        return None
    matched, owner = key_owner(settings, key)
    if not matched:
        raise UnauthorizedError("missing or wrong X-API-Key")
    return owner


def has_key(settings: SettingsDep, key: Annotated[str | None, Depends(_key_header)] = None) -> bool:
    """Whether this request showed a configured key (what /ready may reveal depends on it)."""
    return key_matches(settings, key)


WRITE = [Depends(require_key)]
# the name of the key a write was made with (None: unnamed or no key), for the label history
ActorDep = Annotated[str | None, Depends(require_key)]
UNAUTHORIZED = {401: {"model": ErrorBody, "description": "Missing or wrong X-API-Key (when SEMCAT_API_KEY is set)."}}


def check_batch(n: int, settings: Settings) -> None:
    if n > settings.max_batch:
        raise PayloadTooLargeError(f"{n} items in one call; the limit is {settings.max_batch} (SEMCAT_MAX_BATCH)")
