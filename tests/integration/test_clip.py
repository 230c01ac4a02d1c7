"""CLIP through open_clip with the real ViT-B-32 architecture at random init.

No pretrained CLIP weights can be obtained on the machines these tests run on, so the
weights are random (seeded): these tests check the pipeline (shapes, normalization,
preprocessing, batching, weights files, offline errors, indexing flipkart-1050 texts
and photos end to end), not accuracy. The commands are the ones real weights use:
only ``--clip-pretrained`` differs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests.conftest import FLIPKART_CSV, FLIPKART_IMAGES, write_image
from typer.testing import CliRunner

from semcat.cli import app
from semcat.errors import ModelError

pytestmark = pytest.mark.integration
MISSING_PHOTOS = {
    "22ac36ba254a68d7dd6173f099771147",
    "994f1d8ade16b9fddce3c127eb7f38ed",
    "c4ac93e194281d6d1450ffdaa52f5f99",
}


@pytest.fixture(scope="module")
def clip() -> Any:
    from semcat.embedding.clip import ClipEmbedder

    return ClipEmbedder("ViT-B-32", "random")


def test_clip_embeds_texts_and_images_into_one_normalized_space(clip: Any, tmp_path: Path) -> None:
    assert clip.dim == 512 and clip.supports_images
    assert clip.name == "open_clip:ViT-B-32:random-seed0"
    texts = ["a red running shoe", "stainless steel pressure cooker", "baby cotton romper " * 200]  # > 77 tokens
    vectors = clip.encode_texts(texts)
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # batching does not change a vector
    assert np.allclose(clip.encode_texts(texts, batch_size=1), vectors, atol=1e-5)
    # photos of any size and mode are preprocessed to the model's 224x224 input
    images = [
        Image.open(write_image(tmp_path / "a.jpg", (200, 10, 10), size=(640, 480))).convert("RGB"),
        Image.open(write_image(tmp_path / "b.png", (10, 10, 200), size=(50, 300), fmt="PNG")).convert("RGB"),
        Image.new("RGB", (224, 224), (0, 255, 0)),
    ]
    assert tuple(clip.preprocess(images[1]).shape) == (3, 224, 224)
    pictures = clip.encode_images(images)
    assert pictures.shape == (3, 512)
    assert np.allclose(np.linalg.norm(pictures, axis=1), 1.0, atol=1e-5)
    assert np.allclose(clip.encode_images(images, batch_size=2), pictures, atol=1e-5)
    assert not np.allclose(pictures[0], pictures[1])


def test_random_weights_are_the_same_in_every_process(clip: Any) -> None:
    """Indexing and querying run in different processes: seeded init gives one model."""
    from semcat.embedding.clip import ClipEmbedder

    again = ClipEmbedder("ViT-B-32", "random")
    assert np.allclose(again.encode_texts(["leather wallet"]), clip.encode_texts(["leather wallet"]), atol=1e-6)


def test_a_local_weights_file_loads(clip: Any, tmp_path: Path) -> None:
    """SEMCAT_CLIP_PRETRAINED=/path/to/weights: the path real weights take."""
    import torch

    from semcat.embedding.clip import ClipEmbedder

    weights = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(clip._model.state_dict(), weights)
    loaded = ClipEmbedder("ViT-B-32", str(weights))
    assert loaded.name == f"open_clip:ViT-B-32:file:open_clip_pytorch_model.bin:{weights.stat().st_size}"
    assert np.allclose(loaded.encode_texts(["garden hose"]), clip.encode_texts(["garden hose"]), atol=1e-5)
    weights.unlink()
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match=r"cannot load .*broken.bin as open_clip ViT-B-32 weights"):
        ClipEmbedder("ViT-B-32", str(broken))
    with pytest.raises(ModelError, match="does not exist"):
        ClipEmbedder("ViT-B-32", str(tmp_path / "nowhere.bin"))


def test_offline_without_weights_is_one_clear_sentence() -> None:
    from semcat.embedding.clip import ClipEmbedder

    with pytest.raises(ModelError) as info:
        ClipEmbedder("ViT-B-32", "laion2b_s34b_b79k")
    message = str(info.value)
    assert "cannot be downloaded" in message and "SEMCAT_CLIP_PRETRAINED=/path/to" in message
    assert "\n" not in message and message.count(". ") == 0
    with pytest.raises(ModelError, match="no pretrained tag 'nope'"):
        ClipEmbedder("ViT-B-32", "nope")
    with pytest.raises(ModelError, match="unknown open_clip architecture"):
        ClipEmbedder("ViT-Q-99", "random")


def test_cli_indexes_flipkart_texts_and_photos_end_to_end(tmp_path: Path) -> None:
    """`semcat index --model clip --images-root ...` on all of flipkart-1050, then
    categorize and search by photo: the same commands real weights would use."""
    if not FLIPKART_IMAGES.is_dir():
        pytest.skip(f"flipkart photos not found at {FLIPKART_IMAGES}")
    runner = CliRunner()
    clip = ["--model", "clip", "--clip-pretrained", "random", "--data-dir", str(tmp_path / "data")]
    result = runner.invoke(
        app, ["index", str(FLIPKART_CSV), *clip, "--images-root", str(FLIPKART_IMAGES), "--json", "--batch-size", "64"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["indexed"] == 1050 and summary["images"] == 1047
    assert summary["warnings"] == 3
    assert {m.split("'")[1] for m in summary["warning_messages"]} == MISSING_PHOTOS
    assert all("indexed text-only" in m for m in summary["warning_messages"])

    info = json.loads(runner.invoke(app, ["info", "--data-dir", str(tmp_path / "data"), "--json"]).stdout)
    assert info["model"] == "open_clip:ViT-B-32:random-seed0"
    assert info["spaces"]["text"]["vectors"] == 1050 and info["spaces"]["image"]["vectors"] == 1047

    # a re-run embeds nothing (photos hashed, not re-encoded)
    again = runner.invoke(app, ["index", str(FLIPKART_CSV), *clip, "--images-root", str(FLIPKART_IMAGES), "--json"])
    assert json.loads(again.stdout)["indexed"] == 0

    # a stored product's photo finds that product first, by image search and by the image vote
    photo = next(p for p in sorted(FLIPKART_IMAGES.glob("*.jpg")))
    product_id = photo.stem
    hits = json.loads(runner.invoke(app, ["similar", "--image", str(photo), *clip, "-k", "3", "--json"]).stdout)
    assert hits[0]["id"] == product_id and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    pred = json.loads(
        runner.invoke(app, ["categorize", "--image", str(photo), "--modality", "image", *clip, "--json"]).stdout
    )
    assert pred["modality"] == "image" and pred["neighbors"][0]["id"] == product_id
    assert pred["neighbors"][0]["space"] == "image" and pred["near_duplicate"]
    both = runner.invoke(app, ["categorize", "cotton bath towel", "--image", str(photo), *clip, "--json"])
    assert both.exit_code == 0 and json.loads(both.stdout)["modality"] == "both"

    # a file of new products with photos (one missing: categorized by its text, with a warning)
    subset = tmp_path / "new.csv"
    lines = FLIPKART_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    subset.write_text("".join(lines[:6]), encoding="utf-8")
    shutil.copytree(FLIPKART_IMAGES, tmp_path / "photos", ignore=lambda d, names: names[40:])
    out = tmp_path / "pred.jsonl"
    batch = runner.invoke(
        app, ["categorize", "--file", str(subset), *clip, "--images-root", str(tmp_path / "photos"), "-o", str(out)]
    )
    assert batch.exit_code == 0, batch.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5 and {r["modality"] for r in rows} <= {"both", "text"}
