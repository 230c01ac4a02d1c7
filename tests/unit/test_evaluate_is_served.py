"""What `semcat evaluate` measures is what the service answers: for one split, the
evaluation's kNN method (the vote, the linear head, the path confidence and the auto
decision, built from the training products alone) predicts exactly what an engine whose
store holds those training products returns for the held-out ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.conftest import HashEmbedder

from semcat.catalog import Product
from semcat.config import Settings
from semcat.engine import Engine
from semcat.evaluation import LabeledSet
from semcat.evaluation import methods as m
from semcat.evaluation.data import from_store

TAXONOMY = {
    ("Kitchen", "Cookware"): "pan pot pressure cooker steel wok skillet",
    ("Kitchen", "Tableware"): "plate bowl cup mug saucer ceramic dinner",
    ("Home", "Bath"): "towel bath mat soap shower cotton robe",
    ("Home", "Decor"): "vase frame lamp candle wall art clock",
    ("Toys", "Dolls"): "doll house dress princess baby figure",
    ("Toys", "Cars"): "car truck racing remote control wheel",
}


def catalog(seed: int = 0, per: int = 30) -> list[Product]:
    rng = np.random.default_rng(seed)
    products = []
    for (main, sub), words in TAXONOMY.items():
        vocabulary = words.split()
        others = " ".join(TAXONOMY.values()).split()
        for i in range(per):
            own = rng.choice(vocabulary, size=2, replace=False).tolist()
            noise = rng.choice(others, size=int(rng.integers(0, 3))).tolist()  # some products mislead
            products.append(Product(id=f"{sub}-{i}", title=" ".join(own + noise), category=(main, sub)))
    return products


def test_evaluate_predicts_what_the_engine_serves(tmp_path: Path) -> None:
    products = catalog()
    rng = np.random.default_rng(1)
    held_out = set(rng.choice(len(products), size=40, replace=False).tolist())
    train = [p for i, p in enumerate(products) if i not in held_out]
    test = [p for i, p in enumerate(products) if i in held_out]
    embedder = HashEmbedder()
    # a target this 140-product store can reach: its calibrated confidences top out near
    # 0.94, so at the default 0.98 every prediction goes to review
    settings = Settings(data_dir=tmp_path, auto_precision=0.95, retrain={"child_process": False})
    with Engine(settings, embedder=embedder) as engine:
        engine.index(train, progress=False)
        head = engine.head(wait=True)
        assert head is not None and head.calibration is not None  # the served path is the whole recipe
        served = engine.categorize([Product(id=p.id, title=p.title) for p in test])
        training = from_store(engine.store(), settings.text_fields)
        texts = [p.text(settings.text_fields) for p in test]
        held = LabeledSet(
            [p.id for p in test],
            embedder.encode_texts(texts),
            [p.category for p in test],
            texts,
            [p.payload() for p in test],
            training.model,
        )
        measured = m.knn(
            training,
            held,
            options=engine.options(),
            head_options=settings.head,
            confidence=True,
            folds=settings.calibration.folds,
        )
    decisions = {p.decision for p in served}
    assert decisions == {"auto", "review"}  # a split with doubt in it: the comparison is not of constants
    assert measured.predicted == [tuple(p.path) for p in served]
    assert measured.confidence is not None and measured.auto is not None
    assert np.allclose(measured.confidence, [p.confidence for p in served], atol=1e-6)
    assert [bool(a) for a in measured.auto[settings.auto_precision]] == [p.decision == "auto" for p in served]
