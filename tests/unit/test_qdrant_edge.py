"""The embedded Qdrant (qdrant-edge) as `--store qdrant` opens it without a server; the
store protocol itself is the shared suite's (tests/unit/test_stores.py, "qdrant-edge")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semcat.config import Settings
from semcat.errors import StoreError, StoreMissingError
from semcat.search import StoreMeta
from semcat.search.factory import open_store
from semcat.search.qdrant_edge import QdrantEdgeStore
from semcat.search.qdrant_store import QdrantStore

META = StoreMeta(model="m", spaces={"text": 4})


def test_settings_without_a_server_open_the_embedded_engine(tmp_path: Path) -> None:
    settings = Settings(store="qdrant", data_dir=tmp_path)
    with pytest.raises(StoreMissingError, match="index a catalog first"):
        open_store(settings)  # nothing indexed yet: not created by a read
    store = open_store(settings, META)
    try:
        assert isinstance(store, QdrantEdgeStore) and "qdrant-edge" in store.describe()["location"]
        store.upsert(["a"], np.eye(4, dtype=np.float32)[:1], [{"title": "x", "category": "A"}])
    finally:
        store.close()
    reopened = open_store(settings)  # the model and spaces come back from the folder
    try:
        assert reopened.meta == META and reopened.count() == 1
    finally:
        reopened.close()


def test_a_second_owner_is_refused_and_the_first_keeps_working(tmp_path: Path) -> None:
    first = QdrantEdgeStore(tmp_path / "edge", META)
    try:
        first.upsert(["a"], np.eye(4, dtype=np.float32)[:1], [{"title": "x"}])
        with pytest.raises(StoreError, match="open in another process"):
            QdrantEdgeStore(tmp_path / "edge", None)
        assert first.count() == 1 and first.search(np.eye(4, dtype=np.float32)[0], 1)[0].id == "a"
        assert first.reader_spec() is None  # nor may another process read it (the head's retrain child)
    finally:
        first.close()
    second = QdrantEdgeStore(tmp_path / "edge", None)  # the owner closed: the next one may open it
    second.close()


def test_a_store_written_by_the_old_local_mode_still_opens(tmp_path: Path) -> None:
    legacy = QdrantStore("products", META, path=tmp_path / "qdrant")
    legacy.upsert(["a"], np.eye(4, dtype=np.float32)[:1], [{"title": "x"}])
    legacy.close()
    store = open_store(Settings(store="qdrant", data_dir=tmp_path))
    try:
        assert isinstance(store, QdrantStore) and store.count() == 1
    finally:
        store.close()
    assert "local mode" in Settings(store="qdrant", data_dir=tmp_path).store_description()


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = QdrantEdgeStore(tmp_path / "edge", META)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()
