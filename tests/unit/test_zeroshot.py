"""Zero-shot and hybrid categorization (hash embedder: words shared = similar)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import HashEmbedder

from semcat.catalog import Product
from semcat.config import Settings
from semcat.engine import Engine
from semcat.errors import EmptyIndexError
from semcat.search.zeroshot import ZeroShotCategorizer

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
    assert engine.zero_shot_categories() == [("Toys",), ("Watches",)]  # cut at level 1
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
