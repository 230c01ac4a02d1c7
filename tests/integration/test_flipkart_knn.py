"""Real MiniLM on the real flipkart-1050 catalog: the accuracy the issue promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import FLIPKART_CSV

from semcat.catalog import Product, read_catalog
from semcat.categorize import KnnCategorizer
from semcat.config import Settings
from semcat.embedding.lexical import LexicalEncoder
from semcat.engine import Engine
from semcat.evaluation import evaluate_holdout, stratified_holdout
from semcat.evaluation.holdout import score_predictions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def faiss_run(tmp_path_factory: pytest.TempPathFactory):
    if not FLIPKART_CSV.exists():
        pytest.skip(f"shared dataset not found at {FLIPKART_CSV}")
    products = read_catalog(FLIPKART_CSV).products
    engine = Engine(Settings(data_dir=tmp_path_factory.mktemp("faiss"), store="faiss"))
    result = evaluate_holdout(engine, products, test_size=0.2, seed=42)
    yield engine, products, result
    engine.close()


def test_minilm_knn_main_category_accuracy_faiss(faiss_run) -> None:
    _, _, result = faiss_run
    print(f"\nflipkart-1050 80/20 seed 42, MiniLM, default categorizer, FAISS: {result.as_dict()}")
    assert result.n_train == 840 and result.n_test == 210
    assert result.accuracy >= 0.94  # kNN + words + head; the dense vote alone gave 0.933
    assert set(result.level_accuracy) == {1, 2, 3}
    assert result.level_accuracy[2] <= result.level_accuracy[1]
    # the vote and the head decide every level together: 0.9286 at level 2 when measured
    # (TF-IDF + SVM trained flat at level 2: 0.886 on this split), 2 points of slack
    assert result.level_accuracy[2] >= 0.9086


def test_same_accuracy_on_qdrant_local_path(faiss_run, tmp_path: Path) -> None:
    engine, products, result = faiss_run
    settings = Settings(data_dir=tmp_path, store="qdrant")
    qdrant = Engine(settings, embedder=engine.model.embedder)
    store = qdrant.store(create=True)
    lexical = LexicalEncoder()
    for ids, vectors, payloads in engine.store().iter_vectors():
        texts = [Product.from_payload(p).text() for p in payloads]
        store.upsert(ids, {"text": vectors, "lexical": lexical.encode(texts)}, payloads)
    _, test = stratified_holdout(products, 0.2, 42)
    predictions = qdrant.categorize(test)
    qresult = score_predictions(test, predictions)
    print(f"\nflipkart-1050 80/20 seed 42, MiniLM kNN (k=10), Qdrant local: accuracy {qresult.accuracy:.4f}")
    assert qresult.accuracy == pytest.approx(result.accuracy, abs=0.01)
    qdrant.close()


def test_held_out_products_never_vote_for_themselves(faiss_run) -> None:
    engine, products, _ = faiss_run
    _, test = stratified_holdout(products, 0.2, 42)
    test_ids = {p.id for p in test}
    predictions = engine.categorize(test[:40])
    for product, prediction in zip(test[:40], predictions, strict=True):
        assert not test_ids & {n.id for n in prediction.neighbors}, product.id
        assert len(prediction.neighbors) >= 10  # ten by vector, then those only the words found
        assert all(n.space == "text" for n in prediction.neighbors[:10])
        assert prediction.levels[0].score == prediction.score


def test_knn_per_level_scores_on_real_neighbors(faiss_run) -> None:
    engine, _, _ = faiss_run
    prediction = engine.categorize(["Titan analog wrist watch for men, black leather strap"])[0]
    assert prediction.main_category == "Watches"
    assert prediction.category.startswith("Watches > Wrist Watches")
    assert prediction.score > 0.9
    # the main category is sure; the third level names a brand, which this path gets
    # wrong (Timewel for a Titan): the path's confidence says so, and `uncertain` (the path
    # more likely wrong than right) follows it
    assert prediction.calibrated and prediction.levels[0].confidence > 0.9
    assert prediction.uncertain == (prediction.confidence < 0.5)
    assert [lv.level for lv in prediction.levels][:2] == [1, 2]
    assert all(n.category.startswith("Watches") for n in prediction.neighbors[:5])
    categorizer = KnnCategorizer(engine.store(), k=5, depth=1)
    (only_main,) = categorizer.predict(engine.model.embedder.encode_texts(["baby boy cotton romper"]))
    assert only_main.category == "Baby Care" and len(only_main.levels) == 1


def test_every_default_prediction_goes_below_the_main_category(faiss_run) -> None:
    # where the head overrules the vote, a second vote in the chosen category gives the
    # sub-categories: no held-out product is left with a main category alone
    engine, products, _ = faiss_run
    _, test = stratified_holdout(products, 0.2, 42)
    predictions = engine.categorize(test)
    stopped = [(p.id, pred.category) for p, pred in zip(test, predictions, strict=True) if len(pred.path) < 2]
    assert not stopped
    overruled = [pred for pred in predictions if pred.neighbors[0].category.split(" > ")[0] != pred.main_category]
    assert overruled  # the head does move some products away from their closest neighbor's category
    for pred in overruled:
        assert [lv.level for lv in pred.levels][:2] == [1, 2] and pred.levels[1].category.startswith(pred.main_category)
