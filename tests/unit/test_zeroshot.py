"""Zero-shot and hybrid categorization (hash embedder: words shared = similar)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import HashEmbedder

from semcat.catalog import Product
from semcat.categorize import ZeroShotCategorizer
from semcat.categorize.zeroshot import prompt_categories
from semcat.config import Settings
from semcat.engine import Engine
from semcat.errors import EmptyIndexError

WATCHES = [("w1", "steel analog watch"), ("w2", "leather strap watch"), ("w3", "digital sports watch")]


def test_zero_shot_needs_no_labels() -> None:
    embedder = HashEmbedder()
    zs = ZeroShotCategorizer(embedder, [("Watches",), ("Toys",), ("Home", "Lamps")])
    probs = zs.probabilities(embedder.encode_texts(["watches for men", "lamps for the home"]))
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0)
    first, second = zs.predict(embedder.encode_texts(["watches for men", "lamps for the home"]))
    assert first.category == "Watches" and first.method == "zero-shot" and first.neighbors == []
    assert second.category == "Home > Lamps" and [lv.level for lv in second.levels] == [1, 2]
    with pytest.raises(EmptyIndexError):
        ZeroShotCategorizer(embedder, [])


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    taxonomy = tmp_path / "taxonomy.txt"
    taxonomy.write_text("# main categories\nWatches\nToys > Trains\n")
    eng = Engine(Settings(data_dir=tmp_path, taxonomy_file=taxonomy), embedder=HashEmbedder())
    eng.index([Product(id=i, title=t, category=("Watches",)) for i, t in WATCHES], progress=False)
    return eng


def test_hybrid_cold_start_category_can_win(engine: Engine) -> None:
    # the taxonomy file cut at level 1
    assert prompt_categories(engine.settings.taxonomy_file, 1) == [("Toys",), ("Watches",)]
    toys = Product(id="q1", title="toys toys wooden toys")
    watch = Product(id="q2", title="steel analog watch watches")  # vote and prior agree
    odd = Product(id="q3", title="steel analog watch for men")  # lexically, the prior prefers Toys here
    knn = engine.categorize([toys, watch])
    hybrid = engine.categorize([toys, watch, odd], method="hybrid")
    assert knn[0].main_category == "Watches"  # the vote only knows labeled categories
    assert hybrid[0].main_category == "Toys" and hybrid[0].method == "hybrid"  # nobody labeled Toys yet
    assert hybrid[1].main_category == "Watches" and not hybrid[1].uncertain
    assert hybrid[2].main_category == "Watches" and hybrid[2].uncertain  # vote and prior disagree
    assert engine.categorize([toys], method="zero-shot")[0].main_category == "Toys"
    engine.close()


def test_zero_shot_without_any_category_says_how(tmp_path: Path) -> None:
    eng = Engine(Settings(data_dir=tmp_path), embedder=HashEmbedder())
    eng.index([Product(id="u", title="unlabeled thing")], progress=False)
    with pytest.raises(EmptyIndexError, match="SEMCAT_TAXONOMY_FILE"):
        eng.categorize([Product(id="q", title="anything")], method="zero-shot")
    eng.close()


class _FixedPrior:
    """A prior that always prefers one main category (as the linear head may)."""

    top_n = 5
    uncertain_threshold = 0.5

    def __init__(self, paths: list[tuple[str, ...]], favourite: str) -> None:
        self.paths = paths
        self.favourite = favourite

    def probabilities(self, queries: object) -> np.ndarray:
        n = len(np.atleast_2d(queries["text"]))  # type: ignore[index]
        row = [1.0 if p[0] == self.favourite else 0.0 for p in self.paths]
        return np.tile(np.asarray(row, dtype=np.float32), (n, 1))


def test_a_prior_that_moves_the_main_category_gets_the_deeper_levels_from_that_subtree(tmp_path: Path) -> None:
    from semcat.categorize import HybridCategorizer, KnnCategorizer
    from semcat.search import StoreMeta
    from semcat.search.faiss import FaissStore

    embedder = HashEmbedder()
    catalog = [
        Product(id="1", title="cotton bath towel soft", category=("Home", "Bath Linen", "Towels")),
        Product(id="2", title="cotton bath towel thick", category=("Home", "Bath Linen", "Towels")),
        Product(id="3", title="hooded baby bath towel cotton", category=("Baby", "Bath", "Baby Towels")),
        Product(id="4", title="baby feeding bottle", category=("Baby", "Feeding", "Bottles")),
    ]
    store = FaissStore(tmp_path, StoreMeta(model=embedder.name, spaces={"text": embedder.dim}), "flat")
    store.upsert(
        [p.id for p in catalog], embedder.encode_texts([p.text() for p in catalog]), [p.payload() for p in catalog]
    )
    knn = KnnCategorizer(store, k=3, space_weights={"text": 1.0})
    query = {"text": embedder.encode_texts(["cotton bath towel"])}
    assert knn.predict(query)[0].category == "Home > Bath Linen > Towels"  # the words side with Home
    prior = _FixedPrior([("Baby",), ("Home",)], favourite="Baby")

    (pred,) = HybridCategorizer(knn, prior, knn_weight=0.3, method="knn").predict(query)
    # the prior decides Baby; its towel (not its bottle) gives the levels below
    assert pred.category == "Baby > Bath > Baby Towels" and pred.uncertain
    assert [lv.category for lv in pred.levels] == ["Baby", "Baby > Bath", "Baby > Bath > Baby Towels"]
    assert pred.top[0].category == "Baby > Bath > Baby Towels"
    assert {n.id for n in pred.neighbors[:2]} == {"1", "2"}  # the first vote's evidence stays
    # without the second vote the path stops where the prior decided
    (short,) = HybridCategorizer(knn, prior, knn_weight=0.3, method="knn", subtree_vote=False).predict(query)
    assert short.category == "Baby"
    # nor when the caller asked for the main category only (--depth 1)
    shallow = KnnCategorizer(store, k=3, depth=1, space_weights={"text": 1.0})
    (cut,) = HybridCategorizer(shallow, prior, knn_weight=0.3, method="knn").predict(query)
    assert cut.category == "Baby"
    # a caller's category restriction is never left for another subtree, however sure the prior
    (kept,) = HybridCategorizer(knn, prior, knn_weight=0.3, method="knn").predict(query, category="Home")
    assert kept.category == "Home > Bath Linen > Towels"
    store.close()
