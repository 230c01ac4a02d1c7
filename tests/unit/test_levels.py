"""The vote and the linear head decide every taxonomy level together (hash embedder:
words shared = similar)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import HashEmbedder

from semcat.catalog import Product
from semcat.categorize import KnnCategorizer, LinearHead
from semcat.categorize.levels import LevelwiseCategorizer
from semcat.config import Settings
from semcat.embedding.lexical import LexicalEncoder
from semcat.engine import Engine
from semcat.search import StoreMeta
from semcat.search.faiss import FaissStore

CATALOG = [
    ("1", "cast iron frying pan", ("Home", "Kitchen", "Pans")),
    ("2", "non stick frying pan", ("Home", "Kitchen", "Pans")),
    ("3", "stainless saucepan with lid", ("Home", "Kitchen", "Pots")),
    ("4", "garden hose reel", ("Home", "Garden")),  # Garden has no third level
    ("5", "garden hose nozzle", ("Home", "Garden")),
    ("6", "wooden train set", ("Toys", "Trains")),
    ("7", "electric train track", ("Toys", "Trains")),
]


class _Local:
    """A node's classifier that always prefers one child."""

    def __init__(self, children: list[tuple[str, ...]], favourite: tuple[str, ...]) -> None:
        self.children = children
        self.favourite = favourite

    def probabilities(self, features: Any) -> np.ndarray:
        row = [1.0 if c == self.favourite else 0.0 for c in self.children]
        return np.tile(np.asarray(row, dtype=np.float32), (features.shape[0], 1))


class _Head:
    """The parts of :class:`LinearHead` the categorizer reads, with fixed preferences."""

    def __init__(self, main: str, local: dict[tuple[str, ...], _Local]) -> None:
        self.paths = [("Home",), ("Toys",)]
        self.main = main
        self.local = local

    def features(self, queries: Any) -> Any:
        from scipy import sparse

        return sparse.csr_matrix(np.atleast_2d(queries["text"]))

    def below(self, parent: tuple[str, ...], features: Any) -> tuple[list[tuple[str, ...]], np.ndarray] | None:
        local = self.local.get(parent)
        return None if local is None else (local.children, local.probabilities(features))

    def probabilities(self, queries: Any, features: Any = None) -> np.ndarray:
        row = [1.0 if p[0] == self.main else 0.0 for p in self.paths]
        return np.tile(np.asarray(row, dtype=np.float32), (len(np.atleast_2d(queries["text"])), 1))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    embedder = HashEmbedder()
    products = [Product(id=i, title=t, category=c) for i, t, c in CATALOG]
    store = FaissStore(tmp_path, StoreMeta(model=embedder.name, spaces={"text": embedder.dim}), "flat")
    store.upsert(
        [p.id for p in products], embedder.encode_texts([p.text() for p in products]), [p.payload() for p in products]
    )
    yield store
    store.close()


def _query(text: str) -> dict[str, np.ndarray]:
    return {"text": HashEmbedder().encode_texts([text])}


def _kitchen_head(favourite: tuple[str, ...]) -> _Head:
    kitchen = [("Home", "Kitchen", "Pans"), ("Home", "Kitchen", "Pots")]
    return _Head(
        "Home",
        {
            ("Home",): _Local([("Home", "Garden"), ("Home", "Kitchen")], favourite[:2]),
            ("Home", "Kitchen"): _Local(kitchen, favourite),
        },
    )


def test_the_head_decides_a_sub_category_with_the_vote(store: Any) -> None:
    knn = KnnCategorizer(store, k=3, space_weights={"text": 1.0})
    query = _query("frying pan")
    assert knn.predict(query)[0].category == "Home > Kitchen > Pans"
    # a head sure of Pots outweighs a vote for Pans at its weight (0.7), not at 0.2
    (sure,) = LevelwiseCategorizer(knn, _kitchen_head(("Home", "Kitchen", "Pots")), knn_weight=0.3).predict(query)
    assert sure.category == "Home > Kitchen > Pots"
    assert [lv.category for lv in sure.levels] == ["Home", "Home > Kitchen", "Home > Kitchen > Pots"]
    assert [lv.level for lv in sure.levels] == [1, 2, 3]
    assert sure.levels[0].score >= sure.levels[1].score >= sure.levels[2].score > 0  # a path's probability
    assert {n.id for n in sure.neighbors} >= {"1", "2"}  # the neighbors that voted stay the evidence
    (weak,) = LevelwiseCategorizer(knn, _kitchen_head(("Home", "Kitchen", "Pots")), knn_weight=0.8).predict(query)
    assert weak.category == "Home > Kitchen > Pans"


