"""`semcat evaluate` on the real catalog with the real model, both entry points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import FLIPKART_CSV
from typer.testing import CliRunner

from semcat.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_evaluate_a_catalog_and_the_store(tmp_path: Path) -> None:
    if not FLIPKART_CSV.exists():
        pytest.skip(f"catalog not found at {FLIPKART_CSV}")
    out = tmp_path / "report"
    from semcat.embedding.registry import MODEL_ALIASES

    local_copy = str(MODEL_ALIASES["minilm"].locate())  # a second "model": the same weights as a folder
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(FLIPKART_CSV),
            "--limit",
            "350",
            "--k",
            "5,10",
            "--out",
            str(out),
            "-q",
            "--no-tsne",
            "--models",
            f"minilm,{local_copy}",
        ],
    )
    assert result.exit_code == 0, result.output
    both = json.loads((out / "metrics.json").read_text())["results"]
    assert [r["model"] for r in both] == ["sentence-transformers/all-MiniLM-L6-v2@int8", "local:model@int8"]
    assert both[0]["methods"]["knn@10"]["accuracy"] == both[1]["methods"]["knn@10"]["accuracy"]
    assert all(r["embed_seconds"] > 0 for r in both)
    assert "local:model" in (out / "report.md").read_text()
    metrics = both[0]
    assert metrics["products"] == 350 and metrics["classes"] == 7
    assert set(metrics["methods"]) == {"knn@5", "knn@10", "logreg", "tfidf-svm"}
    assert metrics["methods"]["knn@10"]["accuracy"] > 0.8
    assert metrics["methods"]["knn@10"]["held_out_neighbors"] == 0
    assert 0.2 < metrics["kmeans_ari"]["mean"] < 1.0
    assert (out / "report.md").exists() and any(p.suffix == ".png" for p in out.iterdir())

    # the store's own vectors: index part of the catalog, then evaluate what is stored
    data = tmp_path / "data"
    small = tmp_path / "small.csv"
    lines = FLIPKART_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    import csv
    import io

    rows = list(csv.reader(io.StringIO("".join(lines))))
    with small.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows[:1] + rows[1:1050:5])  # every 5th product: 210
    assert runner.invoke(app, ["index", str(small), "--data-dir", str(data), "-q"]).exit_code == 0
    stored = runner.invoke(
        app,
        [
            "evaluate",
            "--data-dir",
            str(data),
            "--cv",
            "3",
            "--methods",
            "knn,logreg,tfidf,zero-shot,hybrid",
            "--level",
            "all",
            "--k",
            "5",
            "--no-tsne",
            "--out",
            str(tmp_path / "r2"),
            "-q",
        ],
    )
    assert stored.exit_code == 0, stored.output
    # the summary says what its first accuracy is, and library warnings stay in the report folder
    assert "knn@5      full path accuracy" in stored.stdout
    assert "Warning" not in stored.output or "library warnings, kept in" in stored.output
    again = json.loads((tmp_path / "r2" / "metrics.json").read_text())["results"][0]
    assert again["products"] == 210 and "3-fold CV" in again["split"]
    # every level in one run, the zero-shot prompts embedded by the store's model
    assert list(again["per_level"]) == ["1", "2", "3", "full"]
    for scores in again["per_level"].values():
        assert set(scores) == {"knn@5", "logreg", "tfidf-svm", "zero-shot", "hybrid"}
    assert again["per_level"]["1"]["zero-shot"]["accuracy"] > 0.5  # 7 main categories: chance is ~0.14
    assert again["per_level"]["2"]["knn@5"]["accuracy"] <= again["per_level"]["1"]["knn@5"]["accuracy"]
    assert "level 2" in stored.output and "Per level" in (tmp_path / "r2" / "report.md").read_text()
    bad = runner.invoke(app, ["evaluate", "--data-dir", str(data), "--models", "minilm"])
    assert bad.exit_code == 1 and "--models needs a CATALOG" in bad.output
