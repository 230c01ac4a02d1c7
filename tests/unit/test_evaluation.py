"""The evaluation is wired right: obvious structure scores 1.0, shuffled labels score ~0,
held-out products never vote for themselves, and the report files are written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semcat.catalog import Product
from semcat.errors import ConfigError
from semcat.evaluation import EvalConfig, LabeledSet, run_evaluation
from semcat.evaluation.metrics import kmeans_ari, level_accuracy
from semcat.evaluation.report import make_splits

CATEGORIES = [("Kitchen", "Knives"), ("Kitchen", "Pans"), ("Toys", "Trains"), ("Garden", "Tools")]
WORDS = ["knife blade steel", "pan frying nonstick", "train wooden toy", "garden rake tool"]


def synthetic(n_per: int = 30, seed: int = 0, shuffle: bool = False) -> LabeledSet:
    rng = np.random.default_rng(seed)
    centers = np.eye(8, dtype=np.float32)[: len(CATEGORIES)] * 5
    vectors, paths, texts, ids = [], [], [], []
    for c, (path, words) in enumerate(zip(CATEGORIES, WORDS, strict=True)):
        for i in range(n_per):
            v = centers[c] + rng.normal(scale=0.3, size=8)
            vectors.append(v / np.linalg.norm(v))
            paths.append(path)
            texts.append(f"{words} item {i}")
            ids.append(f"{c}-{i}")
    if shuffle:
        paths = [paths[i] for i in rng.permutation(len(paths))]
    payloads = [Product(id=i, title=t, category=p).payload() for i, t, p in zip(ids, texts, paths, strict=True)]
    return LabeledSet(ids, np.asarray(vectors, dtype=np.float32), paths, texts, payloads, "synthetic")


def test_obvious_structure_scores_perfectly(tmp_path: Path) -> None:
    config = EvalConfig(level=None, k_grid=(5,), tsne=True, tsne_max=500, ari_seeds=(0, 1))
    (result,) = run_evaluation([synthetic()], config, tmp_path, progress=False)
    for name in ("knn@5", "logreg", "tfidf-svm"):
        assert result["methods"][name]["accuracy"] == 1.0, name
        assert result["methods"][name]["macro_f1"] == 1.0
    assert result["methods"]["knn@5"]["level_accuracy"] == {"1": 1.0, "2": 1.0}
    assert result["kmeans_ari"]["mean"] == pytest.approx(1.0)
    assert result["methods"]["knn@5"]["held_out_neighbors"] == 0
    files = {p.name for p in tmp_path.iterdir()}
    assert {"report.md", "metrics.json", "confusion_synthetic.png", "tsne_synthetic.png"} <= files
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["results"][0]["confusion_matrix"]["matrix"][0][0] == 6  # 30 per class, 20% held out
    assert "knn@5 | 1.0000" in (tmp_path / "report.md").read_text()


def test_shuffled_labels_give_ari_near_zero() -> None:
    data = synthetic(shuffle=True)
    ari = kmeans_ari(data.vectors, data.labels(None), 4, seeds=(0, 1, 2))
    assert abs(ari["mean"]) < 0.05
    config = EvalConfig(level=None, k_grid=(5,), methods=("knn",), tsne=False, ari=False, plots=False)
    (result,) = run_evaluation([data], config, None, progress=False)
    assert result["methods"]["knn@5"]["accuracy"] < 0.5  # chance is 0.25


def test_cv_covers_every_product_once_and_never_leaks() -> None:
    data = synthetic(n_per=10)
    config = EvalConfig(split="cv", folds=5, level=1, k_grid=(3,), methods=("knn", "logreg"), tsne=False, ari=False)
    splits = make_splits(data, config)
    tested = np.concatenate([te for _, te in splits])
    assert sorted(tested.tolist()) == list(range(len(data)))
    for train, test in splits:
        assert not set(train) & set(test)
    (result,) = run_evaluation([data], config, None, progress=False)
    assert result["evaluated"] == len(data) and len(result["methods"]["knn@3"]["accuracy_folds"]) == 5
    assert result["methods"]["knn@3"]["held_out_neighbors"] == 0
    assert set(result["methods"]["logreg"]["level_accuracy"]) == {"1"}  # trained on level 1 only


def test_level_accuracy_counts_only_deep_enough_labels() -> None:
    true = [("A", "B"), ("A",), ("C", "D")]
    pred = [("A", "B"), ("A", "X"), ("C", "E")]
    assert level_accuracy(true, pred, 3) == {1: 1.0, 2: 0.5}


def test_results_come_back_as_a_dataframe(tmp_path: Path) -> None:
    from semcat.evaluation import results_frame

    config = EvalConfig(level=None, k_grid=(5,), methods=("knn", "tfidf"), ari=False, tsne=False, plots=False)
    results = run_evaluation([synthetic()], config, tmp_path, progress=False)
    frame = results_frame(results)
    assert list(frame["method"]) == ["knn@5", "tfidf-svm"]
    assert list(frame["accuracy"]) == [1.0, 1.0] and list(frame["level_2"]) == [1.0, 1.0]
    assert set(frame["model"]) == {"synthetic"}


def test_every_level_in_one_run_with_the_flat_baselines_retrained_at_each(tmp_path: Path) -> None:
    """``--level all``: one table of every level and the full path; the flat classifiers
    are trained at each level, the path methods (vote, zero-shot, hybrid) once."""
    from tests.conftest import HashEmbedder

    embedder = HashEmbedder()
    base = synthetic(n_per=20)
    texts = [f"{p[0]} {p[1]} {t}".lower() for p, t in zip(base.paths, base.texts, strict=True)]  # names in it
    data = LabeledSet(
        base.ids, embedder.encode_texts(texts), base.paths, texts, base.payloads, embedder.name, encoder=embedder
    )
    config = EvalConfig(
        split="cv",
        folds=3,
        level=None,
        per_level=True,
        k_grid=(5,),
        methods=("knn", "tfidf", "zero-shot", "hybrid"),
        ari=False,
        tsne=False,
        plots=False,
    )
    (result,) = run_evaluation([data], config, tmp_path, progress=False)
    per_level = result["per_level"]
    assert list(per_level) == ["1", "2", "full"]
    for level in per_level.values():
        assert set(level) == {"knn@5", "tfidf-svm", "zero-shot", "hybrid"}
        assert level["tfidf-svm"]["accuracy"] == 1.0 and level["knn@5"]["accuracy"] == 1.0
        assert level["zero-shot"]["accuracy"] > 0.5  # prompts for the leaf names the texts carry (chance: 0.25)
        assert {"accuracy", "accuracy_std", "macro_f1"} <= set(level["hybrid"])
    report = (tmp_path / "report.md").read_text()
    assert "| method | level 1 accuracy | macro F1 | level 2 accuracy | macro F1 | full path accuracy |" in report
    with pytest.raises(ConfigError, match="zero-shot"):
        run_evaluation([synthetic()], EvalConfig(methods=("zero-shot",), ari=False, tsne=False), None, progress=False)