def test_no_level_leaves_the_callers_subtree(store: Any) -> None:
    knn = KnnCategorizer(store, k=3, space_weights={"text": 1.0})
    head = _kitchen_head(("Home", "Kitchen", "Pots"))
    head.main = "Toys"  # the head would even move it to another main category
    categorizer = LevelwiseCategorizer(knn, head, knn_weight=0.3)
    (pred,) = categorizer.predict(_query("frying pan"), category="Home > Kitchen > Pans")
    assert pred.category == "Home > Kitchen > Pans"
    (within,) = categorizer.predict(_query("frying pan"), category="Home")
    assert within.category.startswith("Home > ")
    assert all(c.category.startswith("Home") for lv in within.levels for c in lv.top)


def test_a_category_that_ends_where_others_go_deeper_can_be_chosen(store: Any) -> None:
    knn = KnnCategorizer(store, k=3, space_weights={"text": 1.0})
    (pred,) = LevelwiseCategorizer(knn, _kitchen_head(("Home", "Garden")), knn_weight=0.3).predict(
        _query("garden hose")
    )
    assert pred.category == "Home > Garden" and len(pred.levels) == 2


def test_a_stored_copy_decides_and_the_depth_is_kept(store: Any) -> None:
    knn = KnnCategorizer(store, k=3, space_weights={"text": 1.0})
    head = _kitchen_head(("Home", "Kitchen", "Pots"))
    (copy,) = LevelwiseCategorizer(knn, head, knn_weight=0.0).predict(_query("cast iron frying pan"))
    assert copy.category == "Home > Kitchen > Pans" and copy.near_duplicate  # not the head's Pots
    shallow = KnnCategorizer(store, k=3, depth=2, space_weights={"text": 1.0})
    (cut,) = LevelwiseCategorizer(shallow, head, knn_weight=0.3).predict(_query("frying pan"))
    assert cut.category == "Home > Kitchen"


def test_a_child_the_head_does_not_know_is_decided_by_the_vote(store: Any) -> None:
    embedder = HashEmbedder()
    woks = [Product(id=f"w{i}", title=f"carbon steel wok {i}", category=("Home", "Kitchen", "Woks")) for i in range(3)]
    store.upsert([p.id for p in woks], embedder.encode_texts([p.text() for p in woks]), [p.payload() for p in woks])
    knn = KnnCategorizer(store, k=3, space_weights={"text": 1.0})
    (pred,) = LevelwiseCategorizer(knn, _kitchen_head(("Home", "Kitchen", "Pots")), knn_weight=0.5).predict(
        _query("steel wok")
    )
    # the head (trained before the woks) can only say Pans or Pots; the vote knows Woks
    assert pred.category in {"Home > Kitchen > Woks", "Home > Kitchen > Pots"}
    assert any(c.category == "Home > Kitchen > Woks" for c in pred.levels[-1].top)


def test_the_head_has_a_classifier_per_parent_with_several_children() -> None:
    embedder = HashEmbedder()
    texts = [t for _, t, _ in CATALOG]
    labels = [" > ".join(c) for _, _, c in CATALOG]
    head = LinearHead(embedder.encode_texts(texts), LexicalEncoder().encode(texts), labels)
    assert head.paths == [("Home",), ("Toys",)]
    assert set(head.local) == {("Home",), ("Home", "Kitchen")}  # Toys has one child: nothing to learn
    assert head.only_child[("Toys",)] == ("Toys", "Trains")
    assert head.levels == 3
    assert set(head.local[("Home",)].children) == {("Home", "Garden"), ("Home", "Kitchen")}
    rows = head.features(
        {"text": embedder.encode_texts(["saucepan lid"]), "lexical": LexicalEncoder().encode(["saucepan lid"])}
    )
    children, probs = head.below(("Home", "Kitchen"), rows)
    assert children[int(np.argmax(probs[0]))] == ("Home", "Kitchen", "Pots") and np.isclose(probs.sum(), 1.0)
    only, certain = head.below(("Toys",), rows)
    assert only == [("Toys", "Trains")] and certain.tolist() == [[1.0]]  # so a walk never stops at Toys
    main_only = LinearHead(embedder.encode_texts(texts), LexicalEncoder().encode(texts), labels, levels=1)
    assert main_only.local == {} and main_only.levels == 1
    assert head.weights_bytes() > main_only.weights_bytes()


