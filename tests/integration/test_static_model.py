"""The static embedding tier: `semcat models prepare minilm-static` distills MiniLM offline
(model2vec), and `--model minilm-static` indexes and categorizes with it end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import prepare_alias
from typer.testing import CliRunner

from semcat.cli import app
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding.finetune import TrainConfig, fine_tune_labeled
from semcat.errors import ModelError

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flipkart-1050" / "flipkart_com-ecommerce_sample_1050.csv"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_alias(tmp_path_factory.mktemp("models"), "minilm-static")


def test_the_static_model_embeds_like_a_sentence_model(models_dir: Path) -> None:
    embedder = load_embedder(Settings(model="minilm-static", models_dir=models_dir))
    assert embedder.name == "sentence-transformers/all-MiniLM-L6-v2@model2vec-256" and embedder.dim == 256
    texts = [
        "Casio analog wrist watch for men with leather strap",
        "Titan analog watch for women, stainless steel strap",
        "Non-stick frying pan 24 cm with glass lid",
    ]
    vectors = embedder.encode_texts(texts, role="passage")
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # no prefixes and no roles: a query embeds as the same text stored
    assert np.allclose(embedder.encode_texts(texts, role="query"), vectors, atol=1e-6)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1  # two watches closer than a watch and a pan


def test_semcat_models_lists_it_ready_once_prepared(models_dir: Path, tmp_path: Path) -> None:
    ready = CliRunner().invoke(app, ["models", "--models-dir", str(models_dir), "--json"])
    rows = {r["alias"]: r for r in json.loads(ready.output)}
    assert rows["minilm-static"]["available"] is True
    missing = CliRunner().invoke(app, ["models", "--models-dir", str(tmp_path), "--json"])
    rows = {r["alias"]: r for r in json.loads(missing.output)}
    assert rows["minilm-static"]["available"] is False
    assert "semcat models prepare minilm-static" in rows["minilm-static"]["how"]


def test_index_and_categorize_with_the_static_model(models_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    # every third product of the bundled sample: every main category, a third of the head's time
    sample = tmp_path / "sample.csv"
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    with sample.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([rows[0], *rows[1::3]])
    env = {"SEMCAT_MODELS_DIR": str(models_dir), "SEMCAT_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    done = runner.invoke(app, ["index", str(sample), "--model", "minilm-static", "--json"], env=env)
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["indexed"] == 350 and summary["head_seconds"] is not None
    asked = runner.invoke(
        app,
        ["categorize", "Casio analog wrist watch for men with leather strap", "--model", "minilm-static", "--json"],
        env=env,
    )
    assert asked.exit_code == 0, asked.output
    prediction = json.loads(asked.output)
    assert prediction["category"].startswith("Watches")
    # the store remembers the model: the default model's queries are refused, not mixed in
    mixed = runner.invoke(app, ["categorize", "Casio analog wrist watch", "--json"], env=env)
    assert mixed.exit_code != 0 and "model2vec-256" in mixed.output


def test_semcat_train_refuses_a_static_model_in_one_line(models_dir: Path) -> None:
    from semcat.catalog import Product

    products = [Product(id="a", title="Casio watch", category="Watches")]
    with pytest.raises(ModelError, match="static model"):
        fine_tune_labeled(products, Settings(model="minilm-static", models_dir=models_dir), TrainConfig())
