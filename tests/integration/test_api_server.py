"""The real service: uvicorn on a free localhost port, real MiniLM, flipkart-1050
indexed, every endpoint driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import FLIPKART_CSV, serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    if not FLIPKART_CSV.exists():
        pytest.skip(f"catalog not found at {FLIPKART_CSV}")
    with serving(tmp_path_factory.mktemp("api-data"), FLIPKART_CSV, SEMCAT_API_KEY="test-key") as url:
        client = httpx.Client(base_url=url, timeout=60)
        try:
            yield client
        finally:
            client.close()


KEY = {"X-API-Key": "test-key"}


def test_service_endpoints(server: httpx.Client) -> None:
    assert server.get("/health").json() == {"status": "ok"}
    ready = server.get("/ready").json()
    assert ready["products"] == 1050 and ready["model"] == "sentence-transformers/all-MiniLM-L6-v2@int8"
    assert server.get("/docs").status_code == 200
    assert "/categorize" in server.get("/openapi.json").json()["paths"]
    cats = server.get("/categories").json()
    assert len(cats["categories"]) == 7 and {c["count"] for c in cats["categories"]} == {150}

    batch = server.post(
        "/categorize",
        json={
            "items": [
                {"title": "Stainless steel analog wrist watch for men"},
                {"title": "Soft cotton baby romper", "description": "snap buttons, 6-12 months"},
                {"title": "Wireless optical mouse for laptop"},
            ]
        },
    ).json()["predictions"]
    assert [p["main_category"] for p in batch] == ["Watches", "Baby Care", "Computers"]
    assert all(len(p["neighbors"]) >= 10 and p["levels"] for p in batch)  # 10 by vector, then by words

    hits = server.post("/similar", json={"text": "cotton bath towel", "k": 3, "category": "Home Furnishing"}).json()
    assert len(hits["results"]) == 3
    assert all(h["product"]["category"].startswith("Home Furnishing") for h in hits["results"])
    first = hits["results"][0]["id"]
    by_id = server.post("/similar", json={"id": first, "k": 5}).json()["results"]
    assert len(by_id) == 5 and first not in [h["id"] for h in by_id]
    assert server.get(f"/products/{first}").json()["id"] == first

    assert server.get("/products/nope").status_code == 404
    r = server.post("/categorize", json={"items": [{"title": ""}]})
    assert r.status_code == 422 and "items.0" in r.json()["detail"]
    assert server.put("/products/x", json={"title": "no key"}).status_code == 401


def test_new_product_is_searchable_then_deleted(server: httpx.Client) -> None:
    body = {"title": "Handmade bamboo flute", "description": "Indian classical bansuri", "category": "Music > Flutes"}
    assert server.put("/products/flute-1", json=body, headers=KEY).json() == {"id": "flute-1", "status": "created"}
    hits = server.post("/similar", json={"text": "bamboo bansuri flute", "k": 1}).json()["results"]
    assert hits[0]["id"] == "flute-1"
    pred = server.post("/categorize", json={"title": "Handmade bamboo flute, bansuri"}).json()["predictions"][0]
    assert pred["main_category"] == "Music" and pred["near_duplicate"]
    assert server.delete("/products/flute-1", headers=KEY).status_code == 204
    assert server.get("/products/flute-1").status_code == 404


def test_feedback_loop_relabel_changes_the_next_prediction(server: httpx.Client) -> None:
    watch = server.post("/similar", json={"text": "analog wrist watch for men", "k": 1}).json()["results"][0]
    product = watch["product"]
    near_duplicate = {
        "title": product["title"],
        "description": product["description"] + " New listing.",
        "attributes": product["attributes"],
    }
    before = server.post("/categorize", json=near_duplicate).json()["predictions"][0]
    assert before["main_category"] == "Watches"

    # a PUT replaces the product: same text (attributes included), new label = a relabel
    relabel = {key: product[key] for key in ("title", "description", "attributes")}
    relabel["category"] = "Jewellery > Watches"
    r = server.put(f"/products/{product['id']}", json=relabel, headers=KEY)
    assert r.json()["status"] == "relabeled"
    after = server.post("/categorize", json=near_duplicate).json()["predictions"][0]
    assert after["category"] == "Jewellery > Watches" and after["near_duplicate"]
    assert after["neighbors"][0]["id"] == product["id"]


def test_worker_processes_follow_each_others_writes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`semcat serve --workers 2` (SEMCAT_WORKERS): two processes on one port, each with its
    own indexes; a write through either is found by searches through both, and the API key
    reached them (the settings travel to the workers)."""
    data = tmp_path_factory.mktemp("api-workers")
    with serving(data, FLIPKART_CSV, SEMCAT_API_KEY="test-key", SEMCAT_WORKERS="2") as url:
        log = (data / "server.log").read_text()
        assert log.count("Started server process") == 2, log
        for n in range(4):
            body = {"title": f"Zqxv{n} glazed ceramic teapot", "category": "Kitchen > Teapots"}
            with httpx.Client(base_url=url, timeout=60) as client:  # a new connection: either worker
                assert client.put(f"/products/pot-{n}", json=body).status_code == 401
                assert client.put(f"/products/pot-{n}", json=body, headers=KEY).json()["status"] == "created"
            for _ in range(6):
                with httpx.Client(base_url=url, timeout=60) as client:
                    hits = client.post("/similar", json={"text": body["title"], "k": 1}).json()["results"]
                    assert hits[0]["id"] == f"pot-{n}"
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.delete("/products/pot-0", headers=KEY).status_code == 204
        for _ in range(6):
            with httpx.Client(base_url=url, timeout=60) as client:
                hits = client.post("/similar", json={"text": "Zqxv0 glazed ceramic teapot", "k": 3}).json()["results"]
                assert "pot-0" not in {h["id"] for h in hits}
