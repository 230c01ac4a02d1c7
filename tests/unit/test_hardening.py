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
    assert response.status_code == 422 and "error" in response.json()
    array = "[" * 1_000_000 + "]" * 1_000_000  # was a 400 "There was an error parsing the body"
    deepest = client.post("/categorize", content=array, headers={"Content-Type": "application/json"})
    assert deepest.status_code == 422 and deepest.json()["detail"] == "the request body is nested too deeply"
    nested = '{"title": "mug", "attributes": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}"
    too_deep = client.post("/categorize", content=nested, headers={"Content-Type": "application/json"})
    assert too_deep.status_code == 422 and f"nested more than {MAX_NESTING}" in too_deep.json()["detail"]


def test_non_ascii_api_keys_are_compared_not_crashed(tmp_path: Path) -> None:
    with make_client(tmp_path / "a", api_key="change-me") as c:
        wrong = c.put("/products/k", json={"title": "mug"}, headers={"X-API-Key": b"\xe9"})
        assert wrong.status_code == 401
    # a key the page could not send as curl does (the browser sends Latin-1, curl UTF-8) is
    # refused at start, in one line, instead of answering "wrong key" to the right one
    for key, named in (("clé", "SEMCAT_API_KEY"), ("two words", "SEMCAT_API_KEY")):
        with pytest.raises(ValueError, match=f"{named}: 1 to 512 printable ASCII characters"):
            Settings(data_dir=tmp_path, api_key=key)
    with pytest.raises(ValueError, match="the key named 'ops': 1 to 512 printable ASCII"):
        Settings(data_dir=tmp_path, api_keys="ops:mañana")
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(tmp_path)], env={"SEMCAT_API_KEY": "clé"})
    assert result.exit_code != 0 and "printable ASCII" in result.output and "Traceback" not in result.output


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


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("SKU%09001", "control character (U+0009)"),  # a tab: was stored as "SKU 001"
        ("SKU%C2%85001", "control character (U+0085)"),  # NEL
        ("%20SKU001", "starts or ends with whitespace"),
        ("SKU001%20", "starts or ends with whitespace"),
        ("SKU%FF001", "not valid UTF-8"),  # bytes that are not UTF-8: read as U+FFFD
        ("SKU%E2%80%AE100", "invisible format character (U+202E)"),  # right-to-left override
        ("SKU%E2%80%8B001", "invisible format character (U+200B)"),  # zero-width space
        ("%EF%BB%BFSKU001", "invisible format character (U+FEFF)"),  # BOM
    ],
)
def test_an_id_that_would_alias_or_spoof_is_refused_not_rewritten(client: TestClient, raw: str, problem: str) -> None:
    put = client.put(f"/products/{raw}", json={"title": "steel mug", "category": "Kitchen > Mugs"})
    assert put.status_code == 422 and problem in put.json()["detail"], put.text
    assert client.get(f"/products/{raw}").status_code == 422
    stored_intact(client)


def test_every_accepted_id_is_reachable_byte_for_byte(client: TestClient, tmp_path: Path) -> None:
    one, two = "SKU 001", "SKU  001"  # two spaces inside: another id, not the same one rewritten
    for pid, title in ((one, "steel mug"), (two, "glass mug")):
        assert client.put(f"/products/{pid}", json={"title": title, "category": "Kitchen > Mugs"}).json() == {
            "id": pid,
            "status": "created",
        }
    assert client.get(f"/products/{one}").json()["title"] == "steel mug"
    assert client.get(f"/products/{two}").json()["title"] == "glass mug"
    nfd, nfc = "Cafe\u0301-1", "Caf\u00e9-1"  # one text, two spellings: one product, stored in NFC
    assert client.put(f"/products/{nfd}", json={"title": "coffee cup"}).json()["id"] == nfc
    assert client.get(f"/products/{nfc}").json()["id"] == nfc and client.get(f"/products/{nfd}").json()["id"] == nfc
    tab = client.post("/products", json={"items": [{"id": "SKU\t9", "title": "mug"}]})
    assert tab.status_code == 422 and "items.0.id" in tab.json()["detail"] and "U+0009" in tab.json()["detail"]
    with pytest.raises(InvalidInputError, match="starts or ends with whitespace"):
        Product.build(id=" p1", title="mug")
    # ids no URL reaches: clients drop "." and ".." segments, and "<id>/history" is the history route
    for pid, problem in ((".", "cannot be read back"), ("..", "cannot be read back"), ("A/history", "history")):
        refused = client.post("/products", json={"items": [{"id": pid, "title": "mug"}]})
        assert refused.status_code == 422 and problem in refused.json()["detail"], pid
    assert client.put("/products/...", json={"title": "mug"}).status_code == 200  # three dots are a name
    path = tmp_path / "ids.csv"
    path.write_text("id,title\nSKU  7,mug\n SKU8,cup\nSKU\u200b9,bowl\n", encoding="utf-8")
    report = read_catalog(path)
    assert [p.id for p in report.products] == ["SKU  7"]
    assert [(r.row, r.reason.split(": ", 1)[-1]) for r in report.rejected] == [
        (3, "id starts or ends with whitespace"),
        (4, "id contains an invisible format character (U+200B)"),
    ]
    stored_intact(client)