def test_a_relabel_decides_the_sub_category_before_the_head_is_retrained(tmp_path: Path) -> None:
    """PUT a product under another sub-category: the next request for it (and its copies)
    answers the new label while the head, trained on the old one, retrains behind."""
    with Engine(Settings(data_dir=tmp_path / "e", head_weight=0.9, k=3), embedder=HashEmbedder()) as engine:
        engine.index([Product(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        first = engine.head()
        assert first is not None and first.levels == 3
        engine.upsert_products(
            [Product(id="3", title="stainless saucepan with lid", category=("Home", "Kitchen", "Pans"))]
        )
        assert engine.head() is first  # the old head still serves
        prediction = engine.categorize(["stainless saucepan with lid"])[0]
        assert prediction.category == "Home > Kitchen > Pans" and prediction.near_duplicate
        if engine._heads.training is not None:
            engine._heads.training.join(timeout=30)


def test_a_batch_decides_every_level_as_each_product_alone(tmp_path: Path) -> None:
    """Products of one call that stand on different parents are decided by each parent's
    classifier on their own feature rows: the batch answers what each alone answers."""
    with Engine(Settings(data_dir=tmp_path / "e", k=3), embedder=HashEmbedder()) as engine:
        engine.index([Product(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        assert engine.head(wait=True) is not None
        queries = [
            Product(id=f"q{n}", title=t)
            for n, t in enumerate(["saucepan lid", "garden hose", "toy train track", "frying pan", "hose reel pan"])
        ]
        batch = engine.categorize(queries)
        for query, together in zip(queries, batch, strict=True):
            (alone,) = engine.categorize([query])
            assert together.category == alone.category
            assert [(lv.category, round(lv.score, 6)) for lv in together.levels] == [
                (lv.category, round(lv.score, 6)) for lv in alone.levels
            ]
        assert len({p.category.split(" > ")[0] for p in batch}) == 2  # the batch spans both main categories


def test_the_head_trains_on_a_sample_that_keeps_the_rare_leaves() -> None:
    from semcat.categorize.head_data import training_sample

    labels = ["A > big"] * 900 + ["A > mid"] * 80 + ["B > rare"] * 5 + ["B > tiny"] * 1
    assert training_sample(labels, None) is None and training_sample(labels, 1000) is None  # under the cap: all
    rows = training_sample(labels, 200)
    assert rows is not None and len(rows) <= 200 and len(set(rows.tolist())) == len(rows)
    kept = [labels[i] for i in rows]
    assert kept.count("B > rare") == 5 and kept.count("B > tiny") == 1  # rare leaves keep every product
    assert kept.count("A > mid") == 80  # under the quota: whole too
    assert kept.count("A > big") == 200 - 80 - 6  # the commonest gets what is left
    assert (training_sample(labels, 200) == rows).all()  # the same sample every time: a saved head stays valid
    embedder = HashEmbedder()
    texts = [f"product {i} {label}" for i, label in enumerate(labels)]
    head = LinearHead(embedder.encode_texts(texts), LexicalEncoder().encode(texts), labels, max_products=200)
    assert head.products == len(rows) and ("B",) in head.paths


def test_past_the_cap_the_training_set_is_read_back_by_id_and_the_digest_still_covers_every_product(
    tmp_path: Path,
) -> None:
    from semcat.categorize.head_data import LabeledProducts, training_sample

    embedder = HashEmbedder()
    labels = ["A > big"] * 300 + ["B > rare"] * 4
    texts = [f"item {i} {label}" for i, label in enumerate(labels)]
    vectors = embedder.encode_texts(texts)
    store = FaissStore(tmp_path / "faiss", StoreMeta(model=embedder.name, spaces={"text": embedder.dim}))
    try:
        payloads = [
            {"id": str(i), "title": t, "category": lab} for i, (t, lab) in enumerate(zip(texts, labels, strict=True))
        ]
        store.upsert([str(i) for i in range(len(texts))], {"text": vectors}, payloads)
        store.upsert(["unlabeled"], {"text": vectors[:1]}, [{"id": "unlabeled", "title": "no category"}])
        capped = LabeledProducts(store, ("title",), max_products=50)
        assert len(capped) == 304 and capped._all is None  # past the cap nothing but ids and labels is held
        dense, got_texts, got_labels = capped.training_set()
        rows = training_sample(labels, 50)
        assert rows is not None and got_labels == [labels[i] for i in rows] and got_labels.count("B > rare") == 4
        assert got_texts == [texts[i] for i in rows] and np.allclose(dense, vectors[rows])
        whole = LabeledProducts(store, ("title",), max_products=None)
        assert whole.training_set()[2] == labels
        assert capped.fingerprint("m", max_products=50) == whole.fingerprint("m", max_products=50)  # same products
        assert capped.fingerprint("m", max_products=50) != capped.fingerprint("m", max_products=40)
        store.update_payloads(["7"], [{"id": "7", "title": texts[7], "category": "B > rare"}])
        relabeled = LabeledProducts(store, ("title",), max_products=50)
        assert relabeled.fingerprint("m", max_products=50) != capped.fingerprint("m", max_products=50)
    finally:
        store.close()
