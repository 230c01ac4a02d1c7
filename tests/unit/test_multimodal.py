"""Text + image products: named spaces, per-row image warnings, modality fusion.

PixelEmbedder stands in for CLIP here (fast, deterministic); the real open_clip
architecture runs in tests/integration/test_clip.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import HashEmbedder, PixelEmbedder, write_image

from semcat.catalog import Product
from semcat.categorize.vote import Vote, fuse
from semcat.config import Settings
from semcat.engine import Engine
from semcat.errors import InvalidInputError
from semcat.images import load_image
from semcat.search import IMAGE_SPACE

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 40), (30, 40, 220)


@pytest.fixture(params=["faiss", "qdrant"])
def photo_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Shoes are photographed on red, bags on blue; titles are deliberately vague."""
    root = tmp_path / "images"
    products = []
    for i in range(6):
        write_image(root / f"shoe{i}.jpg", (RED[0] - 10 * i, RED[1], RED[2]))
        write_image(root / f"bag{i}.jpg", (BLUE[0], BLUE[1], BLUE[2] - 10 * i))
        products.append(Product(id=f"s{i}", title=f"item {i} gift", image=f"shoe{i}.jpg", category=("Shoes",)))
        products.append(Product(id=f"b{i}", title=f"item {i} present", image=f"bag{i}.jpg", category=("Bags",)))
    store = {"store": "qdrant", "qdrant_url": ":memory:"} if request.param == "qdrant" else {}
    settings = Settings(data_dir=tmp_path / "data", images_root=root, **store)
    embedder = PixelEmbedder()
    engine = Engine(settings, embedder=embedder)
    summary = engine.index(products, progress=False)
    assert summary.images == 12 and not summary.warnings
    yield engine, root, embedder
    engine.close()


def test_products_get_text_and_image_vectors(photo_engine: Any) -> None:
    engine, _, _ = photo_engine
    spaces = engine.store().describe()["spaces"]
    assert spaces["text"]["vectors"] == 12 and spaces[IMAGE_SPACE]["vectors"] == 12


def test_missing_unsafe_and_corrupt_photos_are_warnings_and_text_only(tmp_path: Path) -> None:
    root = tmp_path / "images"
    write_image(root / "ok.jpg", GREEN)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    write_image(tmp_path / "outside.jpg", RED)
    products = [
        Product(id="ok", title="green lamp", image="ok.jpg", category=("Lamps",)),
        Product(id="gone", title="green lamp two", image="missing.jpg", category=("Lamps",)),
        Product(id="broken", title="green lamp three", image="broken.jpg", category=("Lamps",)),
        Product(id="escape", title="green lamp four", image="../outside.jpg", category=("Lamps",)),
        Product(id="none", title="green lamp five", category=("Lamps",)),
    ]
    embedder = PixelEmbedder()
    with Engine(Settings(data_dir=tmp_path / "data", images_root=root), embedder=embedder) as engine:
        summary = engine.index(products, progress=False)
        assert summary.embedded == 5 and summary.images == 1
        warned = " | ".join(summary.warnings)
        assert len(summary.warnings) == 3
        assert "'gone'" in warned and "not found under" in warned
        assert "'broken'" in warned and "image 'broken.jpg'" in warned
        assert "'escape'" in warned and "leaves the images root" in warned
        assert "indexed text-only" in warned
        store = engine.store()
        assert store.count() == 5
        assert {h.id for h in store.search(np.ones(64, dtype=np.float32) / 8, k=5, space=IMAGE_SPACE)} == {"ok"}
        assert set(store.get(["gone"], with_vectors=True)[0].vectors) == {"text"}
        # nothing changed: a re-run embeds nothing, images included
        again = engine.index(products, progress=False)
        assert again.embedded == 0 and embedder.images_seen == 1
        # the missing photo appears: only that product is embedded again, now with its image
        write_image(root / "missing.jpg", GREEN)
        fixed = engine.index(products, progress=False)
        assert fixed.embedded == 1 and fixed.images == 1
        assert set(store.get(["gone"], with_vectors=True)[0].vectors) == {"text", IMAGE_SPACE}


def test_a_replaced_photo_is_re_embedded(photo_engine: Any) -> None:
    engine, root, _ = photo_engine
    write_image(root / "shoe3.jpg", BLUE)  # same name, new content
    products = [Product(id="s3", title="item 3 gift", image="shoe3.jpg", category=("Shoes",))]
    summary = engine.index(products, progress=False)
    assert summary.changed == 1 and summary.images == 1
    hits = engine.similar(image=load_image(root / "bag0.jpg"), k=12)
    assert [h.id for h in hits].index("s3") < 7  # now among the blue photos


