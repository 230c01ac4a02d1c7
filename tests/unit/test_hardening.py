"""Every bad input found by the attack campaign is a clear 4xx (HTTP) or a row report /
one line (CLI), and nothing already stored is lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder
from typer.testing import CliRunner

from semcat.api import create_app
from semcat.catalog import Product, read_catalog
from semcat.cli import app as cli
from semcat.config import Settings
from semcat.engine import Engine
from semcat.errors import InvalidInputError
from semcat.limits import MAX_CATEGORY_DEPTH, MAX_NESTING

DEEP_TEXT = '{"a":' * 3000 + "1" + "}" * 3000  # JSON inside a string, 3000 levels
CATALOG = [
    ("w1", "Titan analog wrist watch steel strap", "Watches > Wrist Watches"),
    ("w2", "Casio digital wrist watch rubber strap", "Watches > Wrist Watches"),
    ("b1", "Baby cotton romper soft snap buttons", "Baby Care > Infant Wear"),
    ("b2", "Baby diapers size 3 soft absorbent", "Baby Care > Diapers"),
]


def make_client(tmp_path: Path, **overrides: object) -> TestClient:
    settings = Settings(data_dir=tmp_path, **overrides)  # type: ignore[arg-type]
    engine = Engine(settings, embedder=HashEmbedder())
    engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
    return TestClient(create_app(settings, engine=engine), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


def stored_intact(client: TestClient) -> None:
    """What was stored before the bad requests is all still there and still votes."""
    for pid, _, category in CATALOG:
        got = client.get(f"/products/{pid}")
        assert got.status_code == 200 and got.json()["category"] == category
    pred = client.post("/categorize", json={"title": "analog wrist watch"}).json()["predictions"][0]
    assert pred["main_category"] == "Watches"


def test_a_deep_category_is_refused_at_every_door(client: TestClient, tmp_path: Path) -> None:
    deep = " > ".join(["x"] * 2000)
    put = client.put("/products/deep", json={"title": "mug", "category": deep})
    assert put.status_code == 422 and f"has 2,000 levels; the limit is {MAX_CATEGORY_DEPTH}" in put.json()["detail"]
    assert put.json()["detail"].startswith("category:")
    batch = client.post(
        "/products", json={"items": [{"id": "ok", "title": "mug"}, {"id": "d", "title": "mug", "category": ["x"] * 50}]}
    )
    assert batch.status_code == 422 and "items.1.category" in batch.json()["detail"]
    long_level = client.put("/products/long", json={"title": "mug", "category": "A > " + "y" * 5000})
    assert long_level.status_code == 422 and "a level of 5,000 characters" in long_level.json()["detail"]
    assert client.get("/products/deep").status_code == 404 and client.get("/products/ok").status_code == 404
    stored_intact(client)
    # the Python door and the CLI readers apply the same rule
    with pytest.raises(InvalidInputError, match="levels; the limit is"):
        Product.build(id="p", title="mug", category=deep)
    path = tmp_path / "deep.csv"
    path.write_text(f"id,title,category\n1,mug,{deep}\n2,cup,Kitchen > Cups\n")
    report = read_catalog(path)
    assert [p.id for p in report.products] == ["2"]
    assert report.rejected[0].row == 2 and "2,000 levels" in report.rejected[0].reason


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/categorize", {"title": "mug", "attributes": DEEP_TEXT}),
        ("post", "/categorize", {"items": [{"title": "mug"}, {"title": "mug", "attributes": DEEP_TEXT}]}),
        ("put", "/products/x1", {"title": "mug", "attributes": DEEP_TEXT}),
        ("post", "/products", {"items": [{"id": "x2", "title": "mug", "attributes": DEEP_TEXT}]}),
    ],
)
def test_deeply_nested_attributes_are_a_422(client: TestClient, method: str, url: str, body: dict) -> None:
    response = getattr(client, method)(url, json=body)
    assert response.status_code == 422, response.text
    assert "attributes" in response.json()["detail"] and "nested more than" in response.json()["detail"]
    stored_intact(client)


def test_a_body_nested_past_the_parser_is_a_422(client: TestClient) -> None:
    raw = '{"title": "mug", "attributes": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    response = client.post("/categorize", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422) and "error" in response.json()
    nested = '{"title": "mug", "attributes": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}"
    too_deep = client.post("/categorize", content=nested, headers={"Content-Type": "application/json"})
    assert too_deep.status_code == 422 and f"nested more than {MAX_NESTING}" in too_deep.json()["detail"]


def test_non_ascii_api_keys_are_compared_not_crashed(tmp_path: Path) -> None:
    with make_client(tmp_path / "a", api_key="change-me") as c:
        wrong = c.put("/products/k", json={"title": "mug"}, headers={"X-API-Key": b"\xe9"})
        assert wrong.status_code == 401
    with make_client(tmp_path / "b", api_key="clé") as c:
        assert c.put("/products/k", json={"title": "mug"}, headers={"X-API-Key": "cle"}).status_code == 401
        right = c.put("/products/k", json={"title": "mug"}, headers={"X-API-Key": "clé".encode()})
        assert right.status_code == 200, right.text


def test_ids_follow_one_rule_everywhere(client: TestClient) -> None:
    slash = client.post("/products", json={"items": [{"id": "AB/12", "title": "usb cable", "category": "Tech"}]})
    assert slash.status_code == 200
    assert client.get("/products/AB/12").json()["id"] == "AB/12"
    assert client.get("/products/AB%2F12").json()["id"] == "AB/12"
    assert (
        client.put("/products/AB/12", json={"title": "usb cable", "category": "Cables"}).json()["status"] == "relabeled"
    )
    assert client.delete("/products/AB/12").status_code == 204
    long = client.put("/products/" + "x" * 3000, json={"title": "mug"})
    assert long.status_code == 422 and "id has 3,000 characters; the limit is 512" in long.json()["detail"]
    batch = client.post("/products", json={"items": [{"id": "x" * 600, "title": "mug"}]})
    assert batch.status_code == 422 and "items.0.id" in batch.json()["detail"]
    stored_intact(client)


def test_minor_request_problems_are_clear(client: TestClient) -> None:
    boolean = client.post("/categorize", json={"title": "mug", "k": True})
    assert boolean.status_code == 422 and "k" in boolean.json()["detail"]
    junk = client.post("/categorize", json={"title": "mug", "image_base64": "R0lGODlhAQABAIAAAP///wAAACw="})
    assert junk.status_code == 422 and "object at 0x" not in junk.json()["detail"]
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["store"] == "faiss" and "/" not in ready["store"]
    schema = client.get("/openapi.json").json()
    for path, method in (
        ("/products/{product_id}", "put"),
        ("/products", "post"),
        ("/products/{product_id}", "delete"),
    ):
        assert "401" in schema["paths"][path][method]["responses"], (path, method)


def test_ready_shows_where_the_store_lives_only_with_the_key(tmp_path: Path) -> None:
    with make_client(tmp_path, api_key="k3y") as c:
        assert str(tmp_path) not in c.get("/ready").text
        assert str(tmp_path) in c.get("/ready", headers={"X-API-Key": "k3y"}).json()["store"]


def test_jsonl_rows_with_objects_where_text_belongs_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    rows = [
        {"id": "1", "title": {"en": "mug"}, "category": "Kitchen"},
        {"id": ["2"], "title": "cup", "category": "Kitchen"},
        {"id": "3", "title": "plate", "category": "Kitchen"},
        {"id": "4", "title": "bowl", "description": "d" * 10_000_000, "category": "Kitchen"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + DEEP_TEXT + "\n")
    report = read_catalog(path)
    assert [p.id for p in report.products] == ["3"]
    reasons = {r.row: r.reason for r in report.rejected}
    assert reasons[1] == "title is an object, not text" and reasons[2] == "id is a list, not text"
    assert reasons[4] == "description has 10,000,000 characters; the limit is 50,000"
    assert "nested more than" in reasons[5]


def test_cli_paths_that_cannot_work_are_one_line_before_the_work(tmp_path: Path) -> None:
    runner = CliRunner()
    catalog = tmp_path / "c.csv"
    catalog.write_text("id,title,category\n1,red mug,Kitchen\n")
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    for args, message in (
        (["categorize", "-f", str(catalog), "-o", str(tmp_path / "nope" / "p.jsonl")], "does not exist"),
        (["categorize", "-f", str(catalog), "-o", str(tmp_path)], "is a folder"),
        (["index", str(catalog), "--data-dir", str(a_file / "sub"), "-q"], "cannot create the FAISS store folder"),
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_index_says_when_nothing_is_labeled_and_can_refuse(tmp_path: Path, cli_hash_model: HashEmbedder) -> None:
    catalog = tmp_path / "c.csv"
    catalog.write_text("sku,name,main_cat\n1,red mug,Kitchen\n2,blue cup,Kitchen\n")
    runner = CliRunner()
    plain = runner.invoke(cli, ["index", str(catalog), "--data-dir", str(tmp_path / "d1"), "-q"])
    assert plain.exit_code == 0 and "no category column was found (columns: sku, name, main_cat)" in plain.output
    strict = runner.invoke(cli, ["index", str(catalog), "--data-dir", str(tmp_path / "d2"), "--require-labels"])
    assert strict.exit_code == 1 and "nothing was indexed (--require-labels)" in strict.output
    assert not (tmp_path / "d2").exists()
    mapped = runner.invoke(
        cli, ["index", str(catalog), "--data-dir", str(tmp_path / "d3"), "--category-col", "main_cat"]
    )
    assert mapped.exit_code == 0 and "no product has a category" not in mapped.output


def test_models_dir_before_the_subcommand_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import semcat.embedding.e5_convert as e5
    import semcat.embedding.onnx as onnx_backend

    seen: list[Path] = []
    monkeypatch.setattr(e5, "prepare_e5_small", lambda target, overwrite=False: seen.append(target) or target)
    monkeypatch.setattr(onnx_backend, "export_model", lambda model, models_dir, force=False: seen.append(models_dir))
    monkeypatch.setattr("semcat.embedding.registry.resolve_model", lambda name, models_dir=None: name)
    result = CliRunner().invoke(cli, ["models", "--models-dir", str(tmp_path / "m"), "prepare", "e5-small"])
    assert result.exit_code == 0, result.output
    assert seen[0].parent == tmp_path / "m" and seen[1] == tmp_path / "m"  # the folder and its ONNX export


def test_serve_on_a_public_address_without_a_key_is_refused_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "refusing to serve on 0.0.0.0 without an API key" in result.output


def test_bracketed_names_print_as_written(tmp_path: Path, cli_hash_model: HashEmbedder) -> None:
    """Rich markup in catalog data ([Kids], [/x]) is text, not a style or a crash."""
    catalog = tmp_path / "c.csv"
    catalog.write_text("id,title,category\n1,[/bold] toy car,Toys > [Kids]\n2,toy truck,Toys > [Kids]\n")
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "d")]
    assert runner.invoke(cli, ["index", str(catalog), "-q", *data]).exit_code == 0
    one = runner.invoke(cli, ["categorize", "[/bold] toy car", *data])
    assert one.exit_code == 0 and "Toys > [Kids]" in one.output and "[/bold] toy car" in one.output
    table = runner.invoke(cli, ["categorize", "-f", str(catalog), *data])
    assert table.exit_code == 0 and "[Kids]" in table.output
    info = runner.invoke(cli, ["info", "--level", "2", *data])
    assert info.exit_code == 0 and "[Kids]" in info.output
