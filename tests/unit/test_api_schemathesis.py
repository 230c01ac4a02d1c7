"""schemathesis against the app's own OpenAPI schema: generated requests, valid and not,
never get a server error, and every error has the documented JSON body."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder

from semcat.api import create_app
from semcat.config import Settings
from semcat.engine import Engine

_DATA = Path(tempfile.mkdtemp(prefix="semcat-schemathesis-"))
# microbatch off: schemathesis drives the app from its own event loop
_SETTINGS = Settings(data_dir=_DATA, microbatch=False, max_batch=16, max_body_bytes=64 * 1024)
app = create_app(_SETTINGS, engine=Engine(_SETTINGS, embedder=HashEmbedder()))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def running_app() -> Iterator[None]:
    with TestClient(app) as client:
        items = [
            {"id": "w1", "title": "analog wrist watch", "category": "Watches > Wrist"},
            {"id": "b1", "title": "baby cotton romper", "category": "Baby Care"},
            {"id": "u1", "title": "unlabeled lamp"},
        ]
        assert client.post("/products", json={"items": items}).status_code == 200
        yield
    shutil.rmtree(_DATA, ignore_errors=True)


@schema.parametrize()
@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"}, body
