"""The OpenAPI schema documents what the API does: every request body and every answer has
an example (the JSON ones recorded from real calls, and still matching their schemas), and
the statuses a route answers beyond the defaults are listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from semcat.api import create_app
from semcat.config import Settings


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return create_app(Settings(data_dir=Path(tmp_path_factory.mktemp("openapi")))).openapi()


def operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{m.upper()} {p}", op) for p, methods in schema["paths"].items() for m, op in methods.items()]


def test_every_request_body_and_answer_has_an_example(schema: dict[str, Any]) -> None:
    missing = []
    for key, operation in operations(schema):
        for kind, content in operation.get("requestBody", {}).get("content", {}).items():
            if "example" not in content:
                missing.append(f"{key} request {kind}")
        for status, answer in operation["responses"].items():
            for kind, content in answer.get("content", {}).items():
                if "example" not in content:
                    missing.append(f"{key} {status} {kind}")
    assert not missing, missing


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def test_the_recorded_examples_match_their_schemas(schema: dict[str, Any]) -> None:
    """A field renamed or added as required since the examples were recorded fails here:
    run scripts/openapi_examples.py again."""
    for key, operation in operations(schema):
        bodies = [
            (c.get("schema", {}), c.get("example"))
            for c in operation.get("requestBody", {}).get("content", {}).values()
        ]
        bodies += [
            (c.get("schema", {}), c.get("example"))
            for answer in operation["responses"].values()
            for kind, c in answer.get("content", {}).items()
            if kind == "application/json"
        ]
        for node, example in bodies:
            node = _resolve(schema, node)
            if node.get("type") == "array" and isinstance(example, list):
                node, example = _resolve(schema, node["items"]), (example[0] if example else {})
            properties = node.get("properties")
            if not properties or not isinstance(example, dict):
                continue
            assert set(example) <= set(properties), (key, set(example) - set(properties))
            assert set(node.get("required", ())) <= set(example), (key, set(node["required"]) - set(example))


def test_statuses_beyond_the_defaults_are_listed(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    assert {"409", "503"} <= set(paths["/categorize"]["post"]["responses"])
    assert "409" in paths["/reviews/{sid}/items/{position}"]["post"]["responses"]
    assert "409" in paths["/audit"]["post"]["responses"]
    assert "503" in paths["/ready"]["get"]["responses"]


def test_the_key_appears_where_the_server_asks_for_one(tmp_path: Path) -> None:
    """A server with a key names it on its write routes (and their 401); one without keys
    (a local service) takes every call without one, and its schema says so."""
    keyed = create_app(Settings(data_dir=tmp_path, api_key="k3y")).openapi()
    put = keyed["paths"]["/products/{product_id}"]["put"]
    assert "security" in put and "401" in put["responses"] and "APIKeyHeader" in keyed["components"]["securitySchemes"]
    ready = keyed["paths"]["/ready"]["get"]
    assert "security" not in ready and "401" not in ready["responses"]  # it answers without a key
    open_ = create_app(Settings(data_dir=tmp_path)).openapi()
    put = open_["paths"]["/products/{product_id}"]["put"]
    assert "security" not in put and "401" not in put["responses"] and "securitySchemes" not in open_["components"]


def test_every_property_is_described(schema: dict[str, Any]) -> None:
    bare = [
        f"{name}.{prop}"
        for name, component in schema["components"]["schemas"].items()
        for prop, node in component.get("properties", {}).items()
        if not node.get("description")
    ]
    assert not bare, bare


def test_the_schema_offers_photos_only_where_the_model_reads_them(tmp_path: Path) -> None:
    """A text model answers a photo (or the image modality) with 422, so its schema offers
    neither; a CLIP model's schema takes a photo alone as a product."""
    import jsonschema
    from tests.conftest import HashEmbedder, PixelEmbedder

    from semcat.engine import Engine

    for embedder, photos in ((HashEmbedder(), False), (PixelEmbedder(), True)):
        settings = Settings(data_dir=tmp_path / str(photos))
        spec = create_app(settings, engine=Engine(settings, embedder=embedder)).openapi()
        body = {**spec["components"]["schemas"]["CategorizeRequest"], "components": spec["components"]}
        valid = jsonschema.Draft202012Validator(body).is_valid
        assert valid({"title": "steel mug"}) and not valid({"title": "\u200b"})  # nothing visible: no text
        assert valid({"image_base64": "iVBORw0KGgo="}) is photos
        assert valid({"items": [{"image_base64": "iVBORw0KGgo="}]}) is photos
        modality = spec["components"]["schemas"]["CategorizeRequest"]["properties"]["modality"]["anyOf"][0]["enum"]
        assert modality == (["text", "image", "both"] if photos else ["text"])