@pytest.mark.parametrize(
    ("category", "problem"),
    [
        ("Kitchen >> Mugs > Ceramic", "holds '>', the path separator"),  # was stored as 2 levels, listed as 3
        (["Kitchen", "Mugs > Ceramic"], "holds '>', the path separator"),
        (" > > >> | ", "holds '>', the path separator"),  # was accepted, then predicted at 1.0
        ("Kitchen > --", "has no letter or digit"),
        (" >> >> ", "has no level name, only separators"),
        ("Kitchen > > Mugs", "has an empty level between two separators"),
    ],
)
def test_a_category_whose_levels_would_not_read_back_is_refused(
    client: TestClient, tmp_path: Path, category: str | list[str], problem: str
) -> None:
    put = client.put("/products/sep", json={"title": "ceramic mug", "category": category})
    assert put.status_code == 422 and problem in put.json()["detail"], put.text
    assert client.get("/products/sep").status_code == 404
    if isinstance(category, str):
        path = tmp_path / "cats.csv"
        path.write_text(f'id,title,category\n1,mug,"{category}"\n2,cup,Kitchen > Cups > \n', encoding="utf-8")
        report = read_catalog(path)
        assert [(p.id, p.category) for p in report.products] == [("2", ("Kitchen", "Cups"))]  # a trailing ">" is fine
        assert report.rejected[0].row == 2 and problem in report.rejected[0].reason
    stored_intact(client)


def test_invisible_text_is_no_text_and_control_characters_read_as_spaces(client: TestClient, tmp_path: Path) -> None:
    for title in ("\u0085", "\u200b\u200b\u200b", "\u202e \ufeff"):
        put = client.put("/products/inv", json={"title": title, "category": "Kitchen"})
        assert put.status_code == 422 and "non-empty title or description" in put.json()["detail"], (title, put.text)
        cat = client.post("/categorize", json={"title": title})
        assert cat.status_code == 422, (title, cat.text)  # was categorized at 1.0 as a near-duplicate
    assert client.put("/products/nul", json={"title": "steel\u0000mug", "category": "Kitchen"}).status_code == 200
    assert client.get("/products/nul").json()["title"] == "steel mug"
    path = tmp_path / "nul.csv"
    path.write_text("id,title\n1,glass\u0000cup\n2,\u200b\n", encoding="utf-8")
    report = read_catalog(path)
    assert [p.title for p in report.products] == ["glass cup"]
    assert report.rejected[0].row == 3 and "no text" in report.rejected[0].reason
    assert Product.build(id="p", title="bowl\x07 set").title == "bowl set"
    stored_intact(client)


def test_a_costly_categorize_call_is_refused_before_the_work(client: TestClient) -> None:
    """The campaign's amplification (256 items at k 1,000 and top_n 100, no key: 38.8 s and
    63 MB answered) is a 413 naming the budget; the answer lists 10 neighbors unless asked."""
    items = [{"title": f"steel watch {i}"} for i in range(256)]
    huge = client.post("/categorize", json={"items": items, "k": 1000, "top_n": 100})
    assert huge.status_code == 413, huge.text
    assert "256,000 neighbors (256 items x k 1000); the limit is 25,600 per call" in huge.json()["detail"]
    assert "SEMCAT_MAX_REQUEST_NEIGHBORS" in huge.json()["detail"]
    listed = client.post("/categorize", json={"items": items, "top_n": 100})
    assert listed.status_code == 413 and "alternatives (256 items x top_n 100)" in listed.json()["detail"]
    one = client.post("/categorize", json={"title": "analog wrist watch", "k": 1000, "top_n": 100})
    assert one.status_code == 200  # one product may ask for a lot
    assert len(one.json()["predictions"][0]["neighbors"]) == 4  # every stored product voted; 10 listed at most
    few = client.post("/categorize", json={"title": "analog wrist watch", "neighbors": 1}).json()["predictions"][0]
    assert len(few["neighbors"]) == 1
    assert client.post("/categorize", json={"title": "mug", "neighbors": 101}).status_code == 422
    stored_intact(client)


