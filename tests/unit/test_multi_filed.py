"""A catalog that files one product under several categories: where the store's own
products show a stored copy's label wrong for a new listing of the same product, the
near-duplicates are set aside (semcat.categorize.calibration.duplicates_rule)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import HashEmbedder
from tests.unit.test_confidence import WORDS, catalog

from semcat.catalog import PATH_JOIN, Product
from semcat.categorize.calibration import Calibration, duplicates_rule, fit
from semcat.categorize.prediction import LevelScore, Neighbor, Prediction
from semcat.config import Settings
from semcat.engine import Engine
from semcat.options import QueryOptions

SIBLING = {}  # each sub-category and the other one under its main category
for (main, sub), _ in WORDS.items():
    SIBLING[(main, sub)] = next((main, s) for (m, s) in WORDS if m == main and s != sub)
# a cookware product whose cookware filing is the new listing: only its other filing is stored
ORPHAN = "stainless steel pressure cooker kadhai lid induction base"


def filed_twice() -> list[Product]:
    """The confidence tests' catalog with half of each sub-category's products also filed,
    same title, under the other sub-category of its main category; and the orphan's filing."""
    products = catalog()
    copies = []
    for p in products:
        path = tuple(p.category)
        if path in SIBLING and int(p.id.rsplit("-", 1)[1]) % 2 == 0:
            copies.append(Product.build(id=p.id + "#2", title=p.title, category=" > ".join(SIBLING[path])))
    orphan = Product.build(id="orphan#2", title=ORPHAN, category="Kitchen > Dinnerware")
    return [*products, *copies, orphan]


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = Engine(Settings(data_dir=tmp_path_factory.mktemp("multi")), embedder=HashEmbedder())
    engine.index(filed_twice(), progress=False)
    engine.head(wait=True)
    return engine


def test_a_store_that_files_products_twice_sets_their_copies_aside(multi: Engine) -> None:
    """Before, a new listing of a product stored under another category took that
    category, however often the store's own products showed it wrong."""
    rule = multi.stats(categories=False).confidence["near_duplicates"]
    assert rule["set_aside"] and rule["decided"] > 0 and rule["right_aside"] > rule["right_following"]
    assert "set aside" in rule["summary"]
    (listing,) = multi.categorize([Product(id="new", title=ORPHAN)])
    assert listing.category == PATH_JOIN.join(("Kitchen", "Cookware"))  # its kind, not its stored copy's label
    assert not listing.near_duplicate
    assert any(n.category == PATH_JOIN.join(("Kitchen", "Dinnerware")) and n.score >= 0.95 for n in listing.neighbors)


def test_a_plain_store_keeps_the_copy_deciding(tmp_path: Path) -> None:
    engine = Engine(Settings(data_dir=tmp_path), embedder=HashEmbedder())
    orphan = Product.build(id="orphan", title=ORPHAN, category="Kitchen > Dinnerware")
    engine.index([*catalog(), orphan], progress=False)
    engine.head(wait=True)
    assert not engine.stats(categories=False).confidence["near_duplicates"]["set_aside"]
    (listing,) = engine.categorize([Product(id="new", title=ORPHAN)])
    assert listing.category == PATH_JOIN.join(("Kitchen", "Dinnerware")) and listing.near_duplicate


def _copy_decided(copy_label: str, other_label: str) -> Prediction:
    """A one-level prediction the near-duplicate (labeled ``copy_label``) decided, with ten
    other neighbors under ``other_label``."""
    neighbors = [Neighbor(id="copy", score=1.0, category=copy_label, title="")]
    neighbors += [Neighbor(id=f"n{i}", score=0.8, category=other_label, title="") for i in range(10)]
    level = LevelScore(level=1, category=copy_label, score=1.0)
    return Prediction(
        category=copy_label,
        score=1.0,
        uncertain=False,
        levels=[level],
        top=[],
        neighbors=neighbors,
        near_duplicate=True,
    )


@pytest.mark.parametrize(("aside_wins", "following_wins", "chosen"), [(30, 0, True), (30, 25, False), (3, 0, False)])
def test_copies_are_set_aside_only_on_evidence_beyond_noise(aside_wins: int, following_wins: int, chosen: bool) -> None:
    predictions = [_copy_decided("Gifts", "Clocks") for _ in range(aside_wins + following_wins)]
    truths = [("Clocks",)] * aside_wins + [("Gifts",)] * following_wins
    served, rule = duplicates_rule(predictions, truths, 1, QueryOptions())
    assert rule.set_aside == chosen and rule.decided == aside_wins + following_wins
    assert (rule.right_following, rule.right_aside) == (following_wins, aside_wins)
    assert [p.category for p in served] == (["Clocks"] * len(predictions) if chosen else ["Gifts"] * len(predictions))


def test_a_calibration_saved_before_the_rule_loads_with_the_copies_deciding() -> None:
    """A head saved by an earlier release has no rule: after an upgrade its store answers
    as before (the copies decide) until the head is retrained."""
    import pickle

    calibration = fit([_copy_decided("Gifts", "Clocks") for _ in range(30)], [("Clocks",)] * 30, 1, QueryOptions(), 30)
    assert calibration.near_duplicates.set_aside
    state = calibration.__getstate__()
    del state["near_duplicates"]
    old = Calibration.__new__(Calibration)
    old.__setstate__(state)
    assert not pickle.loads(pickle.dumps(old)).near_duplicates.set_aside


def test_evaluate_says_where_copies_were_set_aside(tmp_path: Path) -> None:
    """`semcat evaluate` on a catalog that files products twice says in how many training
    parts the copies were set aside; on a plain catalog it says nothing of it."""
    from tests.unit.test_confidence import _evaluate

    (result,) = _evaluate(filed_twice(), tmp_path / "twice")
    aside, parts = result["confidence"]["near_duplicates_set_aside"]["knn@10"]
    assert parts == 3 and aside >= 2
    assert f"near-duplicates set aside in {aside} of 3 training parts" in (tmp_path / "twice" / "report.md").read_text()
    (plain,) = _evaluate(catalog(16), tmp_path / "plain")
    assert plain["confidence"]["near_duplicates_set_aside"]["knn@10"] == [0, 3]
    assert "near-duplicates set aside" not in (tmp_path / "plain" / "report.md").read_text()
