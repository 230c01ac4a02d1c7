"""What routes depend on: the engine, the settings, the API key, the batch limit."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from semcat.api.batcher import CallBatcher
from semcat.api.errors import BusyError, PayloadTooLargeError, UnauthorizedError
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
    text and configured keys are printable ASCII (``config.check_api_key``), so a non-ASCII
    header is a mismatch, never an error. Every key is compared, so the time taken says nothing of which
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


def has_key(settings: SettingsDep, request: Request) -> bool:
    """Whether this request showed a configured key (what /ready may reveal depends on it).
    Read from the request, not through the key scheme, so OpenAPI does not list the key as
    /ready's security: the route answers without one."""
    return key_matches(settings, request.headers.get("x-api-key"))


WRITE = [Depends(require_key)]
# the name of the key a write was made with (None: unnamed or no key), for the label history
ActorDep = Annotated[str | None, Depends(require_key)]
UNAUTHORIZED = {401: {"model": ErrorBody, "description": "Missing or wrong X-API-Key (when SEMCAT_API_KEY is set)."}}


def check_batch(n: int, settings: Settings) -> None:
    if n > settings.max_batch:
        raise PayloadTooLargeError(f"{n} items in one call; the limit is {settings.max_batch} (SEMCAT_MAX_BATCH)")


def check_work(n: int, options: dict[str, Any], settings: Settings) -> None:
    """A categorization's work budget, checked before any work: the neighbors it searches
    and votes (items x k) and the alternatives it lists (items x top_n); a 413 names the
    request's figure, the limit and the setting."""
    k = options.get("k") or settings.k
    top_n = options.get("top_n") or settings.top_n
    for asked, limit, setting, what in (
        (n * k, settings.max_request_neighbors, "SEMCAT_MAX_REQUEST_NEIGHBORS", f"neighbors ({n} items x k {k})"),
        (
            n * top_n,
            settings.max_request_listed,
            "SEMCAT_MAX_REQUEST_LISTED",
            f"alternatives ({n} items x top_n {top_n})",
        ),
    ):
        if asked > limit:
            raise PayloadTooLargeError(
                f"this call asks for {asked:,} {what}; the limit is {limit:,} per call ({setting}): "
                "send fewer items per call or a smaller value"
            )


class KeylessItems:
    """How many products requests without a key are having categorized at once (when keys
    are configured): one that would pass ``limit`` waits for room, up to ``wait_s``, then
    is a 503 with Retry-After. A request with a key never waits here."""

    def __init__(self, limit: int, wait_s: float = 30.0) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self.used = 0
        self._room = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def held(self, n: int) -> AsyncIterator[None]:
        n = min(n, self.limit)  # a request larger than the limit runs alone
        async with self._room:
            try:
                await asyncio.wait_for(self._room.wait_for(lambda: self.used + n <= self.limit), self.wait_s)
            except TimeoutError:
                raise BusyError(
                    f"the server is categorizing {self.used} products for callers without a key; "
                    "retry shortly or send the API key"
                ) from None
            self.used += n
        try:
            yield
        finally:
            async with self._room:
                self.used -= n
                self._room.notify_all()


async def keyless_turn(request: Request, n: int) -> contextlib.AbstractAsyncContextManager[None]:
    """The turn of a categorization of ``n`` products: immediate with a key (or when no key
    is configured: a local service), else held against :class:`KeylessItems`."""
    settings: Settings = request.app.state.settings
    if not settings.keyed or has_key(settings, request):
        return contextlib.nullcontext()
    return request.app.state.keyless.held(n)
