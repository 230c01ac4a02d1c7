"""The ONNX Runtime backends against sentence-transformers itself, on the real MiniLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from semcat.cli import app
from semcat.config import Settings
from semcat.embedding import load_embedder
from semcat.embedding import onnx as onnx_backend

pytestmark = pytest.mark.integration

TEXTS = [
    "Alisha Solid Women's Cycling Shorts",
    "  FabHomeDecor Fabric Double Sofa Bed (Finish Color - Leather Brown)  ",
    "Casio analog wrist watch for men with leather strap",
    "Perceuse-visseuse sans fil Bosch 18 V avec deux batteries",
    "word " * 600,  # past the 256-token budget: truncated the same way
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def test_onnx_matches_torch_and_int8_stays_close(models_dir: Path) -> None:
    torch_vectors = load_embedder(Settings(backend="torch")).encode_texts(TEXTS)
    fp32 = load_embedder(Settings(backend="onnx", models_dir=models_dir))
    int8 = load_embedder(Settings(models_dir=models_dir))  # the default backend
    assert fp32.name == "sentence-transformers/all-MiniLM-L6-v2"  # the same vectors, the same name
    assert int8.name == "sentence-transformers/all-MiniLM-L6-v2@int8"
    assert (fp32.encode_texts(TEXTS) * torch_vectors).sum(1).min() > 0.99999
    alone = np.stack([int8.encode_texts([t])[0] for t in TEXTS])
    together = int8.encode_texts(TEXTS, batch_size=2)  # several batches, on worker threads
    assert (alone * torch_vectors).sum(1).min() > 0.97
    assert (together * alone).sum(1).min() > 0.97  # a batch's companions barely move a vector
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # texts that differ stay apart, a text and itself stay together
    sims = alone @ alone.T
    assert sims[0, 0] > 0.999 and sims[0, 1] < 0.6


def test_export_is_cached_and_rebuilt_when_the_model_changes(models_dir: Path, monkeypatch, tmp_path: Path) -> None:
    load_embedder(Settings(models_dir=models_dir))
    calls: list[str] = []
    real = onnx_backend._export_into
    monkeypatch.setattr(onnx_backend, "_export_into", lambda model, folder: calls.append(model.source))
    load_embedder(Settings(models_dir=models_dir))  # cached: nothing exported, torch never loaded
    assert calls == []
    # a local copy of the model, then changed in place (as `semcat train` would): exported again
    import shutil

    from semcat.embedding import resolve_model

    copy = tmp_path / "model"
    shutil.copytree(resolve_model("minilm").source, copy)
    monkeypatch.setattr(onnx_backend, "_export_into", real)
    first = onnx_backend.export_model(resolve_model(str(copy)), models_dir)
    (copy / "config_sentence_transformers.json").write_text((copy / "config_sentence_transformers.json").read_text())
    assert onnx_backend.cache_folder(resolve_model(str(copy)), models_dir) != first


def test_models_prepare_exports_ahead(models_dir: Path) -> None:
    result = CliRunner().invoke(app, ["models", "prepare", "minilm", "--models-dir", str(models_dir)])
    assert result.exit_code == 0, result.output
    assert "ONNX export" in result.output and "ready" in result.output


def test_a_gpu_device_needs_the_torch_backend() -> None:
    with pytest.raises(ValueError, match="set backend='torch'"):
        Settings(device="cuda")
    assert Settings(device="cuda", backend="torch").backend == "torch"
