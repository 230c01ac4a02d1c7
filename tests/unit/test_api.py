"""The HTTP API in-process (FastAPI TestClient, hash embedder, FAISS in a temp dir)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder

from semcat.api import create_app
from semcat.config import Settings
from semcat.engine import Engine

CATALOG = [
    ("w1", "Titan analog wrist watch steel strap", "Watches > Wrist Watches"),
    ("w2", "Casio digital wrist watch rubber strap", "Watches > Wrist Watches"),
    ("w3", "Fastrack analog watch leather strap", "Watches > Wrist Watches"),
    ("b1", "Baby cotton romper soft snap buttons", "Baby Care > Infant Wear"),
    ("b2", "Baby diapers size 3 soft absorbent", "Baby Care > Diapers"),
    ("b3", "Baby cotton bib soft feeding", "Baby Care > Infant Wear"),
]


def make_client(tmp_path: Path, **overrides: Any) -> TestClient:
    settings = Settings(data_dir=tmp_path, **overrides)
    engine = Engine(settings, embedder=HashEmbedder())
    return TestClient(create_app(settings, engine=engine))


def test_categorize_one_and_a_batch(client: TestClient) -> None:
    one = client.post("/categorize", json={"title": "analog wrist watch with leather strap"})
    assert one.status_code == 200
    pred = one.json()["predictions"][0]
    assert pred["main_category"] == "Watches" and pred["category"] == "Watches > Wrist Watches"
    assert pred["levels"][0]["level"] == 1 and 0 < pred["score"] <= 1
    assert {n["id"] for n in pred["neighbors"]} <= {i for i, _, _ in CATALOG}
    assert one.json()["model"] == "test-hash"
    batch = client.post(
        "/categorize",
        json={"items": [{"title": "baby romper cotton"}, {"title": "steel watch", "description": "analog"}], "k": 3},
    )
    preds = batch.json()["predictions"]
    assert [p["main_category"] for p in preds] == ["Baby Care", "Watches"]
    assert all(len(p["neighbors"]) == 3 for p in preds)


def test_validation_errors_name_the_field(client: TestClient) -> None:
    r = client.post("/categorize", json={"items": [{"title": "ok"}, {"title": "  ", "description": ""}]})
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"
    assert "items.1" in r.json()["detail"] and "title or description" in r.json()["detail"]
    r = client.post("/categorize", json={"title": "watch", "k": 0})
    assert r.status_code == 422 and "k:" in r.json()["detail"]
    r = client.post("/categorize", json={"title": "watch", "method": "telepathy"})
    assert r.status_code == 422 and "method" in r.json()["detail"]
    r = client.post("/categorize", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = client.post("/similar", json={"text": "x", "id": "w1"})
    assert r.status_code == 422 and "exactly one" in r.json()["detail"]


def test_limits_give_413(tmp_path: Path) -> None:
    with make_client(tmp_path, max_batch=2, max_body_bytes=2048) as c:
        r = c.post("/categorize", json={"items": [{"title": "a"}] * 3})
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
        r = c.post("/categorize", json={"title": "x" * 3000})
        assert r.status_code == 413 and "2048 bytes" in r.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"title": "'
            yield b"y" * 4000
            yield b'"}'

        r = c.post("/categorize", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_products_crud_and_404(client: TestClient) -> None:
    r = client.put("/products/n1", json={"title": "Wooden toy train", "category": ["Toys", "Trains"]})
    assert r.json() == {"id": "n1", "status": "created"}
    assert client.get("/products/n1").json()["category"] == "Toys > Trains"
    assert "text_hash" not in client.get("/products/n1").json()
    assert (
        client.put("/products/n1", json={"title": "Wooden toy train", "category": "Toys > Trains"}).json()["status"]
        == "unchanged"
    )
    assert client.put("/products/n1", json={"title": "Wooden toy train", "category": "Toys"}).json()["status"] == (
        "relabeled"
    )
    assert client.put("/products/n1", json={"title": "Plastic toy train"}).json()["status"] == "updated"
    assert client.delete("/products/n1").status_code == 204
    for method, path in (("get", "/products/n1"), ("delete", "/products/n1")):
        r = client.request(method, path)
        assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": "no stored product with id 'n1'"}
    r = client.post("/similar", json={"id": "nope"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert client.get("/no/such/route").json()["error"] == "not_found"


def test_attributes_are_stored_and_count_as_text(client: TestClient) -> None:
    body = {
        "title": "Ceramic mug",
        "attributes": {"Volume": "350 ml", "Colors": ["Red", "Blue"]},
        "category": "Kitchen",
    }
    assert client.put("/products/m1", json=body).json()["status"] == "created"
    assert client.get("/products/m1").json()["attributes"] == "Volume: 350 ml; Colors: Red, Blue"
    body["attributes"] = [{"key": "Volume", "value": "500 ml"}]
    assert client.put("/products/m1", json=body).json()["status"] == "updated"  # re-embedded
    one = client.post("/categorize", json={"title": "mug", "attributes": "Volume: 350 ml"})
    assert one.status_code == 200 and one.json()["predictions"][0]["main_category"]
    r = client.post("/categorize", json={"title": "mug", "attributes": 12})
    assert r.status_code == 422 and "attributes" in r.text


def test_batch_upsert_reports_duplicates(client: TestClient) -> None:
    r = client.post(
        "/products",
        json={"items": [{"id": "d", "title": "first"}, {"id": "e", "title": "other"}, {"id": "d", "title": "second"}]},
    )
    body = r.json()
    assert (body["received"], body["new"], body["duplicate_ids"]) == (3, 2, ["d"])
    assert client.get("/products/d").json()["title"] == "second"


def test_feedback_loop_relabel_changes_next_prediction(client: TestClient) -> None:
    query = {"title": "Casio digital wrist watch rubber strap", "k": 3}
    assert client.post("/categorize", json=query).json()["predictions"][0]["main_category"] == "Watches"
    r = client.put(
        "/products/w2", json={"title": "Casio digital wrist watch rubber strap", "category": "Sports > Gear"}
    )
    assert r.json()["status"] == "relabeled"
    pred = client.post("/categorize", json=query).json()["predictions"][0]
    assert pred["main_category"] == "Sports"
    assert pred["neighbors"][0] == {
        "id": "w2",
        "score": pytest.approx(1.0, abs=1e-4),
        "category": "Sports > Gear",
        "title": "Casio digital wrist watch rubber strap",
        "space": "text",
        "image": False,  # no photo stored: the page does not ask for one
    }


def test_similar_categories_health_ready(client: TestClient) -> None:
    r = client.post("/similar", json={"text": "baby cotton", "k": 2, "category": "Baby Care"})
    results = r.json()["results"]
    assert len(results) == 2 and all(h["product"]["category"].startswith("Baby Care") for h in results)
    by_id = client.post("/similar", json={"id": "w1", "k": 10}).json()["results"]
    assert "w1" not in [h["id"] for h in by_id] and len(by_id) == 5
    cats = client.get("/categories").json()
    assert cats["categories"] == [{"category": "Baby Care", "count": 3}, {"category": "Watches", "count": 3}]
    assert client.get("/categories", params={"level": 2}).json()["categories"][0] == {
        "category": "Watches > Wrist Watches",
        "count": 3,
    }
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["products"] == 6


def test_api_key_guards_writes_only(tmp_path: Path) -> None:
    with make_client(tmp_path, api_key="s3cret") as c:
        r = c.put("/products/x", json={"title": "A lamp"})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert c.put("/products/x", json={"title": "A lamp"}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert (
            c.put(
                "/products/x", json={"title": "A lamp", "category": "Home"}, headers={"X-API-Key": "s3cret"}
            ).status_code
            == 200
        )
        assert c.delete("/products/x").status_code == 401
        assert c.post("/categorize", json={"title": "lamp"}).status_code == 200  # reads stay open
        assert c.get("/products/x").status_code == 200


def test_cors_off_unless_configured(tmp_path: Path) -> None:
    headers = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    with make_client(tmp_path / "a") as c:
        assert "access-control-allow-origin" not in c.options("/categorize", headers=headers).headers
    with make_client(tmp_path / "b", cors_origins="https://shop.example") as c:
        r = c.options("/categorize", headers=headers)
        assert r.headers["access-control-allow-origin"] == "https://shop.example"


def test_empty_store_categorize_is_a_409_not_a_500(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:
        r = c.post("/categorize", json={"title": "anything"})
        assert r.status_code == 409 and r.json()["error"] == "empty_index"


def test_reads_during_writes_see_whole_products(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def product(i: int) -> dict:
        return {"title": f"item {i} kind {'lamp' if i % 2 else 'mug'}", "category": "Lamps" if i % 2 else "Mugs"}

    with make_client(tmp_path) as c:

        def write(i: int) -> int:
            return c.put(f"/products/c{i}", json=product(i)).status_code

        def read(i: int) -> None:
            r = c.get(f"/products/c{i}")
            if r.status_code == 200:  # never half a product: title and label always agree
                body = r.json()
                assert ("lamp" in body["title"]) == (body["category"] == "Lamps"), body
            else:
                assert r.status_code == 404
            p = c.post("/categorize", json={"title": "item kind lamp"})
            assert p.status_code in (200, 409), p.text  # 409 only before the first labeled write

        with ThreadPoolExecutor(8) as pool:
            writes = [pool.submit(write, i) for i in range(40)]
            reads = [pool.submit(read, i % 40) for i in range(80)]
            assert all(f.result() == 200 for f in writes)
            for f in reads:
                f.result()
        assert c.get("/categories").json()["products"] == 40


def test_categorize_methods(client: TestClient) -> None:
    for method in ("knn", "zero-shot", "hybrid"):
        r = client.post("/categorize", json={"title": "baby cotton romper", "method": method})
        assert r.status_code == 200, r.text
        pred = r.json()["predictions"][0]
        assert pred["method"] == method and pred["main_category"] == "Baby Care"


def test_the_saved_head_is_loaded_at_startup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restarted server has the linear head `semcat index` left, before any request,
    without retraining it."""
    import threading

    from semcat.catalog import Product
    from semcat.categorize.head import LinearHead

    settings = Settings(data_dir=tmp_path)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        assert engine.head() is not None  # what `semcat index` does at the end
    trained: list[int] = []
    real_init = LinearHead.__init__

    def counting_init(self: LinearHead, *args: Any, **kwargs: Any) -> None:
        trained.append(1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(LinearHead, "__init__", counting_init)
    with make_client(tmp_path) as c:
        for thread in threading.enumerate():
            if thread.name == "semcat-head-warmup":
                thread.join(timeout=30)
        head = c.app.state.engine._heads._head  # type: ignore[attr-defined]
        assert head is not None and head[1] is not None and head[1].products == len(CATALOG)
        response = c.post("/categorize", json={"title": "steel analog watch"})
        assert response.status_code == 200 and response.json()["predictions"][0]["main_category"] == "Watches"
    assert not trained


def test_the_server_keeps_the_garbage_collector_out_of_requests(tmp_path: Path) -> None:
    """While it serves, what the server loaded is frozen out of collections and young
    collections are rarer (the pauses were the slowest reads under writes); after, the
    process is as it was."""
    import gc

    from semcat.api.collector import SERVING_THRESHOLDS

    before = gc.get_threshold()
    with make_client(tmp_path) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_threshold() == SERVING_THRESHOLDS and gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
