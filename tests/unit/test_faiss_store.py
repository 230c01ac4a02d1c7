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


def word_rows(rng: np.random.Generator, n: int, vocab: int = 30, most: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` random sparse rows (some empty) over ``vocab`` terms."""
    rows = []
    for _ in range(n):
        idx = np.unique(rng.integers(0, vocab, rng.integers(0, most))).astype(np.int32)
        rows.append((idx, rng.random(len(idx)).astype(np.float32)))
    return rows


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


def test_another_process_reads_the_products_without_the_indexes(tmp_path: Path) -> None:
    """What the head's retrain child opens (:meth:`FaissStore.reader_spec`): the products
    and vectors the store holds, writes committed since included, no index loaded, nothing
    created where there is no store."""
    import pytest

    from semcat.errors import StoreMissingError
    from semcat.search.factory import open_reader

    v = vecs(4, seed=5)
    store = FaissStore(tmp_path / "s", META)
    store.upsert(["a", "b", "c"], v[:3], payloads(["a", "b", "c"]))
    reader = open_reader(store.reader_spec())
    try:
        assert reader.meta.same_as(store.meta)
        assert not list((tmp_path / "s").glob("*.faiss*"))  # the store saved no index, the reader loaded none
        store.upsert(["d"], v[3:], payloads(["d"]))
        store.delete(["a"])
        batches = list(reader.iter_vectors())
        rows = {pid: (vec, p) for ids, vecs_, ps in batches for pid, vec, p in zip(ids, vecs_, ps, strict=True)}
        assert sorted(rows) == ["b", "c", "d"] and all(p["id"] == pid for pid, (_, p) in rows.items())
        np.testing.assert_allclose(rows["d"][0], v[3])
        assert [r.id for r in reader.get(["d", "a", "b"], with_vectors=True)] == ["d", "b"]
    finally:
        reader.close()
        store.close()
    with pytest.raises(StoreMissingError):
        open_reader({"backend": "faiss", "directory": str(tmp_path / "none")})
    assert not (tmp_path / "none").exists()


def test_word_search_after_writes_matches_a_fresh_load(tmp_path: Path) -> None:
    """The sparse index follows this process's writes in place (no reload per write): after
    any mix of upserts, replacements and deletes it scores exactly as one loaded afresh."""
    import semcat.search.faiss.sparse as sparse_module

    meta = StoreMeta(model="m", spaces={"text": 16}, sparse=("words",))
    rng = np.random.default_rng(3)

    store = FaissStore(tmp_path, meta)
    ids = [f"p{i}" for i in range(30)]
    store.upsert(ids, {"text": vecs(30), "words": word_rows(rng, 30, 40, 6)}, payloads(ids))
    queries = word_rows(rng, 4, 40, 6)
    store.search_sparse(queries, k=5, filter=None, space="words")  # loaded now, then kept in line
    old_min = sparse_module.TAIL_MIN
    sparse_module.TAIL_MIN = 4  # fold the tail into the main matrix a few times along the way
    try:
        for step in range(25):
            gone = [f"p{i}" for i in rng.choice(30, size=2, replace=False)]
            store.delete(gone[:1])
            new = [gone[1], f"n{step}"]  # one replaced, one new
            store.upsert(new, {"text": vecs(2, seed=step), "words": word_rows(rng, 2, 40, 6)}, payloads(new))
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


def _same_answers(ours: FaissStore, fresh: FaissStore, queries: np.ndarray, words: list, step: int) -> None:
    assert ours.count() == fresh.count(), step
    for category in (None, "A", "B", "A > x"):
        flt = SearchFilter(category=category) if category else None
        for q in queries:
            assert [h.id for h in ours.search(q, k=6, filter=flt)] == [h.id for h in fresh.search(q, k=6, filter=flt)]
        a = ours.search_sparse(words, k=4, filter=flt, space="words")
        b = fresh.search_sparse(words, k=4, filter=flt, space="words")
        assert [[round(h.score, 5) for h in r] for r in a] == [[round(h.score, 5) for h in r] for r in b], step


def test_follows_another_process_writes_without_rebuilding(tmp_path: Path, monkeypatch) -> None:
    """Two API workers over one store: each replays the other's writes from the change log
    (new, replaced, deleted and relabeled products; dense, word and filtered searches) and
    answers exactly as a store loaded afresh, without rebuilding its indexes."""
    from semcat.search.faiss.vectors import VectorIndexes

    meta = StoreMeta(model="m", spaces={"text": 16}, sparse=("words",))
    rng = np.random.default_rng(5)

    def labeled(ids: list[str]) -> list[dict]:
        return [Product(id=i, title=i, category=(str(rng.choice(["A", "B"])), "x")).payload() for i in ids]

    a = FaissStore(tmp_path, meta)
    ids = [f"p{i}" for i in range(40)]
    a.upsert(ids, {"text": vecs(40), "words": word_rows(rng, 40)}, labeled(ids))
    b = FaissStore(tmp_path, None)
    queries, words = vecs(3, seed=99), word_rows(rng, 3)
    _same_answers(b, a, queries, words, -1)  # b's filters and word index are loaded now
    rebuilds = []
    original = VectorIndexes.rebuild
    monkeypatch.setattr(VectorIndexes, "rebuild", lambda self, *x: rebuilds.append(self) or original(self, *x))
    for step in range(30):
        writer, follower = (a, b) if step % 3 else (b, a)
        gone = [f"p{i}" for i in rng.choice(40, size=3, replace=False)]
        writer.delete(gone[:1])
        new = [gone[1], f"n{step}"]  # one replaced, one new
        writer.upsert(new, {"text": vecs(2, seed=step), "words": word_rows(rng, 2)}, labeled(new))
        if writer.count(SearchFilter(category=None)) and step % 2:
            kept = [r.id for r in writer.get([gone[2]])]
            writer.update_payloads(kept, labeled(kept))  # relabeled (or nothing when it was deleted)
        fresh = FaissStore(tmp_path, None)
        _same_answers(follower, fresh, queries, words, step)
        _same_answers(writer, fresh, queries, words, step)
        fresh.close()
    assert a._vectors not in rebuilds and b._vectors not in rebuilds  # followed, never rebuilt (fresh ones do)
    a.close()
    b.close()


def test_a_store_further_behind_than_the_change_log_rebuilds(tmp_path: Path, monkeypatch) -> None:
    import semcat.search.faiss.documents as documents

    monkeypatch.setattr(documents, "CHANGE_LOG_GENERATIONS", 4)
    a = FaissStore(tmp_path, META)
    b = FaissStore(tmp_path, None)
    v = vecs(200, seed=1)
    for n in range(0, 200, 2):  # 100 writes: the log keeps only the last few
        a.upsert([f"p{n}", f"p{n + 1}"], v[n : n + 2], payloads([f"p{n}", f"p{n + 1}"]))
    a.delete(["p7"])
    assert [h.id for h in b.search(v[150], k=1)] == ["p150"]
    assert b.count() == 199 and "p7" not in {h.id for h in b.search(v[7], k=3)}
    assert a.docs.changes_since(0, 1) is None  # pruned: b rebuilt
    a.close()
    b.close()


def test_concurrent_writers_in_two_processes_and_readers_agree(tmp_path: Path) -> None:
    """Writes commit without the store's lock while requests read: threads writing through
    two stores over one database (two API workers) and threads searching both, at once,
    leave both answering exactly as a store loaded afresh (no write lost or taken twice)."""
    import threading

    meta = StoreMeta(model="m", spaces={"text": 16}, sparse=("words",))

    a = FaissStore(tmp_path, meta)
    b = FaissStore(tmp_path, None)
    queries, words = vecs(3, seed=7), word_rows(np.random.default_rng(8), 3)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(store: FaissStore, w: int) -> None:
        rng = np.random.default_rng(w)
        try:
            for n in range(25):
                ids = [f"w{w}-{n}", f"w{w}-{rng.integers(0, n)}" if n else "first"]  # one new, one replaced
                cats = [str(rng.choice(["A", "B"])) for _ in ids]
                store.upsert(
                    ids,
                    {"text": vecs(2, seed=w * 100 + n), "words": word_rows(rng, 2)},
                    [Product(id=i, title=i, category=(c, "x")).payload() for i, c in zip(ids, cats, strict=True)],
                )
                if n % 5 == 4:
                    store.delete([f"w{w}-{rng.integers(0, n)}"])
        except BaseException as exc:
            errors.append(exc)

    def reader(store: FaissStore) -> None:
        try:
            while not done.is_set():
                store.search(queries[0], k=5, filter=SearchFilter(category="A"))
                store.search_sparse(words, k=4, filter=SearchFilter(category="B"), space="words")
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(s, w)) for w, s in enumerate([a, a, b, b])]
    readers = [threading.Thread(target=reader, args=(s,)) for s in (a, b, a, b)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert not errors, errors
    fresh = FaissStore(tmp_path, None)
    _same_answers(a, fresh, queries, words, 0)
    _same_answers(b, fresh, queries, words, 0)
    assert a.describe()["spaces"] == b.describe()["spaces"] == fresh.describe()["spaces"]
    for store in (a, b, fresh):
        store.close()