def test_a_call_past_its_time_budget_stops_and_says_how_far_it_got(tmp_path: Path) -> None:
    """SEMCAT_REQUEST_TIME_S: a batch is worked a chunk at a time; once the budget has
    passed, the rest is not started (the embedder sees only the first chunk's texts) and
    the answer is a 503 naming how far it got. Within the budget, the same batch answers."""
    items = [{"title": f"steel watch {i}"} for i in range(100)]
    with make_client(tmp_path / "tight", request_time_s=1e-9) as c:
        embedder = c.app.state.engine.model.embedder  # type: ignore[attr-defined]
        seen = embedder.texts_seen
        over = c.post("/categorize", json={"items": items})
        assert over.status_code == 503 and over.json()["error"] == "over_time_budget", over.text
        assert "after 32 of 100 products" in over.json()["detail"] and "SEMCAT_REQUEST_TIME_S" in over.json()["detail"]
        assert embedder.texts_seen - seen == 32  # the other 68 were never embedded
        assert c.post("/categorize", json={"title": "analog wrist watch"}).status_code == 200  # one chunk: done
    with make_client(tmp_path / "roomy") as c:
        answered = c.post("/categorize", json={"items": items}).json()["predictions"]
        assert len(answered) == 100 and answered[0]["main_category"] == "Watches"


