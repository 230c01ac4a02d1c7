"""Path confidence and the auto/review decision (semcat.categorize.calibration), the default
depth (semcat.categorize.depth), and how the faces show them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.conftest import FLIPKART_CSV, HashEmbedder
from typer.testing import CliRunner

from semcat.api import create_app
from semcat.catalog import Product
from semcat.categorize.calibration import AUTO, REVIEW, Calibration, LevelModel, fit
from semcat.categorize.depth import category_depth
from semcat.categorize.prediction import LevelScore, Neighbor, Prediction
from semcat.config import Settings
from semcat.engine import Engine
from semcat.errors import InvalidInputError
from semcat.options import CalibrationOptions, QueryOptions

# Five main categories with two sub-categories each, 24 products per sub-category, their
# words mostly their own (a few shared words make some of them harder); one more category
# holds a single product.
WORDS = {
    ("Kitchen", "Cookware"): "pressure cooker steel pan kadhai lid",
    ("Kitchen", "Dinnerware"): "dinner plate bowl ceramic serving set",
    ("Watches", "Wrist"): "analog wrist watch strap dial quartz",
    ("Watches", "Smart"): "smart watch fitness band heart rate",
    ("Baby", "Diapers"): "diaper pants absorbent size pack baby",
    ("Baby", "Wear"): "romper cotton bib infant baby snap",
    ("Decor", "Vases"): "flower vase ceramic glass decor table",
    ("Decor", "Clocks"): "wall clock decor round numerals quartz",
    ("Bags", "Backpacks"): "backpack laptop school straps zip bag",
    ("Bags", "Wallets"): "wallet leather card slots coin bag",
}
SINGLE = Product.build(id="lonely", title="telescope astronomy tripod lens eyepiece", category="Optics > Telescopes")


def catalog(per_leaf: int = 24) -> list[Product]:
    rng = np.random.default_rng(0)
    products = []
    pool = " ".join(WORDS.values()).split()
    for (main, sub), words in WORDS.items():
        own = words.split()
        for i in range(per_leaf):
            text = [*rng.choice(own, 4, replace=False), str(rng.choice(pool)), f"model{i}"]
            products.append(Product.build(id=f"{sub}-{i}", title=" ".join(text), category=f"{main} > {sub}"))
    return [*products, SINGLE]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    settings = Settings(data_dir=tmp_path_factory.mktemp("calibrated"))
    engine = Engine(settings, embedder=HashEmbedder())
    engine.index(catalog(), progress=False)
    engine.head(wait=True)  # the head and its calibration, trained now
    return engine


def test_every_prediction_carries_a_calibrated_confidence_and_a_decision(calibrated: Engine) -> None:
    status = calibrated.stats(categories=False).confidence
    assert status["calibrated"] and 0 < status["expected_auto_share"] <= 1 and status["threshold"] is not None
    assert 0 < status["out_of_fold_precision"] <= 1  # how often the out-of-fold paths it files were right
    texts = ["steel pressure cooker lid", "analog quartz wrist watch", "ceramic glass flower vase"]
    predictions = calibrated.categorize([Product(id=str(i), title=t) for i, t in enumerate(texts)])
    for p in predictions:
        assert p.calibrated and 0.0 <= p.confidence <= 1.0 and p.decision in (AUTO, REVIEW)
        confidences = [lv.confidence for lv in p.levels]
        assert confidences == sorted(confidences, reverse=True)  # a deeper level is never surer
        assert p.confidence <= confidences[-1]
        assert p.uncertain == (p.confidence < 0.5)
        assert (p.decision_reason is None) == (p.decision == AUTO)
    assert any(p.decision == AUTO for p in predictions)  # clear cases are filed without a look


def test_the_confidence_never_changes_the_category(calibrated: Engine, tmp_path: Path) -> None:
    import shutil

    copy = shutil.copytree(calibrated.settings.data_dir, tmp_path / "copy")  # its own head file
    off = CalibrationOptions(enabled=False)
    plain = Engine(calibrated.settings.model_copy(update={"calibration": off, "data_dir": copy}), HashEmbedder())
    texts = [p.title for p in catalog(3)]
    products = [Product(id=str(i), title=t) for i, t in enumerate(texts)]
    with_conf = calibrated.categorize(products)
    without = plain.categorize(products)
    assert [p.category for p in with_conf] == [p.category for p in without]
    assert not any(p.calibrated or p.decision == AUTO for p in without)
    assert "calibration is off" in plain.stats(categories=False).confidence["reason"]


def test_a_one_product_category_is_never_filed_by_itself(calibrated: Engine) -> None:
    (twin,) = calibrated.categorize([Product(id="q", title=SINGLE.title)])
    assert twin.category == "Optics > Telescopes" and twin.near_duplicate  # its stored copy decides...
    assert twin.decision == REVIEW  # ...but one labeled product is not enough to file it unseen
    assert "single labeled neighbor" in (twin.decision_reason or "")
    for target in (0.6, 0.9, 0.99):
        (again,) = calibrated.categorize([Product(id="q", title=SINGLE.title)], auto_precision=target)
        assert again.decision == REVIEW


def test_a_stricter_target_files_fewer_products(calibrated: Engine) -> None:
    products = [Product(id=str(i), title=p.title) for i, p in enumerate(catalog(4))]
    filed = []
    for target in (0.6, 0.9, 0.99):
        predictions = calibrated.categorize(products, auto_precision=target)
        filed.append(sum(p.decision == AUTO for p in predictions))
    assert filed[0] >= filed[1] >= filed[2]
    assert (
        calibrated.stats(categories=False, target=0.6).confidence["expected_auto_share"]
        >= calibrated.stats(categories=False, target=0.99).confidence["expected_auto_share"]
    )


@pytest.mark.parametrize("target", [0.5, 1.0, 1.2, -1, 0.3])
def test_a_target_outside_the_open_interval_is_refused(calibrated: Engine, target: float) -> None:
    with pytest.raises(InvalidInputError, match=r"auto_precision must be between 0\.5 and 1"):
        calibrated.categorize([Product(id="q", title="pressure cooker")], auto_precision=target)
    with pytest.raises(ValueError):
        Settings(auto_precision=target)


def test_the_calibration_is_saved_with_the_head_and_loaded_by_the_next_process(calibrated: Engine) -> None:
    again = Engine(calibrated.settings, embedder=HashEmbedder())
    saved = again._heads.saved(again.store())
    assert saved is not None and saved.calibration is not None  # loaded, not retrained
    text = [Product(id="q", title="smart fitness band heart rate")]
    assert again.categorize(text)[0].confidence == pytest.approx(calibrated.categorize(text)[0].confidence)


def test_too_few_labeled_products_send_everything_to_review_and_say_why(tmp_path: Path) -> None:
    engine = Engine(Settings(data_dir=tmp_path), embedder=HashEmbedder())
    engine.index(catalog(2), progress=False)  # 21 labeled products
    engine.head(wait=True)
    predictions = engine.categorize([Product(id="q", title="steel pressure cooker lid")])
    assert predictions[0].decision == REVIEW and not predictions[0].calibrated
    assert "too few labeled products" in (predictions[0].decision_reason or "")
    ready = engine.stats(categories=False).confidence
    assert not ready["calibrated"] and "too few labeled products" in ready["reason"]
    with TestClient(create_app(engine.settings, engine=engine)) as client:
        body = client.get("/ready").json()
        assert "too few labeled products" in body["confidence"]["reason"]
        assert body["depth"] == {"value": 2, "detected": True}


def test_the_api_returns_confidence_and_decision_and_takes_a_target(calibrated: Engine) -> None:
    with TestClient(create_app(calibrated.settings, engine=calibrated)) as client:
        ok = client.post("/categorize", json={"title": "analog quartz wrist watch", "auto_precision": 0.9})
        assert ok.status_code == 200, ok.text
        prediction = ok.json()["predictions"][0]
        assert prediction["decision"] in ("auto", "review") and prediction["calibrated"]
        assert all(0 <= level["confidence"] <= 1 for level in prediction["levels"])
        bad = client.post("/categorize", json={"title": "analog quartz wrist watch", "auto_precision": 1.5})
        assert bad.status_code == 422 and "auto_precision" in bad.text
        ready = client.get("/ready").json()["confidence"]
        assert ready["calibrated"] and ready["target_precision"] == 0.98


def _hash_cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI app, its engines embedding with the hash embedder the store was built with."""
    import semcat.embedding
    import semcat.embedding.registry
    from semcat.cli import app

    monkeypatch.setattr(semcat.embedding, "load_embedder", lambda settings: HashEmbedder())
    monkeypatch.setattr(semcat.embedding.registry, "model_name", lambda settings: HashEmbedder().name)
    return app


