"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.unit.test_api import CATALOG, make_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The API over a FAISS store holding test_api's six labeled products (hash embedder)."""
    with make_client(tmp_path) as c:
        items = [{"id": i, "title": t, "category": c_} for i, t, c_ in CATALOG]
        assert c.post("/products", json={"items": items}).status_code == 200
        yield c