def test_keyless_callers_share_a_bounded_number_of_products_in_flight(tmp_path: Path) -> None:
    """With keys set, callers without one wait their turn past SEMCAT_MAX_KEYLESS_ITEMS (503
    with Retry-After when the turn does not come); a caller with the key never waits."""
    from semcat.api.deps import KeylessItems

    with make_client(tmp_path, api_key="k3y", max_keyless_items=2) as c:
        keyless = c.app.state.keyless  # type: ignore[attr-defined]
        assert isinstance(keyless, KeylessItems) and keyless.limit == 2
        keyless.used, keyless.wait_s = 2, 0.2  # two products in flight for others
        busy = c.post("/categorize", json={"title": "analog wrist watch"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5", busy.text
        assert "retry shortly or send the API key" in busy.json()["detail"]
        keyed = c.post("/categorize", json={"title": "analog wrist watch"}, headers={"X-API-Key": "k3y"})
        assert keyed.status_code == 200
        keyless.used = 0
        assert c.post("/categorize", json={"title": "analog wrist watch"}).status_code == 200
        assert keyless.used == 0  # given back


def test_head_options_and_the_key_scheme_follow_http(client: TestClient) -> None:
    for path in ("/health", "/ready", "/"):
        head = client.head(path)
        assert head.status_code == 200 and head.content == b"", path  # was 405
    options = client.options("/products/x")
    assert options.status_code == 204 and options.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"
    assert client.options("/categorize").headers["allow"] == "OPTIONS, POST"
    assert client.options("/products/x/history").headers["allow"] == "GET, HEAD, OPTIONS"  # not the product's
    assert client.put("/products/x/history", json={"title": "t"}).status_code == 405
    nothing = client.post("/categorize", json={"title": "mug", "category": "Garden"})
    assert nothing.status_code == 404 and "no labeled product under the category filter 'Garden'" in nothing.text


def test_every_answer_carries_the_browser_security_headers(client: TestClient) -> None:
    for method, path in (("get", "/"), ("get", "/health"), ("post", "/categorize"), ("get", "/docs")):
        answer = getattr(client, method)(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    page = client.get("/").headers["content-security-policy"]
    assert "script-src 'self';" in page and "unsafe-inline" not in page
    docs = client.get("/docs")
    assert "cdn" not in docs.text and "/static-docs/swagger-ui-bundle.js" in docs.text
    assert client.get("/static-docs/swagger-ui-bundle.js").status_code == 200
    assert "/static-docs/redoc.standalone.js" in client.get("/redoc").text


def test_minor_request_problems_are_clear(client: TestClient) -> None:
    boolean = client.post("/categorize", json={"title": "mug", "k": True})
    assert boolean.status_code == 422 and "k" in boolean.json()["detail"]
    assert client.post("/categorize", json={"title": "mug", "k": 3.0}).status_code == 200  # an integer to JSON Schema
    fraction = client.post("/categorize", json={"title": "mug", "k": 3.5})
    assert fraction.status_code == 422 and "whole number" in fraction.json()["detail"]
    blank = client.post("/similar", json={"text": "mug", "category": " "})
    assert blank.status_code == 422 and "category is empty" in blank.json()["detail"]  # as /categorize answers
    nowhere = client.post("/categorize", json={"title": "mug", "category": "Garden", "method": "zero-shot"})
    assert nowhere.status_code == 404, nowhere.text  # as the vote answers a filter nothing is under (was 422)
    junk = client.post("/categorize", json={"title": "mug", "image_base64": "R0lGODlhAQABAIAAAP///wAAACw="})
    assert junk.status_code == 422 and "object at 0x" not in junk.json()["detail"]
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["store"] == "faiss" and "/" not in ready["store"]


def test_a_keyed_server_lists_401_on_its_write_routes(tmp_path: Path) -> None:
    with make_client(tmp_path, api_key="k3y") as c:
        schema = c.get("/openapi.json").json()
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


def test_the_cli_names_what_it_cannot_read_and_categorizes_every_row(
    tmp_path: Path, cli_hash_model: HashEmbedder
) -> None:
    import gzip
    import zipfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "d")]
    catalog = tmp_path / "c.csv"
    catalog.write_text(
        "id,title,category,image\n1,red mug,Kitchen,../../etc/passwd\n"
        "2,blue cup,Kitchen,a.jpg\n3,steel watch,Watches,\n"
    )
    indexed = runner.invoke(cli, ["index", str(catalog), *data])
    assert indexed.exit_code == 0, indexed.output
    assert "1 image references leave the images root" in indexed.output and "'1' (../../etc/passwd)" in indexed.output
    # a repeated id: every row is categorized (5 of 10 were dropped)
    new = tmp_path / "new.csv"
    new.write_text("id,title\n" + "".join(f"{i % 5},mug number {i}\n" for i in range(10)))
    answer = runner.invoke(cli, ["categorize", "--file", str(new), "--json", *data])
    assert answer.exit_code == 0, answer.output
    rows = [json.loads(line) for line in answer.stdout.splitlines() if line.startswith("{")]
    assert [r["title"] for r in rows] == [f"mug number {i}" for i in range(10)]
    assert "5 ids on 5 extra rows; each row is categorized" in answer.output
    # an unterminated quote names the lines it swallowed
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('id,title\n1,red mug\n2,"blue cup\n3,steel watch\n4,glass bowl\n')
    swallowed = runner.invoke(cli, ["categorize", "--file", str(quoted), "--json", *data])
    assert "row 3: a quote opened on line 3 is never closed: lines 3-5" in swallowed.output
    # compressed files and UTF-16 without a byte-order mark
    packed = tmp_path / "packed.csv"
    packed.write_bytes(gzip.compress(catalog.read_bytes()))
    gz = runner.invoke(cli, ["categorize", "--file", str(packed), *data])
    assert gz.exit_code != 0 and "packed.csv is gzip-compressed: gunzip it first" in gz.output
    with zipfile.ZipFile(tmp_path / "sheet.csv", "w") as archive:
        archive.writestr("x.csv", "id,title\n1,mug\n")
    zipped = runner.invoke(cli, ["categorize", "--file", str(tmp_path / "sheet.csv"), *data])
    assert "sheet.csv is a ZIP archive" in zipped.output and "Traceback" not in zipped.output
    wide = tmp_path / "wide.csv"
    wide.write_bytes("id,title\n1,red mug\n".encode("utf-16-le"))
    assert [p.title for p in read_catalog(wide).products] == ["red mug"]  # was "no text column", garbled names
    # an integer title column with a null (pandas stores it as float): "123", not "123.0"
    table = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "title": pa.array([123.0, None])}), table)
    assert [p.title for p in read_catalog(table).products] == ["123"]
