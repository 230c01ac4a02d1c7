"""The label history: every label change, whatever wrote it, under the product's own id
(issue 31's mistaken-accept case through the API), and batch items that carry their ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder
from tests.unit.test_api import CATALOG
from typer.testing import CliRunner

from semcat.catalog import Product
from semcat.cli import app
from semcat.config import Settings
from semcat.engine import Engine, label_history
from semcat.errors import NotFoundError


def _history(client: TestClient, product_id: str) -> list[tuple[str | None, str | None, str]]:
    response = client.get(f"/products/{product_id}/history")
    assert response.status_code == 200, response.text
    return [(c["old"], c["new"], c["source"]) for c in response.json()["changes"]]


def test_a_mistaken_accept_corrected_answers_the_correction_and_both_changes_are_kept(client: TestClient) -> None:
    pack = {"title": "Pampers baby diaper pants pack of 60 soft absorbent"}
    # accepted by mistake: a diaper pack filed as a watch, under the catalog's own id
    wrong = client.put("/products/sku-77", json=pack | {"category": "Watches > Wrist Watches"})
    assert wrong.json()["status"] == "created"
    before = client.post("/categorize", json=pack).json()["predictions"][0]
    assert before["category"] == "Watches > Wrist Watches" and before["near_duplicate"]  # the mistake wins
    fixed = client.put("/products/sku-77", json=pack | {"category": "Baby Care > Diapers"})
    assert fixed.json()["status"] == "relabeled"
    after = client.post("/categorize", json=pack).json()["predictions"][0]
    assert after["category"] == "Baby Care > Diapers"
    assert [n["id"] for n in after["neighbors"]].count("sku-77") == 1  # no hidden copy votes beside it
    assert _history(client, "sku-77") == [
        (None, "Watches > Wrist Watches", "api"),
        ("Watches > Wrist Watches", "Baby Care > Diapers", "api"),
    ]
    changes = client.get("/products/sku-77/history").json()["changes"]
    assert changes[0]["seq"] < changes[1]["seq"] and changes[0]["at"] <= changes[1]["at"]


def test_the_history_records_only_changes_and_outlives_a_delete(client: TestClient) -> None:
    assert _history(client, "w1") == [(None, "Watches > Wrist Watches", "api")]
    same = {"title": dict((i, t) for i, t, _ in CATALOG)["w1"], "category": "Watches > Wrist Watches"}
    assert client.put("/products/w1", json=same).json()["status"] == "unchanged"
    retitled = same | {"title": same["title"] + " new edition"}
    assert client.put("/products/w1", json=retitled).json()["status"] == "updated"
    unlabeled = {"title": "a thing with no category yet"}
    assert client.put("/products/new-1", json=unlabeled).json()["status"] == "created"
    assert _history(client, "w1") == [(None, "Watches > Wrist Watches", "api")]  # text changes are not label changes
    assert client.delete("/products/w1").status_code == 204
    watch = "Watches > Wrist Watches"
    assert _history(client, "w1") == [(None, watch, "api"), (watch, None, "api")]
    missing = client.get("/products/never-stored/history")
    assert missing.status_code == 404 and "never-stored" in missing.json()["detail"]
    assert client.get("/products/new-1/history").json()["changes"] == []  # stored, never labeled


def test_ids_with_slashes_reach_their_history(client: TestClient) -> None:
    assert client.put("/products/acme/shoes/42", json={"title": "running shoe", "category": "Shoes"}).status_code == 200
    assert _history(client, "acme/shoes/42") == [(None, "Shoes", "api")]
    assert client.get("/products/acme/shoes/42").json()["category"] == "Shoes"


def test_semcat_index_records_its_label_changes_as_the_cli(tmp_path: Path, cli_hash_model: HashEmbedder) -> None:
    catalog = tmp_path / "catalog.csv"
    rows = ["id,title,category", *(f'{i},"{t}",{c}' for i, t, c in CATALOG)]
    catalog.write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(app, ["index", str(catalog), *data]).exit_code == 0
    rows[1] = rows[1].replace("Watches > Wrist Watches", "Watches > Smart Watches")
    catalog.write_text("\n".join(rows) + "\n")
    assert runner.invoke(app, ["index", str(catalog), *data]).exit_code == 0
    with Engine(Settings(data_dir=tmp_path / "data"), embedder=cli_hash_model) as engine:
        w1 = [(c.old, c.new, c.source) for c in label_history(engine, "w1")]
        wrist, smart = "Watches > Wrist Watches", "Watches > Smart Watches"
        assert w1 == [(None, wrist, "cli"), (wrist, smart, "cli")]
        assert len(label_history(engine, "w2")) == 1  # re-indexed unchanged: nothing new
        engine.upsert_products([Product(id="w2", title="casio watch", category=("Watches",))], via="python")
        assert label_history(engine, "w2")[-1].source == "python"
        with pytest.raises(NotFoundError):
            label_history(engine, "nope")


def test_batch_items_carry_their_ids(client: TestClient) -> None:
    items = [{"id": "SKU-1", "title": "baby romper cotton"}, {"title": "steel watch"}, {"id": "a/b", "title": "bib"}]
    predictions = client.post("/categorize", json={"items": items}).json()["predictions"]
    assert [p["id"] for p in predictions] == ["SKU-1", None, "a/b"]
    assert predictions[0]["main_category"] == "Baby Care"
    bad = client.post("/categorize", json={"items": [{"id": "", "title": "x"}]})
    assert bad.status_code == 422 and "id" in bad.text
    one = client.post("/categorize", json={"title": "steel watch"}).json()["predictions"][0]
    assert one["id"] is None


def test_products_are_listed_per_category_a_page_at_a_time(client: TestClient) -> None:
    first = client.get("/products", params={"category": "Baby Care", "limit": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["total"] == 3 and len(body["products"]) == 2 and body["next"]
    rest = client.get("/products", params={"category": "Baby Care", "limit": 2, "cursor": body["next"]}).json()
    assert rest["next"] is None
    listed = [p["id"] for p in body["products"] + rest["products"]]
    assert sorted(listed) == ["b1", "b2", "b3"]
    assert all(p["category"].startswith("Baby Care") for p in body["products"] + rest["products"])
    assert client.get("/products", params={"category": "Watches > Wrist Watches"}).json()["total"] == 3
    assert client.get("/products").json()["total"] == 6
    bad = client.get("/products", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert client.get("/products", params={"limit": 0}).status_code == 422


def test_a_relabel_keeps_the_product_and_records_the_named_key(tmp_path: Path) -> None:
    from tests.unit.test_api import make_client

    keys = "alice:key-of-alice,bob:key-of-bob"
    with make_client(tmp_path, api_keys=keys, api_key="plain-key") as c:
        item = {
            "id": "m1",
            "title": "Ceramic coffee mug",
            "description": "350 ml, dishwasher safe",
            "category": "Kitchen",
        }
        assert c.post("/products", json={"items": [item]}, headers={"X-API-Key": "key-of-bob"}).status_code == 200
        assert c.patch("/products/m1", json={"category": "Kitchen > Mugs"}).status_code == 401
        moved = c.patch("/products/m1", json={"category": "Kitchen > Mugs"}, headers={"X-API-Key": "key-of-alice"})
        assert moved.status_code == 200 and moved.json() == {"id": "m1", "status": "relabeled"}
        stored = c.get("/products/m1").json()
        assert stored["category"] == "Kitchen > Mugs" and stored["description"] == "350 ml, dishwasher safe"
        cleared = c.patch("/products/m1", json={"category": None}, headers={"X-API-Key": "plain-key"})
        assert cleared.status_code == 200
        changes = c.get("/products/m1/history").json()["changes"]
        assert [(ch["new"], ch["actor"]) for ch in changes] == [
            ("Kitchen", "bob"),
            ("Kitchen > Mugs", "alice"),
            (None, None),
        ]
        missing = c.patch("/products/nope", json={"category": "Kitchen"}, headers={"X-API-Key": "key-of-alice"})
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]
        assert c.patch("/products/m1", json={}, headers={"X-API-Key": "key-of-alice"}).status_code == 422


def test_named_keys_are_checked_when_set() -> None:
    assert Settings(api_keys="alice:k1, bob:k2").api_keys["bob"].get_secret_value() == "k2"
    assert Settings(api_keys="alice:k1").keyed and not Settings().keyed
    for bad, message in [
        ("alice", "has no key"),
        ("alice:k1,alice:k2", "given twice"),
        ("al ice:k1", "key name"),
        ("alice:k1,bob:k1", "share one key"),
    ]:
        with pytest.raises(ValueError, match=message):
            Settings(api_keys=bad)
    assert Settings(host="0.0.0.0", api_keys="alice:k1").exposure_problem() is None
    assert Settings.from_json(Settings(api_keys="alice:k1").to_json()).api_keys["alice"].get_secret_value() == "k1"
