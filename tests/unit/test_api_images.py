"""Image input on the HTTP API: base64 in JSON and multipart uploads, never a server path."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder, PixelEmbedder, write_image

from semcat.api import create_app
from semcat.catalog import Product
from semcat.config import Settings
from semcat.engine import Engine


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for i in range(4):
        write_image(root / f"shoe{i}.jpg", (220 - 10 * i, 20, 20))
        write_image(root / f"bag{i}.jpg", (20, 30, 220 - 10 * i))
    return root


@pytest.fixture
def client(tmp_path: Path, photos: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", images_root=photos)
    engine = Engine(settings, embedder=PixelEmbedder())
    products = [Product(id=f"s{i}", title="nice item", image=f"shoe{i}.jpg", category=("Shoes",)) for i in range(4)]
    products += [Product(id=f"b{i}", title="nice thing", image=f"bag{i}.jpg", category=("Bags",)) for i in range(4)]
    engine.index(products, progress=False)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_categorize_with_a_base64_photo(client: TestClient, tmp_path: Path) -> None:
    red = write_image(tmp_path / "q.jpg", (210, 25, 25))
    r = client.post("/categorize", json={"title": "nice", "image_base64": b64(red)})
    assert r.status_code == 200, r.text
    pred = r.json()["predictions"][0]
    assert pred["category"] == "Shoes" and pred["modality"] == "both"
    assert {n["space"] for n in pred["neighbors"]} == {"text", "image"}
    only = client.post("/categorize", json={"image_base64": "data:image/jpeg;base64," + b64(red), "modality": "image"})
    assert only.status_code == 200 and only.json()["predictions"][0]["modality"] == "image"
    batch = client.post(
        "/categorize", json={"items": [{"title": "nice thing"}, {"image_base64": b64(red)}], "method": "knn"}
    )
    assert [p["modality"] for p in batch.json()["predictions"]] == ["text", "image"]


def test_multipart_uploads(client: TestClient, tmp_path: Path) -> None:
    blue = write_image(tmp_path / "q.png", (25, 35, 215), fmt="PNG")
    with blue.open("rb") as fh:
        r = client.post("/categorize/image", files={"image": ("q.png", fh, "image/png")}, data={"k": "3"})
    assert r.status_code == 200, r.text
    pred = r.json()["predictions"][0]
    assert pred["category"] == "Bags" and len(pred["neighbors"]) == 3
    with blue.open("rb") as fh:
        s = client.post("/similar/image", files={"image": ("q.png", fh, "image/png")}, data={"k": "2"})
    assert s.status_code == 200 and [h["product"]["category"] for h in s.json()["results"]] == ["Bags", "Bags"]
    j = client.post("/similar", json={"image_base64": b64(blue), "k": 1})
    assert j.json()["results"][0]["id"] == s.json()["results"][0]["id"]


def test_bad_images_are_clear_422s_and_nothing_is_read_from_server_paths(client: TestClient, photos: Path) -> None:
    bad = client.post("/categorize", json={"title": "x", "image_base64": "%%%"})
    assert bad.status_code == 422 and "items[0].image_base64 is not valid base64" in bad.json()["detail"]
    junk = client.post("/categorize", json={"image_base64": base64.b64encode(b"GIF89a broken").decode()})
    assert junk.status_code == 422 and "image" in junk.json()["detail"]
    up = client.post("/categorize/image", files={"image": ("x.jpg", b"not an image", "image/jpeg")})
    assert up.status_code == 422 and up.json()["error"] == "invalid_image"
    # a server path is just invalid base64, never opened
    path = client.post("/similar", json={"image_base64": str(photos / "shoe0.jpg")})
    assert path.status_code == 422
    both = client.post("/similar", json={"text": "x", "image_base64": b64(photos / "shoe0.jpg")})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    no_image = client.post("/categorize", json={"title": "nice", "modality": "image"})
    assert no_image.status_code == 422 and "has no image" in no_image.json()["detail"]


def test_text_model_service_refuses_images(tmp_path: Path, photos: Path) -> None:
    settings = Settings(data_dir=tmp_path / "text")
    engine = Engine(settings, embedder=HashEmbedder())
    engine.index([Product(id="a", title="red shoe", category=("Shoes",))], progress=False)
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.post("/categorize", json={"title": "shoe", "image_base64": b64(photos / "shoe0.jpg")})
        assert r.status_code == 422 and "embeds text only" in r.json()["detail"]
        assert c.post("/categorize", json={"title": "red shoe"}).json()["predictions"][0]["category"] == "Shoes"


def test_stored_photos_are_served_by_id_from_the_images_root_only(client: TestClient, photos: Path) -> None:
    photo = client.get("/images/s0")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.content == (photos / "shoe0.jpg").read_bytes()
    assert client.get("/images/nope").status_code == 404
    # a product whose stored image reference leaves the root is never read
    outside = photos.parent / "secret.jpg"
    outside.write_bytes((photos / "shoe0.jpg").read_bytes())
    engine = client.app.state.engine  # type: ignore[attr-defined]
    engine.store().update_payloads(["s1"], [{**engine.store().get(["s1"])[0].payload, "image": "../secret.jpg"}])
    refused = client.get("/images/s1")
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
