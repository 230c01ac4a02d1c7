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


def test_an_int8_store_finds_the_same_neighbors_with_exact_scores(tmp_path: Path) -> None:
    """SEMCAT_QDRANT__QUANTIZATION=int8: the graph runs on int8 copies, but the answers are
    rescored with the float vectors, so a caller sees the float store's neighbors and cosines."""
    rng = np.random.default_rng(0)
    # past the engine's full-scan threshold (10,000 KB of vectors): the graph is built and walked
    vectors = rng.normal(size=(24_000, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"p{i}" for i in range(len(vectors))]
    payloads = [{"title": f"t{i}", "category": "A > B"} for i in range(len(vectors))]
    meta = StoreMeta(model="m", spaces={"text": 128})
    answers = {}
    for kind in ("none", "int8"):
        settings = Settings(store="qdrant", data_dir=tmp_path / kind, qdrant={"quantization": kind})
        store = open_store(settings, meta)
        try:
            store.upsert(ids, vectors, payloads)
            store.flush()  # builds the graph (and the int8 copies)
        finally:
            store.close()
        engine_config = (tmp_path / kind / "qdrant-edge" / "products" / "shard" / "edge_config.json").read_text()
        assert ('"int8"' in engine_config) is (kind == "int8")
        store = open_store(settings)  # the kind is the shard's own from now on
        try:
            assert store.describe()["spaces"]["text"]["quantization"] == kind
            answers[kind] = store.search_batch(vectors[:20], 10)
        finally:
            store.close()
    same = 0
    for q, (plain, int8) in enumerate(zip(answers["none"], answers["int8"], strict=True)):
        assert int8[0].id == plain[0].id == f"p{q}"  # the query's own vector first, at 1.0
        same += len({h.id for h in int8} & {h.id for h in plain})
        exact = [float(vectors[q] @ vectors[int(h.id[1:])]) for h in int8]
        assert [h.score for h in int8] == pytest.approx(exact, abs=1e-5)  # rescored: float cosines
    assert same >= 0.9 * 20 * 10


def test_a_quantization_outside_the_choices_is_refused() -> None:
    with pytest.raises(ValueError, match="quantization"):
        Settings(store="qdrant", qdrant={"quantization": "int4"})
