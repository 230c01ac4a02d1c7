"""`semcat train`: fine-tune MiniLM on the stored labeled products, re-embed into a new
collection, categorize with it; the categories get tighter in the new vector space."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import FLIPKART_CSV
from typer.testing import CliRunner

from semcat.catalog import read_catalog
from semcat.cli import app
from semcat.config import Settings
from semcat.engine import Engine
from semcat.evaluation.data import from_store

pytestmark = pytest.mark.integration


def separation(vectors: np.ndarray, labels: list[str]) -> float:
    """Mean cosine to same-category products minus mean cosine to the others."""
    sims = vectors @ vectors.T
    same = np.equal.outer(labels, labels)
    np.fill_diagonal(same, False)
    other = ~np.equal.outer(labels, labels)
    return float(sims[same].mean() - sims[other].mean())


def test_train_then_reindex_and_categorize(tmp_path: Path) -> None:
    products = read_catalog(FLIPKART_CSV).products
    sample = [p for i, p in enumerate(products) if i % 8 == 0]  # 132 products, all 7 categories
    catalog = tmp_path / "sample.jsonl"
    catalog.write_text(
        "\n".join(
            json.dumps({"id": p.id, "title": p.title, "description": p.description, "category": p.category_path})
            for p in sample
        ),
        encoding="utf-8",
    )
    data = ["--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(catalog), *data, "-q"]).exit_code == 0
    out = tmp_path / "minilm-ft"
    result = runner.invoke(
        app, ["train", *data, "--out", str(out), "--epochs", "1", "--reindex-into", "tuned", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["products"] == len(sample) and summary["categories"] == 7 and summary["steps"] == 4
    assert summary["reindexed"] == {"collection": "tuned", "products": len(sample)}
    assert (out / "semcat_train.json").exists() and (out / "config.json").exists()

    def vectors(**overrides: object) -> tuple[np.ndarray, list[str]]:
        with Engine(Settings(data_dir=tmp_path / "data", **overrides)) as engine:
            labeled = from_store(engine.store())
        return labeled.vectors, [path[0] for path in labeled.paths]

    before, labels = vectors()
    after, labels_after = vectors(model=str(out), collection="tuned")
    assert sorted(labels) == sorted(labels_after)
    assert separation(after, labels_after) > separation(before, labels) + 0.05

    pred = runner.invoke(
        app, ["categorize", "stainless steel pressure cooker", *data, "--model", str(out), "--collection", "tuned"]
    )
    assert pred.exit_code == 0 and "Kitchen & Dining" in pred.stdout
    # the fine-tuned model's store refuses queries from another model
    wrong = runner.invoke(app, ["categorize", "cooker", *data, "--collection", "tuned"])
    assert wrong.exit_code == 1 and "holds vectors of model" in wrong.output
