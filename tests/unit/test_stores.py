"""One behaviour suite for every VectorStore backend (FAISS flat and HNSW, Qdrant
in memory and on disk)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcat.catalog import Product
from semcat.errors import InvalidInputError, NotFoundError, StoreError
from semcat.search import SearchFilter, StoreMeta
from semcat.search.base import CURSOR_PATTERN

META = StoreMeta(model="test-model", spaces={"text": 8})
rng = np.random.default_rng(0)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def product(pid: str, category: tuple[str, ...] = ("A",), title: str | None = None) -> dict[str, Any]:
    return Product(id=pid, title=title or f"product {pid}", category=category).payload()


@pytest.fixture
def filled(store_factory: Any) -> tuple[Any, np.ndarray]:
    store = store_factory(META)
    vectors = unit(rng.normal(size=(30, 8)))
    cats = [("A", "A1"), ("A", "A2"), ("B",)]
    store.upsert([f"p{i}" for i in range(30)], vectors, [product(f"p{i}", cats[i % 3]) for i in range(30)])
    return store, vectors


def test_search_finds_the_product_itself(filled: tuple[Any, np.ndarray]) -> None:
    store, vectors = filled
    for i in (0, 7, 29):
        hits = store.search(vectors[i], k=3)
        assert hits[0].id == f"p{i}"
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].payload["title"] == f"product p{i}"
        assert hits[0].score >= hits[1].score >= hits[2].score
    batch = store.search_batch(vectors[:4], k=1)
    assert [h[0].id for h in batch] == ["p0", "p1", "p2", "p3"]


def test_upsert_replaces_by_id(filled: tuple[Any, np.ndarray]) -> None:
    store, vectors = filled
    new_vec = unit(-vectors[5])
    store.upsert(["p5"], new_vec[None, :], [product("p5", ("C",), title="renamed")])
    assert store.count() == 30
    hits = store.search(new_vec, k=30)
    assert [h.id for h in hits].count("p5") == 1
    assert hits[0].id == "p5" and hits[0].payload["category"] == "C"
    assert store.get(["p5"])[0].payload["title"] == "renamed"


def test_delete_and_unknown_ids(filled: tuple[Any, np.ndarray]) -> None:
    store, vectors = filled
    assert store.delete(["p1", "p2", "nope"]) == 2
    assert store.count() == 28
    assert "p1" not in {h.id for h in store.search(vectors[1], k=30)}
    assert store.get(["p1", "p3", "zz"])[0].id == "p3"
    with pytest.raises(NotFoundError, match="nope"):
        store.update_payloads(["nope"], [product("nope")])


def test_category_filter_matches_any_level(filled: tuple[Any, np.ndarray]) -> None:
    store, vectors = filled
    hits = store.search(vectors[0], k=30, filter=SearchFilter(category="A"))
    assert len(hits) == 20 and all(h.payload["category_levels"][0] == "A" for h in hits)
    hits = store.search(vectors[0], k=30, filter=SearchFilter(category="A > A2"))
    assert {h.payload["category"] for h in hits} == {"A > A2"} and len(hits) == 10
    assert store.search(vectors[0], k=5, filter=SearchFilter(category="Z")) == []
    assert store.count(SearchFilter(category="B")) == 10


def test_labeled_filter_skips_unlabeled(store_factory: Any) -> None:
    store = store_factory(META)
    vecs = unit(rng.normal(size=(4, 8)))
    store.upsert(["u", "l"], vecs[:2], [product("u", ()), product("l", ("A",))])
    hits = store.search(vecs[0], k=5, filter=SearchFilter(labeled=True))
    assert [h.id for h in hits] == ["l"]
    assert store.count(SearchFilter(labeled=True)) == 1


def test_filtered_searches_follow_each_write(store_factory: Any) -> None:
    """A filter's products are kept in memory between searches (FAISS): every kind of
    write must reach them on the next search, never a stale set."""
    store = store_factory(META)
    vecs = unit(rng.normal(size=(8, 8)))
    store.upsert(
        ["a1", "a2", "b1"], vecs[:3], [product("a1", ("A", "A1")), product("a2", ("A", "A2")), product("b1", ("B",))]
    )

    def under(category: str | None, labeled: bool = True) -> set[str]:
        return {h.id for h in store.search(vecs[0], k=10, filter=SearchFilter(category=category, labeled=labeled))}

    assert under("A") == {"a1", "a2"} and under("A > A1") == {"a1"} and under(None) == {"a1", "a2", "b1"}
    store.upsert(["a3"], vecs[3:4], [product("a3", ("A", "A1"))])  # a new product joins its filters
    assert under("A") == {"a1", "a2", "a3"} and under("A > A1") == {"a1", "a3"}
    store.upsert(["a1"], vecs[0:1], [product("a1", ("B",))])  # a replacement moves it out of A
    assert under("A") == {"a2", "a3"} and under("B") == {"a1", "b1"} and under("A > A1") == {"a3"}
    store.update_payloads(["a2"], [product("a2", ("B", "B2"))])  # a relabel keeps the vectors
    assert under("A") == {"a3"} and under("B") == {"a1", "a2", "b1"}
    store.delete(["a3"])
    assert under("A") == set() and under("A > A1") == set()
    store.upsert(["u"], vecs[4:5], [product("u", ())])  # unlabeled: outside the labeled filter
    assert under(None) == {"a1", "a2", "b1"} and "u" in under(None, labeled=False)
    store.update_payloads(["u"], [product("u", ("A",))])
    assert under(None) == {"a1", "a2", "b1", "u"} and under("A") == {"u"}


def test_exists_answers_what_count_would(store_factory: Any) -> None:
    store = store_factory(META)
    assert not store.exists() and not store.exists(SearchFilter(labeled=True))
    vecs = unit(rng.normal(size=(4, 8)))
    store.upsert(["u"], vecs[:1], [product("u", ())])
    assert store.exists() and not store.exists(SearchFilter(labeled=True))  # an unlabeled product only
    store.upsert(["l"], vecs[1:2], [product("l", ("A", "A1"))])
    assert store.exists(SearchFilter(labeled=True))
    assert store.exists(SearchFilter(category="A")) and store.exists(SearchFilter(category="A > A1"))
    assert not store.exists(SearchFilter(category="B"))
    store.delete(["l"])
    assert not store.exists(SearchFilter(labeled=True)) and not store.exists(SearchFilter(category="A"))


def test_update_payloads_keeps_vectors(filled: tuple[Any, np.ndarray]) -> None:
    store, vectors = filled
    store.update_payloads(["p0"], [product("p0", ("B", "B9"))])
    hit = store.search(vectors[0], k=1)[0]
    assert hit.id == "p0" and hit.payload["category"] == "B > B9"
    assert store.count(SearchFilter(category="B > B9")) == 1
    assert store.category_counts(level=1) == {"A": 19, "B": 11}


def test_get_with_vectors_and_iter_vectors(filled: tuple[Any, np.ndarray]) -> None:
    store, vectors = filled
    record = store.get(["p3"], with_vectors=True)[0]
    np.testing.assert_allclose(record.vectors["text"], vectors[3], atol=1e-5)
    seen: dict[str, np.ndarray] = {}
    for ids, vecs, payloads in store.iter_vectors(batch_size=7):
        assert len(ids) == len(vecs) == len(payloads)
        seen.update(zip(ids, vecs, strict=True))
    assert len(seen) == 30
    np.testing.assert_allclose(seen["p11"], vectors[11], atol=1e-5)


def test_category_counts(filled: tuple[Any, np.ndarray]) -> None:
    store, _ = filled
    assert store.category_counts() == {"A > A1": 10, "A > A2": 10, "B": 10}
    assert store.category_counts(level=1) == {"A": 20, "B": 10}


def _pages(store: Any, flt: SearchFilter | None, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = store.browse(flt, limit, cursor)
        pages.append([r.id for r in page.records])
        if page.next is None:
            return pages
        cursor = page.next


def test_browse_lists_a_category_page_by_page_once_each(filled: tuple[Any, np.ndarray]) -> None:
    store, _ = filled
    store.upsert(["u"], unit(rng.normal(size=(1, 8))), [Product(id="u", title="unlabeled").payload()])
    pages = _pages(store, SearchFilter(category="A > A2"), 3)
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    listed = [pid for page in pages for pid in page]
    assert sorted(listed) == sorted(f"p{i}" for i in range(1, 30, 3))
    assert sum(map(len, _pages(store, SearchFilter(category="A"), 7))) == 20
    assert sum(map(len, _pages(store, SearchFilter(labeled=True), 8))) == 30
    everything = [pid for page in _pages(store, None, 50) for pid in page]
    assert len(everything) == 31 and "u" in everything
    first = store.browse(SearchFilter(category="B"), 4)
    assert first.records[0].payload["category"] == "B" and first.records[0].vectors == {}
    store.delete([first.records[0].id, first.records[1].id])
    rest = [pid for page in _pages(store, SearchFilter(category="B"), 4) for pid in page]
    assert len(rest) == 8 and first.records[0].id not in rest
    assert store.browse(SearchFilter(category="Z"), 5).records == []


def test_browse_refuses_a_cursor_it_never_gave(filled: tuple[Any, np.ndarray]) -> None:
    store, _ = filled
    for cursor in ("not-a-cursor", "\u00b2", "12a", "1" * 40):  # "²" passed str.isdigit, then failed int()
        with pytest.raises(InvalidInputError, match="cursor"):
            store.browse(None, 5, cursor)
    with pytest.raises(InvalidInputError, match="limit"):
        store.browse(None, 0)


def test_cursors_are_digits_on_every_backend(filled: tuple[Any, np.ndarray]) -> None:
    """One form, so the OpenAPI can describe it: a page's ``next`` is decimal digits, and any
    cursor of that form is read (past the last product: an empty page), never refused."""
    store, _ = filled
    page = store.browse(None, 4)
    assert page.next is not None and re.fullmatch(CURSOR_PATTERN, page.next)
    assert len(store.browse(None, 4, page.next).records) == 4
    assert store.browse(None, 4, "9" * 39).records == []


def test_bad_vectors_are_refused_and_nothing_is_lost(filled: tuple[Any, np.ndarray]) -> None:
    store, _ = filled
    with pytest.raises(StoreError, match="expects an array of shape"):
        store.upsert(["x"], np.ones((1, 5), dtype=np.float32), [product("x")])
    with pytest.raises(Exception, match="NaN"):
        store.upsert(["x"], np.full((1, 8), np.nan, dtype=np.float32), [product("x")])
    with pytest.raises(StoreError, match="dimension"):
        store.search(np.ones(5, dtype=np.float32), k=1)
    assert store.count() == 30


def test_reopen_keeps_everything_and_checks_the_model(store_factory: Any) -> None:
    if store_factory.kind == "qdrant-memory":
        pytest.skip("an in-memory Qdrant does not outlive its client")
    store = store_factory(META)
    vectors = unit(rng.normal(size=(5, 8)))
    store.upsert([f"q{i}" for i in range(5)], vectors, [product(f"q{i}") for i in range(5)])
    store.delete(["q4"])
    store.close()
    again = store_factory(None)
    assert again.meta == META
    assert again.count() == 4
    assert again.search(vectors[2], k=1)[0].id == "q2"
    again.close()
    with pytest.raises(StoreError, match="holds vectors of model 'test-model'"):
        store_factory(StoreMeta(model="other-model", spaces={"text": 8}))


def test_products_without_an_image_have_no_image_vector(store_factory: Any) -> None:
    """A product whose photo is missing is stored text-only: found by text searches,
    never returned by image searches, and re-adding a photo later makes it findable."""
    meta = StoreMeta(model="test-clip", spaces={"text": 8, "image": 8})
    store = store_factory(meta)
    text = unit(rng.normal(size=(6, 8)))
    image = unit(rng.normal(size=(6, 8)))
    image[[1, 4]] = 0.0  # p1 and p4 have no usable photo
    store.upsert([f"p{i}" for i in range(6)], {"text": text, "image": image}, [product(f"p{i}") for i in range(6)])
    assert store.count() == 6
    assert {h.id for h in store.search(text[1], k=6, space="text")} == {f"p{i}" for i in range(6)}
    image_hits = store.search(image[0], k=6, space="image")
    assert {h.id for h in image_hits} == {"p0", "p2", "p3", "p5"}
    assert set(store.get(["p1"], with_vectors=True)[0].vectors) == {"text"}
    spaces = store.describe()["spaces"]
    assert spaces["text"]["vectors"] == 6 and spaces["image"]["vectors"] == 4
    assert [ids for ids, _, _ in store.iter_vectors("image")] and sum(
        len(ids) for ids, _, _ in store.iter_vectors("image")
    ) == 4
    # the photo arrives: p1 gets its image vector; p0 loses its photo
    new_image = unit(rng.normal(size=(2, 8)))
    new_image[1] = 0.0
    store.upsert(["p1", "p0"], {"text": text[[1, 0]], "image": new_image}, [product("p1"), product("p0")])
    hits = store.search(new_image[0], k=6, space="image")
    assert hits[0].id == "p1" and "p0" not in {h.id for h in hits}
    assert len(hits) == 4
    store.delete(["p2"])
    assert {h.id for h in store.search(image[3], k=6, space="image")} == {"p1", "p3", "p5"}


def test_sparse_lexical_space(store_factory: Any) -> None:
    """Stored word vectors, searched with BM25 IDF on the query side: the same scores on
    every backend, filters apply, replaced and deleted products follow."""
    from semcat.embedding.lexical import LexicalEncoder
    from semcat.search.idf import bm25_idf

    meta = StoreMeta(model="test-model", spaces={"text": 8}, sparse=("lexical",))
    store = store_factory(meta)
    texts = {
        "a": "steel pressure cooker 5 litre",
        "b": "steel water bottle",
        "c": "steel lunch box",
        "d": "cotton bath towel",
        "e": "",  # no words: no lexical vector
    }
    encoder = LexicalEncoder()
    ids = list(texts)
    empty = (np.zeros(0, np.int32), np.zeros(0, np.float32))
    lexical = [encoder.encode([t])[0] if t else empty for t in texts.values()]
    cats = [("Kitchen",), ("Kitchen",), ("Kitchen",), ("Bath",), ("Bath",)]
    dense = unit(rng.normal(size=(5, 8)))
    store.upsert(ids, {"text": dense, "lexical": lexical}, [product(i, c) for i, c in zip(ids, cats, strict=True)])
    query = encoder.encode(["pressure cooker steel"])[0]
    hits = store.search_sparse([query], 5, None, "lexical")[0]
    assert hits[0].id == "a" and {h.id for h in hits} == {"a", "b", "c"}  # no shared word: absent
    # the score is sum(idf * q * d) with idf over the 4 products that have words
    q = dict(zip(query[0].tolist(), query[1].tolist(), strict=True))
    d = dict(zip(lexical[0][0].tolist(), lexical[0][1].tolist(), strict=True))
    df = {t: sum(t in set(row[0].tolist()) for row in lexical) for t in q}
    expected = sum(bm25_idf(np.array([df[t]]), 4)[0] * q[t] * d.get(t, 0.0) for t in q)
    assert hits[0].score == pytest.approx(expected, rel=1e-4)
    # "steel" is in three products, "cooker" in one: the rare word weighs more
    assert hits[1].score < hits[0].score / 2
    assert [h.id for h in store.search_sparse([query], 5, SearchFilter(category="Bath"), "lexical")[0]] == []
    store.upsert(["a"], {"text": dense[:1], "lexical": [encoder.encode(["bath towel"])[0]]}, [product("a", ("Bath",))])
    assert "a" not in {h.id for h in store.search_sparse([query], 5, None, "lexical")[0]}
    store.delete(["b"])
    assert [h.id for h in store.search_sparse([query], 5, None, "lexical")[0]] == ["c"]
    with pytest.raises(StoreError, match="unknown sparse space"):
        store.search_sparse([query], 5, None, "nope")


def test_faiss_reads_and_deletes_one_product_without_scanning_every_vector(tmp_path: Path) -> None:
    """A product's vectors are found by its internal id (an index), for `get` with vectors
    and for the cascade that deletes them when the product is replaced or removed: at 1M
    products a scan took seconds per product, holding the store."""
    from semcat.search.faiss import FaissStore

    store = FaissStore(tmp_path / "faiss", StoreMeta(model="m", spaces={"text": 4}, sparse=("lexical",)))
    try:
        db = store.docs.db
        for sql in (
            "SELECT iid, space, vec FROM vectors WHERE iid IN (1, 2)",
            "SELECT 1 FROM vectors WHERE iid = 1",  # what the delete cascade looks up
            "SELECT 1 FROM sparse WHERE iid = 1",
        ):
            plan = " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "USING" in plan and not plan.startswith("SCAN"), (sql, plan)
    finally:
        store.close()
