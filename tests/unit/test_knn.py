"""The kNN vote: weighting, hierarchy, uncertainty, evidence."""

from __future__ import annotations

import numpy as np
import pytest

from semcat.catalog import Product
from semcat.categorize import KnnCategorizer, vote
from semcat.errors import EmptyIndexError
from semcat.search import Hit, StoreMeta
from semcat.search.faiss import FaissStore


def hit(pid: str, score: float, *path: str) -> Hit:
    return Hit(id=pid, score=score, payload=Product(id=pid, title=f"t-{pid}", category=tuple(path)).payload())


def test_similarity_weighted_vote() -> None:
    hits = [hit("1", 0.9, "Watches"), hit("2", 0.3, "Toys"), hit("3", 0.3, "Toys")]
    pred = vote(hits, power=1)
    assert pred.category == "Watches"  # 0.9 outweighs 0.3 + 0.3
    assert pred.score == pytest.approx(0.9 / 1.5)
    assert [c.category for c in pred.top] == ["Watches", "Toys"]
    assert sum(c.score for c in pred.top) == pytest.approx(1.0)
    assert vote(hits, power=0).category == "Toys"  # one product, one vote
    assert [n.id for n in pred.neighbors] == ["1", "2", "3"]
    assert pred.neighbors[0].title == "t-1"


def test_path_is_chosen_level_by_level() -> None:
    hits = [
        hit("1", 0.8, "Home", "Kitchen", "Knives"),
        hit("2", 0.8, "Home", "Kitchen", "Pans"),
        hit("3", 0.7, "Home", "Kitchen", "Pans"),
        hit("4", 0.9, "Garden", "Tools"),
        hit("5", 0.2, "Home", "Bath"),
    ]
    pred = vote(hits, top_n=2, power=1)
    assert pred.category == "Home > Kitchen > Pans"
    assert pred.path == ["Home", "Kitchen", "Pans"]
    assert [lv.category for lv in pred.levels] == ["Home", "Home > Kitchen", "Home > Kitchen > Pans"]
    total = 0.8 + 0.8 + 0.7 + 0.9 + 0.2
    assert [lv.score for lv in pred.levels] == pytest.approx([2.5 / total, 2.3 / total, 1.5 / total])
    assert len(pred.levels[0].top) == 2
    assert vote(hits, depth=2, power=1).category == "Home > Kitchen"


def test_default_weighting_favours_the_closest_neighbors() -> None:
    # three fairly close "B" neighbors outvote one very close "A" with plain cosine
    # weights, but not with the default sharper weight (cosine ** 8)
    hits = [hit("1", 0.80, "A"), hit("2", 0.62, "B"), hit("3", 0.62, "B"), hit("4", 0.62, "B")]
    assert vote(hits, power=1).category == "B"
    sharp = vote(hits)
    assert sharp.category == "A"
    assert sharp.score == pytest.approx(0.8**8 / (0.8**8 + 3 * 0.62**8))


def test_uncertain_below_threshold_and_unlabeled_do_not_vote() -> None:
    hits = [hit("1", 0.5, "A"), hit("2", 0.5, "B"), hit("3", 0.4, "C"), hit("u", 0.99)]
    pred = vote(hits, uncertain_threshold=0.5, power=1)
    assert pred.uncertain and pred.score < 0.5
    assert pred.category in {"A", "B"}
    assert "u" in [n.id for n in pred.neighbors]
    assert not vote([hit("1", 0.5, "A")], uncertain_threshold=0.5).uncertain
    empty = vote([hit("u", 0.9)])
    assert empty.category is None and empty.uncertain


def test_categorizer_against_a_store(tmp_path) -> None:
    store = FaissStore(tmp_path, StoreMeta(model="m", spaces={"text": 2}))
    with pytest.raises(EmptyIndexError, match="no labeled product"):
        KnnCategorizer(store).predict(np.array([[1.0, 0.0]], dtype=np.float32))
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    cats = [("East",), ("East",), ("North",), ("North",)]
    store.upsert(
        list("abcd"), v, [Product(id=i, title=i, category=c).payload() for i, c in zip("abcd", cats, strict=True)]
    )
    preds = KnnCategorizer(store, k=2).predict(np.array([[1, 0.05], [0.05, 1]], dtype=np.float32))
    assert [p.category for p in preds] == ["East", "North"]
    assert not preds[0].uncertain
    store.close()


def test_near_duplicates_decide_alone() -> None:
    hits = [hit("dup", 0.98, "Toys"), hit("2", 0.9, "Watches"), hit("3", 0.9, "Watches"), hit("4", 0.9, "Watches")]
    pred = vote(hits)
    assert (pred.category, pred.score, pred.near_duplicate) == ("Toys", 1.0, True)
    assert len(pred.neighbors) == 4  # every neighbor is still shown as evidence
    plain = vote(hits, duplicate_threshold=None)
    assert (plain.category, plain.near_duplicate) == ("Watches", False)