def test_modality_image_and_both(photo_engine: Any) -> None:
    engine, root, _ = photo_engine
    red = load_image(write_image(root / "query-red.jpg", (215, 25, 25)))
    query = Product(id="q", title="item gift present")  # the text is no help
    by_image = engine.categorize([query], images=[red], modality="image")[0]
    assert by_image.category == "Shoes" and by_image.modality == "image"
    assert all(n.space == "image" for n in by_image.neighbors)
    both = engine.categorize([query], images=[red], modality="both")[0]
    assert both.modality == "both" and both.category == "Shoes"
    assert {n.space for n in both.neighbors} == {"text", "image"}
    by_text = engine.categorize([query], images=[red], modality="text")[0]
    assert by_text.modality == "text"
    # an image-only query (no text at all) works in 'both'
    only_image = engine.categorize([Product(id="q2")], images=[red])[0]
    assert only_image.category == "Shoes" and only_image.modality == "image"
    # a batch mixing products with and without photos
    mixed = engine.categorize([query, Product(id="q3", title="item 2 present")], images=[red, None])
    assert [p.modality for p in mixed] == ["both", "text"]
    with pytest.raises(InvalidInputError, match="has no image"):
        engine.categorize([query], images=[None], modality="image")
    with pytest.raises(InvalidInputError, match="neither text nor an image"):
        engine.categorize([Product(id="empty")], images=[None])


def test_image_weight_decides_between_disagreeing_votes(photo_engine: Any, tmp_path: Path) -> None:
    engine, root, _ = photo_engine
    blue = load_image(write_image(root / "query-blue.jpg", (25, 35, 215)))
    query = Product(id="q", title="item 4 gift")  # the text matches a shoe, the photo a bag
    engine.settings.image_weight = 0.9
    assert engine.categorize([query], images=[blue])[0].category == "Bags"
    engine.settings.image_weight = 0.1
    assert engine.categorize([query], images=[blue])[0].category == "Shoes"


def test_fuse_weights_each_space_share() -> None:
    text = Vote({("A",): 3.0, ("B",): 1.0}, {("A",): 0.9, ("B",): 0.8}, [], False)
    image = Vote({("B",): 10.0}, {("B",): 0.7}, [], False)
    fused = fuse({"text": text, "image": image}, {"text": 0.5, "image": 0.5})
    assert fused.mass == pytest.approx({("A",): 0.375, ("B",): 0.625})
    # a space with no labeled neighbor abstains
    empty = Vote({}, {}, [], False)
    assert fuse({"text": text, "image": empty}, {"text": 0.5, "image": 0.5}).mass == pytest.approx(
        {("A",): 0.75, ("B",): 0.25}
    )


def test_zero_shot_uses_the_photo_against_category_prompts(photo_engine: Any) -> None:
    engine, root, _ = photo_engine
    red = load_image(root / "shoe0.jpg")
    prediction = engine.categorize([Product(id="q")], images=[red], method="zero-shot")[0]
    assert prediction.method == "zero-shot" and prediction.modality == "image"
    assert prediction.category in ("Shoes", "Bags")


def test_similar_by_photo_and_by_a_stored_products_photo(photo_engine: Any) -> None:
    engine, root, _ = photo_engine
    hits = engine.similar(image=load_image(root / "bag2.jpg"), k=3)
    assert hits[0].id == "b2" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(h.payload["category"] == "Bags" for h in hits)
    by_id = engine.similar(product_id="s1", k=3, space="image")
    assert "s1" not in {h.id for h in by_id} and all(h.id.startswith("s") for h in by_id)


def test_text_only_models_refuse_images_clearly(tmp_path: Path) -> None:
    with Engine(Settings(data_dir=tmp_path / "data"), embedder=HashEmbedder()) as engine:
        engine.index([Product(id="a", title="red shoe", category=("Shoes",))], progress=False)
        red = load_image(write_image(tmp_path / "r.jpg", RED))
        with pytest.raises(InvalidInputError, match="embeds text only: image queries need a CLIP model"):
            engine.categorize([Product(id="q", title="shoe")], images=[red])
        with pytest.raises(InvalidInputError, match="embeds text only"):
            engine.similar(image=red)
        assert engine.categorize([Product(id="q", title="red shoe")])[0].category == "Shoes"
