"""What routes depend on: the engine, the settings, the API key, the batch limit."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from semcat.api.errors import PayloadTooLargeError, UnauthorizedError
from semcat.config import Settings
from semcat.engine import Engine


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed when SEMCAT_API_KEY is set.")


def require_key(settings: SettingsDep, key: Annotated[str | None, Depends(_key_header)] = None) -> None:
    """Write routes: the ``X-API-Key`` header must match ``SEMCAT_API_KEY`` when it is set."""
    if settings.api_key is None:
        return
    if key is None or not secrets.compare_digest(key, settings.api_key.get_secret_value()):
        raise UnauthorizedError("missing or wrong X-API-Key")


WRITE = [Depends(require_key)]


def check_batch(n: int, settings: Settings) -> None:
    if n > settings.max_batch:
        raise PayloadTooLargeError(f"{n} items in one call; the limit is {settings.max_batch} (SEMCAT_MAX_BATCH)")
