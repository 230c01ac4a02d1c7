"""FAISS specifics: crash consistency, index kinds, a second process's writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from semcat.catalog import Product
from semcat.search import SearchFilter, StoreMeta
from semcat.search.faiss import FaissStore

META = StoreMeta(model="m", spaces={"text": 16})


def vecs(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 16)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def payloads(ids: list[str]) -> list[dict]:
    return [Product(id=i, title=i, category=("A",)).payload() for i in ids]


def test_unflushed_writes_survive_a_crash(tmp_path: Path) -> None:
    ids = [f"p{i}" for i in range(50)]
    v = vecs(50)
    store = FaissStore(tmp_path, META)
    store.upsert(ids[:20], v[:20], payloads(ids[:20]))
    store.flush()  # index file reflects 20 products
    store.upsert(ids[20:], v[20:], payloads(ids[20:]))
    store.upsert(["p3"], v[3:4], payloads(["p3"]))
    # no flush, no close: as if the process was killed here
    reopened = FaissStore(tmp_path, None)
    assert reopened.count() == 50
    assert reopened.describe()["spaces"]["text"]["vectors"] == 50
    assert reopened.search(v[42], k=1)[0].id == "p42"
    assert [h.id for h in reopened.search(v[3], k=50)].count("p3") == 1
    reopened.close()
    state = json.loads((tmp_path / "index.json").read_text())
    assert state["generation"] > 0


def test_auto_switches_to_hnsw_and_clears_tombstones(tmp_path: Path) -> None:
    store = FaissStore(tmp_path, META, index_kind="auto", hnsw_threshold=40, hnsw_m=8)
    v = vecs(60, seed=1)
    ids = [f"p{i}" for i in range(60)]
    store.upsert(ids[:30], v[:30], payloads(ids[:30]))
    store.flush()
    assert store.describe()["spaces"]["text"]["index"] == "flat (exact)"
    store.upsert(ids[30:], v[30:], payloads(ids[30:]))
    store.flush()
    assert store.describe()["spaces"]["text"]["index"] == "hnsw"
    store.upsert(ids[:20], v[:20], payloads(ids[:20]))  # replaced: 20 tombstones in HNSW
    assert store.describe()["spaces"]["text"]["tombstones"] == 20
    hits = store.search(v[5], k=60)
    assert len(hits) == 60 and len({h.id for h in hits}) == 60
    store.flush()  # 20 > 20% of 60: rebuilt
    assert store.describe()["spaces"]["text"]["tombstones"] == 0
    assert store.search(v[5], k=1)[0].id == "p5"


def test_filtered_hnsw_search_is_complete(tmp_path: Path) -> None:
    store = FaissStore(tmp_path, META, index_kind="hnsw", hnsw_m=8, ef_search=8)
    v = vecs(200, seed=2)
    ids = [f"p{i}" for i in range(200)]
    pl = [
        Product(id=i, title=i, category=("rare",) if n % 50 == 0 else ("common",)).payload() for n, i in enumerate(ids)
    ]
    store.upsert(ids, v, pl)
    hits = store.search(v[1], k=10, filter=SearchFilter(category="rare"))
    assert sorted(h.id for h in hits) == ["p0", "p100", "p150", "p50"]
    # p50 moves to "common" (its old vector stays in the graph as a tombstone) and a new
    # rare product arrives: the exact completion sees both writes
    store.upsert(
        ["p50", "new"],
        v[[50, 7]],
        [
            Product(id="p50", title="p50", category=("common",)).payload(),
            Product(id="new", title="new", category=("rare",)).payload(),
        ],
    )
    hits = store.search(v[50], k=10, filter=SearchFilter(category="rare"))
    assert sorted(h.id for h in hits) == ["new", "p0", "p100", "p150"]
    assert store.describe()["spaces"]["text"]["index"] == "hnsw"


def test_background_reads_wait_for_no_request(tmp_path: Path) -> None:
    """The head's retrain (a background thread) reads the store while requests search it:
    its reads take no lock of theirs and never see a write half done."""
    import threading

    from semcat.threads import run_in_background

    store = FaissStore(tmp_path, META)
    v = vecs(3, seed=5)
    store.upsert(["a", "b"], v[:2], payloads(["a", "b"]))
    seen: dict[str, object] = {}

    def retrain() -> None:
        run_in_background(0)
        seen["get"] = [r.id for r in store.get(["a", "b"], with_vectors=True)]
        seen["all"] = [pid for ids, _, _ in store.iter_vectors() for pid in ids]

    with store._lock:  # a request in the middle of a search
        store.docs.db.execute("BEGIN IMMEDIATE")  # and a write not yet committed
        store.docs.db.execute(
            "INSERT INTO items(id, category, payload) VALUES ('c', NULL, ?)", (json.dumps({"id": "c"}),)
        )
        worker = threading.Thread(target=retrain)
        worker.start()
        worker.join(timeout=30)
        store.docs.db.execute("ROLLBACK")
    assert not worker.is_alive(), "a background read waited for the store's lock"
    assert seen == {"get": ["a", "b"], "all": ["a", "b"]}
    store.close()


def test_sees_writes_of_another_process(tmp_path: Path) -> None:
    v = vecs(3, seed=3)
    reader = FaissStore(tmp_path, META)
    writer = FaissStore(tmp_path, None)
    writer.upsert(["a", "b"], v[:2], payloads(["a", "b"]))
    assert reader.search(v[1], k=1)[0].id == "b"
    reader.upsert(["c"], v[2:], payloads(["c"]))
    assert reader.count() == 3 and reader.describe()["spaces"]["text"]["vectors"] == 3
    writer.close()
    reader.close()


def test_word_search_after_writes_matches_a_fresh_load(tmp_path: Path) -> None:
    """The sparse index follows this process's writes in place (no reload per write): after
    any mix of upserts, replacements and deletes it scores exactly as one loaded afresh."""
    import semcat.search.faiss.sparse as sparse_module

    meta = StoreMeta(model="m", spaces={"text": 16}, sparse=("words",))
    rng = np.random.default_rng(3)

    def word_rows(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        rows = []
        for _ in range(n):
            idx = np.unique(rng.integers(0, 40, rng.integers(0, 6))).astype(np.int32)
            rows.append((idx, rng.random(len(idx)).astype(np.float32)))
        return rows

    store = FaissStore(tmp_path, meta)
    ids = [f"p{i}" for i in range(30)]
    store.upsert(ids, {"text": vecs(30), "words": word_rows(30)}, payloads(ids))
    queries = word_rows(4)
    store.search_sparse(queries, k=5, filter=None, space="words")  # loaded now, then kept in line
    old_min = sparse_module.TAIL_MIN
    sparse_module.TAIL_MIN = 4  # fold the tail into the main matrix a few times along the way
    try:
        for step in range(25):
            gone = [f"p{i}" for i in rng.choice(30, size=2, replace=False)]
            store.delete(gone[:1])
            new = [gone[1], f"n{step}"]  # one replaced, one new
            store.upsert(new, {"text": vecs(2, seed=step), "words": word_rows(2)}, payloads(new))
            ours = store.search_sparse(queries, k=5, filter=None, space="words")
            fresh = FaissStore(tmp_path, None)
            theirs = fresh.search_sparse(queries, k=5, filter=None, space="words")
            fresh.close()
            for a, b in zip(ours, theirs, strict=True):
                assert [round(h.score, 5) for h in a] == [round(h.score, 5) for h in b], step
                assert {h.id for h in a if h.score > min(x.score for x in a)} == {
                    h.id for h in b if h.score > min(x.score for x in b)
                }
    finally:
        sparse_module.TAIL_MIN = old_min
    store.close()


def test_filter_bitmaps_follow_any_sequence_of_writes() -> None:
    """A filter's bitmap, updated in place write after write (deletes, replacements,
    relabels, new ids past its end), lets through exactly the ids a set would."""
    import faiss

    from semcat.search.faiss.filters import Allowed

    rng = np.random.default_rng(0)
    truth = set(rng.choice(1000, 300, replace=False).tolist())
    allowed = Allowed(faiss, np.array(sorted(truth)))
    probe = np.arange(-3, 2100)
    for _ in range(100):
        off, on = rng.choice(1500, rng.integers(0, 20)).tolist(), rng.choice(2000, rng.integers(0, 20)).tolist()
        allowed.apply(off, on)
        truth = (truth - set(off)) | set(on)
        assert set(probe[allowed.contains(probe)].tolist()) == truth and allowed.count == len(truth)
        assert all(allowed.selector.is_member(int(i)) == (int(i) in truth) for i in rng.choice(2100, 50))