def test_the_cli_writes_confidence_and_decision_columns_and_a_summary(
    calibrated: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _hash_cli(monkeypatch)
    new = tmp_path / "new.csv"
    new.write_text("id,title\na,steel pressure cooker lid pan\nb,analog quartz wrist watch dial\n")
    out = tmp_path / "predictions.csv"
    runner = CliRunner()
    data = ["--data-dir", str(calibrated.settings.data_dir)]
    result = runner.invoke(app, ["categorize", "--file", str(new), "-o", str(out), *data])
    assert result.exit_code == 0, result.output
    header = out.read_text().splitlines()[0].split(",")
    assert "confidence" in header and "decision" in header
    with out.open(newline="") as fh:  # each level's category and confidence in its own columns
        first = next(csv.DictReader(fh))
    assert first["level_1"] == first["main_category"] and first["level_2"] == first["category"].split(" > ")[1]
    assert 0 <= float(first["level_1_confidence"]) <= 1 and 0 <= float(first["level_2_confidence"]) <= 1
    assert "of 2 filed automatically at an expected 98% precision;" in result.output
    strict = runner.invoke(app, ["categorize", "--file", str(new), "--auto-precision", "0.7", "--json", *data])
    assert strict.exit_code == 0 and "expected 70% precision" in strict.output
    rows = [json.loads(line) for line in strict.stdout.splitlines() if line.startswith("{")]
    assert all(r["decision"] in ("auto", "review") for r in rows)
    bad = runner.invoke(app, ["categorize", "--file", str(new), "--auto-precision", "1", *data])
    assert bad.exit_code != 0 and "auto_precision must be between 0.5 and 1" in bad.output
    assert "Traceback" not in bad.output
    info = runner.invoke(app, ["info", *data])
    assert info.exit_code == 0 and "auto-file: confidence >=" in info.output and "depth:    2" in info.output
    assert "of those filed right" in info.output


def test_the_bundled_sample_stops_above_its_product_name_levels(tmp_path: Path) -> None:
    """Its levels 4 and below are brands and product names: a prediction without --depth
    stopped there (the review queue stored "... > @home Earthy Wine Net Ceramic Vase (9.82..."
    as a category)."""
    from semcat.catalog import read_catalog

    products = read_catalog(FLIPKART_CSV).products
    assert max(len(p.category) for p in products) == 7
    engine = Engine(Settings(data_dir=tmp_path, calibration=False), embedder=HashEmbedder())
    engine.index(products, progress=False)
    stats = engine.stats(categories=False)
    assert (stats.depth, stats.depth_detected) == (3, True)
    queries = [Product(id=p.id, title=p.title) for p in products[::50]]
    assert all(len(p.levels) <= 3 for p in engine.categorize(queries))
    deeper = Engine(Settings(data_dir=tmp_path, calibration=False, predict_depth=5), embedder=HashEmbedder())
    stats = deeper.stats(categories=False)
    assert (stats.depth, stats.depth_detected) == (5, False)
    assert max(len(p.levels) for p in deeper.categorize(queries)) > 3


def test_category_depth_reads_the_share_of_products_alone_at_a_level() -> None:
    categories = [f"A > B{i % 4} > C{i % 8}" for i in range(64)]
    assert category_depth(categories) == 3
    names = [f"A > B{i % 4} > C{i % 8} > product {i}" for i in range(64)]
    assert category_depth(names) == 3  # every product alone at level 4
    assert category_depth({}) is None
    assert category_depth({"Only": 1}) == 1


def _calibration(confidence: list[float], right: list[bool]) -> Calibration:
    order = np.argsort(-np.asarray(confidence), kind="stable")
    return Calibration(
        depth=1,
        models=[LevelModel(None, 0.5)],
        path_model=LevelModel(None, 0.5),
        power=8.0,
        duplicate_threshold=0.95,
        ranked_confidence=np.asarray(confidence)[order],
        ranked_right=np.asarray(right)[order],
        considered=len(right),
        products=len(right),
        accuracy=float(np.mean(right)),
    )


def test_a_saved_calibration_answers_thresholds_by_the_rule_of_the_release_reading_it() -> None:
    """A head saved with its precision curve computed (by an older rule) is read afresh."""
    import pickle

    cal = _calibration([0.99, 0.97, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5], [True] * 6 + [False] * 2)
    fresh = cal.threshold(0.97)
    cal._precision = np.ones(8)  # what another rule left in the cache: everything reaches 0.97
    assert cal.threshold(0.97) == 0.5
    loaded = pickle.loads(pickle.dumps(cal))
    assert loaded.threshold(0.97) == fresh == 0.9
    assert np.array_equal(loaded.ranked_confidence, cal.ranked_confidence) and loaded.products == 8  # the rest kept


def test_the_threshold_is_the_lowest_confidence_whose_filed_share_is_expected_to_reach_the_target() -> None:
    """Expected: the mean of the share of them that was right and of their calibrated
    confidences."""
    confidence = [0.99, 0.97, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    right = [True, True, True, True, True, True, False, False]
    cal = _calibration(confidence, right)
    assert cal.threshold(0.97) == 0.9  # (4/4 + (0.99 + 0.97 + 0.95 + 0.9) / 4) / 2 = 0.976
    assert cal.expected_share(0.97) == 0.5 and cal.filed_precision(0.97) == 1.0
    assert cal.threshold(0.95) == 0.8 and cal.expected_share(0.95) == 5 / 8  # 0.961; six: 0.943
    assert cal.threshold(0.85) == 0.6 and cal.filed_precision(0.85) == 6 / 7  # (6/7 + 0.844) / 2 = 0.851
    assert cal.threshold(0.996) is None and cal.expected_share(0.996) == 0.0 and cal.filed_precision(0.996) is None


def test_a_threshold_never_stops_inside_a_run_of_equal_confidences() -> None:
    """Every prediction at or above a threshold is filed: where the calibrator gives many
    the same confidence (a small catalog's constant, a tree's leaf), the precision of the
    first few of them is not one any threshold realizes. Before, 10 products at 0.966 were
    all filed at a 0.995 target because the first one alone was right."""
    cal = _calibration([0.966] * 10, [True] * 9 + [False])
    assert cal.threshold(0.995) is None and cal.expected_share(0.995) == 0.0
    assert cal.threshold(0.9) == 0.966 and cal.expected_share(0.9) == 1.0
    mixed = _calibration([0.99, 0.98, 0.9, 0.9, 0.9, 0.5], [True] * 5 + [False])
    assert mixed.threshold(0.97) == 0.98  # with the run at 0.9: (1 + 0.934) / 2 = 0.967
    assert mixed.threshold(0.96) == 0.9 and mixed.expected_share(0.96) == 5 / 6


def _voted(category: str, agreeing: int, similarity: float) -> Prediction:
    """A one-level prediction of ``category`` with ``agreeing`` labeled neighbors under it
    at ``similarity``."""
    neighbors = [Neighbor(id=f"n{i}", score=similarity, category=category, title="") for i in range(agreeing)]
    neighbors += [Neighbor(id=f"o{i}", score=0.5, category="Other", title="") for i in range(10 - agreeing)]
    level = LevelScore(level=1, category=category, score=0.9)
    return Prediction(category=category, score=0.9, uncertain=False, levels=[level], top=[], neighbors=neighbors)


def test_thresholds_are_read_over_what_the_rules_let_be_filed() -> None:
    """A category known from one labeled neighbor is never filed automatically, so its
    out-of-fold paths say nothing of the precision of the filed ones. Before, they counted:
    near-duplicates of a singleton, confident and right, lifted the expected precision of
    everything above the threshold, and weaker paths were filed below the target."""
    sure = [_voted("Watches", 3, 0.95) for _ in range(40)]  # all right
    single = [_voted("Clocks", 1, 0.99) for _ in range(40)]  # all right, never filed
    weak = [_voted("Straps", 2, 0.6) for _ in range(40)]  # 70% right
    truths = [("Watches",)] * 40 + [("Clocks",)] * 40 + [("Straps",)] * 28 + [("Other",)] * 12
    calibration = fit(sure + single + weak, truths, depth=1, options=QueryOptions(), products=120)
    # the thresholds rank the 80 filable paths; the share they file is of all 120
    assert len(calibration.ranked_confidence) == 80 and calibration.considered == 120
    assert calibration.ranked_right.sum() == 40 + 28
    for target in (0.8, 0.9, 0.99):
        threshold = calibration.threshold(target)
        assert threshold is not None
        filed = calibration.ranked_confidence >= threshold
        assert calibration.expected_share(target) == filed.sum() / 120
        assert (calibration.ranked_confidence[filed].mean() + calibration.ranked_right[filed].mean()) / 2 >= target
    (confidence,) = [c for _, c in calibration.confidences([_voted("Watches", 3, 0.95)])]
    assert confidence >= calibration.threshold(0.99)


def _two_levels(runner_up: float) -> Prediction:
    """A "Watches > Wrist" prediction, the same at its second level whatever ``runner_up``,
    the main category's runner-up share (a close call at the first level)."""
    from semcat.catalog import PATH_JOIN
    from semcat.categorize.prediction import CategoryScore

    leaf = PATH_JOIN.join(("Watches", "Wrist"))
    other = PATH_JOIN.join(("Watches", "Smart"))
    neighbors = [Neighbor(id=f"n{i}", score=0.9, category=leaf, title="") for i in range(4)]
    neighbors += [Neighbor(id=f"o{i}", score=0.6, category=other, title="") for i in range(4)]
    main = LevelScore(
        level=1, category="Watches", score=0.9, top=[CategoryScore("Watches", 0.9), CategoryScore("Clocks", runner_up)]
    )
    sub = LevelScore(level=2, category=leaf, score=0.6, top=[CategoryScore(leaf, 0.6), CategoryScore(other, 0.3)])
    return Prediction(category=leaf, score=0.9, uncertain=False, levels=[main, sub], top=[], neighbors=neighbors)


@pytest.mark.parametrize("large", [False, True])
def test_on_a_large_store_the_path_confidence_reads_the_levels_above_the_last(large: bool) -> None:
    """Where a close call at the main category goes with a wrong sub-category, a path whose
    last level looks the same as a surer one's is less likely right. Before, the second
    level's calibrator and the path's read the second level alone and gave both the same
    confidence. A small store keeps that: three times the features are more than its
    out-of-fold predictions can teach (flipkart-1050's confidence drifted off the share right)."""
    from semcat.options import CALIBRATION_RECIPE

    half = CALIBRATION_RECIPE.levels_above_rows // 2 if large else 60
    clear = [_two_levels(0.05) for _ in range(half)]  # all right
    close = [_two_levels(0.8) for _ in range(half)]  # the main category right, the sub-category half the time
    truths = [("Watches", "Wrist")] * (half + half // 2) + [("Watches", "Smart")] * (half - half // 2)
    calibration = fit(clear + close, truths, depth=2, options=QueryOptions(), products=2 * half)
    assert calibration.levels_above == large
    ((_, sure), (_, unsure)) = calibration.confidences([_two_levels(0.05), _two_levels(0.8)])
    if large:
        assert sure > 0.9 and unsure < 0.7
    else:
        assert sure == unsure


def _evaluate(products: list[Product], out: Path) -> list[dict[str, Any]]:
    """semcat evaluate's 3-fold run of the vote and the calibrated TF-IDF + SVM."""
    from semcat.evaluation import EvalConfig, LabeledSet, run_evaluation

    embedder = HashEmbedder()
    texts = [p.title for p in products]
    data = LabeledSet(
        ids=[p.id for p in products],
        vectors=embedder.encode_texts(texts),
        paths=[p.category for p in products],
        texts=texts,
        payloads=[p.payload() for p in products],
        model=embedder.name,
    )
    config = EvalConfig(split="cv", folds=3, seed=0, k_grid=(10,), methods=("knn", "tfidf"), ari=False, tsne=False)
    return run_evaluation([data], config, out, progress=False)


def test_evaluate_reports_coverage_calibration_and_the_calibrated_svm(tmp_path: Path) -> None:
    products = catalog(16)  # each training part holds the labeled products the service calibrates on
    (result,) = _evaluate(products, tmp_path / "report")
    confidence: dict[str, Any] = result["confidence"]
    main = confidence["levels"]["1"]
    assert set(main) == {"knn@10", "tfidf-svm"}
    for row in main.values():
        assert set(row["coverage"]) == {"0.90", "0.95", "0.98", "0.99"} and 0 <= row["ece"] <= 1
    assert set(confidence["auto"]["knn@10"]) == {"0.90", "0.95", "0.98", "0.99"}
    report = (tmp_path / "report" / "report.md").read_text()
    assert "coverage at 99%" in report and "realized precision" in report
    assert any(name.startswith("reliability_") for name in result["plots"])
    assert (tmp_path / "report" / result["plots"][0]).stat().st_size > 0


def test_evaluate_reports_no_confidence_where_the_service_would_not_calibrate(tmp_path: Path) -> None:
    """Each training part of 3 folds over 141 products holds fewer labeled products than
    the service calibrates on: the report says so instead of a confidence nobody is served."""
    from semcat.options import CALIBRATION_RECIPE

    products = catalog(14)
    assert len(products) * 2 / 3 < CALIBRATION_RECIPE.min_products
    (result,) = _evaluate(products, tmp_path / "report")
    confidence: dict[str, Any] = result["confidence"]
    assert set(confidence["levels"]["1"]) == {"tfidf-svm"} and "knn@10" not in confidence["auto"]
    assert "too few labeled products" in confidence["not_calibrated"]["knn@10"]
    assert (
        "knn@10: no confidence, as served: too few labeled products" in (tmp_path / "report" / "report.md").read_text()
    )


def test_the_compiled_trees_answer_as_scikit_learn_does() -> None:
    """The calibrators are evaluated with numpy (scikit-learn's predict_proba cost about
    1.3 ms a call on one row, four calls a request): the same probabilities, also where the
    rows of one pass belong to different models."""
    from semcat.categorize.calibration import BoostedTrees, Forest, LevelModel, _model

    rng = np.random.default_rng(0)
    features = rng.random((3000, 6)) * 2 - 0.5
    right = (features[:, 0] + 0.5 * features[:, 3] + rng.random(3000) > 1.2).astype(int)
    model = _model(len(right)).fit(features, right)
    query = rng.random((500, 6)) * 3 - 1  # outside the fitted range too
    other = _model(len(right)).fit(features, 1 - right)
    forest = Forest.of(
        [LevelModel(BoostedTrees.of(model), 0.0), LevelModel(None, 0.25), LevelModel(BoostedTrees.of(other), 0.0)]
    )
    which = np.arange(len(query)) % 3
    probs = forest.predict(query, which)
    assert np.allclose(probs[which == 0], model.predict_proba(query[which == 0])[:, 1], atol=1e-12)
    assert np.allclose(probs[which == 2], other.predict_proba(query[which == 2])[:, 1], atol=1e-12)
    assert np.all(probs[which == 1] == 0.25)


def test_the_cli_prediction_file_neutralizes_formula_cells(
    calibrated: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _hash_cli(monkeypatch)
    new = tmp_path / "new.csv"
    new.write_text('id,title\n=2+5,"@SUM(A1) steel pressure cooker"\n-12,analog quartz wrist watch\n')
    out = tmp_path / "predictions.csv"
    data = ["--data-dir", str(calibrated.settings.data_dir)]
    result = CliRunner().invoke(app, ["categorize", "--file", str(new), "-o", str(out), *data])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["id"], r["title"][:8]) for r in rows] == [("'=2+5", "'@SUM(A1"), ("-12", "analog q")]
