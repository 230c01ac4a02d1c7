"""schemathesis against the app's own OpenAPI schema: generated requests, valid and not,
never get a server error, and every error has the documented JSON body."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from jsonschema import Draft202012Validator
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
)
from tests.conftest import HashEmbedder

from semcat.api import create_app
from semcat.config import Settings
from semcat.engine import Engine

_DATA = Path(tempfile.mkdtemp(prefix="semcat-schemathesis-"))
# microbatch off: schemathesis drives the app from its own event loop
_SETTINGS = Settings(data_dir=_DATA, microbatch=False, max_batch=16, max_body_bytes=64 * 1024)
app = create_app(_SETTINGS, engine=Engine(_SETTINGS, embedder=HashEmbedder()))
# 413 (over the body's byte limit or the work budget, both server settings no schema states)
# is a documented answer to a request whether or not the schema allows it
# schemathesis's "constants" analysis (literals read from the app's Python source, mixed into
# generation) makes the draws depend on what earlier tests ran: hypothesis stopped the stateful
# machine as flaky, and the literals ignore the parameters' schemas
CONFIG = SchemathesisConfig.from_dict(
    {
        "analysis": {"constants": {"enabled": False}},
        "checks": {
            "negative_data_rejection": {"expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]},
            "positive_data_acceptance": {"expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "413"]},
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
POSITIVE_DATA = next(c for c in CHECKS.get_all() if c.__name__ == "positive_data_acceptance")


@pytest.fixture(scope="module", autouse=True)
def running_app() -> Iterator[None]:
    with TestClient(app) as client:
        items = [
            {"id": "w1", "title": "analog wrist watch", "category": "Watches > Wrist"},
            {"id": "b1", "title": "baby cotton romper", "category": "Baby Care"},
            {"id": "u1", "title": "unlabeled lamp"},
        ]
        assert client.post("/products", json={"items": items}).status_code == 200
        yield
    shutil.rmtree(_DATA, ignore_errors=True)


STATELESS_CALLS: list[str] = []
HELD_TO_ACCEPTANCE: list[bool] = []  # per generated request: was "a valid request is accepted" asked of it


# routes whose body is a file read by its content (a photo, a catalog): random bytes are
# schema-valid and rightly refused, so "a schema-valid request is accepted" is not asked of them
UPLOADS = {"POST /categorize/image", "POST /similar/image", "POST /reviews"}


def _carries_photo(body: Any) -> bool:
    """A JSON body with a base64 photo: whether it decodes to an image (and whether the model
    reads images) is not something a schema can say either."""
    if not isinstance(body, dict):
        return False
    items = body.get("items") if isinstance(body.get("items"), list) else []
    return body.get("image_base64") is not None or any(
        isinstance(i, dict) and i.get("image_base64") is not None for i in items
    )


OPENAPI = app.openapi()


def _valid_inputs(case: schemathesis.Case) -> bool:
    """Whether the request is valid under the schema, judged by jsonschema. schemathesis's
    fuzzer draws some values it marks valid without honouring their pattern (ids with C0/C1
    controls under the id pattern, in bodies and paths alike); a request the schema refuses
    is no test of "a valid request is accepted", and the other checks still run on it."""
    raw = case.operation.definition.raw
    for parameter in raw.get("parameters", ()):
        given = {"path": case.path_parameters, "query": case.query}.get(parameter["in"]) or {}
        value = given.get(parameter["name"])
        if isinstance(value, str) and parameter["in"] == "path":
            value = unquote(value)
        if value is not None and not Draft202012Validator(parameter["schema"]).is_valid(value):
            return False
    content = raw.get("requestBody", {}).get("content", {})
    if "application/json" not in content or not isinstance(case.body, dict | list):
        return True
    body_schema = {**content["application/json"]["schema"], "components": OPENAPI["components"]}
    return bool(Draft202012Validator(body_schema).is_valid(case.body))


@schema.parametrize()
@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)
def test_every_check(case: schemathesis.Case) -> None:
    """Every schemathesis check: no server error, answers and statuses as the schema says,
    and a request the schema allows is accepted (the schema carries the validators' rules:
    ids, texts, categories, cursors); every error has the documented body."""
    key = f"{case.method} {case.path}"
    held = key not in UPLOADS and not _carries_photo(case.body) and _valid_inputs(case)
    excluded = [] if held else [POSITIVE_DATA]
    response = case.call_and_validate(excluded_checks=excluded)
    STATELESS_CALLS.append(key)
    HELD_TO_ACCEPTANCE.append(held)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"}, body


# GET /products lists what earlier cases stored (state outside hypothesis): chained through
# its ids, replays of a sequence draw differently and hypothesis stops as "flaky". The
# listing is generated stateless above; the sequences chain through the ids written.
class Sequences(schema.exclude(operation_id="list_products").as_state_machine()):  # type: ignore[misc]
    """Sequences of calls chained through the ids they return (PUT/POST a product, then
    GET, PUT, PATCH, DELETE it, categorize, ...): no sequence gets a server error, and
    every error keeps the documented body."""

    def validate_response(self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any) -> None:
        STATEFUL_CALLS.append(f"{case.method} {case.path}")
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
        )
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "detail"}, response.text


STATEFUL_CALLS: list[str] = []
TestSequences = Sequences.TestCase
TestSequences.settings = hypothesis.settings(
    max_examples=40,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)


class Catalog(RuleBasedStateMachine):
    """Sequences of PUT / DELETE / GET / categorize with hostile values, checked against a
    model of what was acknowledged: no 5xx, every acknowledged write readable with what was
    written, every acknowledged delete gone."""

    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.client = TestClient(app)
        self.model: dict[str, str | None] = {}

    @rule(target=ids, pid=st.one_of(st.sampled_from(["p1", "p/2", "p 3", "é4"]), st.text(min_size=1, max_size=30)))
    def new_id(self, pid: str) -> str:
        return pid

    @rule(
        pid=ids,
        title=st.text(max_size=60),
        category=st.one_of(
            st.none(), st.sampled_from(["Watches", "Baby Care > Toys", "A > B > C"]), st.text(max_size=40)
        ),
        attributes=st.one_of(
            st.none(), st.text(max_size=40), st.dictionaries(st.text(max_size=5), st.text(max_size=5))
        ),
    )
    def put(self, pid: str, title: str, category: str | None, attributes: object) -> None:
        body = {"title": title, "category": category, "attributes": attributes}
        response = self.client.put(f"/products/{quote(pid, safe='')}", json=body)
        STATEFUL_CALLS.append("PUT /products/{id} (machine)")
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            stored = self.client.get(f"/products/{quote(pid, safe='')}").json()
            self.model[stored["id"]] = stored["category"]

    @rule(pid=ids)
    def delete(self, pid: str) -> None:
        response = self.client.delete(f"/products/{quote(pid, safe='')}")
        STATEFUL_CALLS.append("DELETE /products/{id} (machine)")
        assert response.status_code in (204, 404, 422), response.text
        if response.status_code == 204:
            self.model = {k: v for k, v in self.model.items() if k != pid.strip()}

    @rule(text=st.text(max_size=60), k=st.integers(min_value=-2, max_value=20))
    def categorize(self, text: str, k: int) -> None:
        response = self.client.post("/categorize", json={"title": text, "k": k})
        STATEFUL_CALLS.append("POST /categorize (machine)")
        assert response.status_code < 500, response.text

    @invariant()
    def acknowledged_writes_are_there(self) -> None:
        for pid, category in self.model.items():
            got = self.client.get(f"/products/{quote(pid, safe='')}")
            assert got.status_code == 200 and got.json()["category"] == category, (pid, got.text)


TestCatalogSequences = Catalog.TestCase
TestCatalogSequences.settings = hypothesis.settings(
    max_examples=30,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)


def test_sequences_reached_the_product_routes() -> None:
    """Runs after TestSequences (file order): the chains did exercise reads and writes."""
    if not STATEFUL_CALLS:
        pytest.skip("run with the stateful test (pytest tests/unit/test_api_schemathesis.py)")
    from collections import Counter

    print(
        f"schemathesis: {len(STATELESS_CALLS)} generated requests, {sum(HELD_TO_ACCEPTANCE)} held to every check "
        f"(the others: uploads, photos, or values the schema refuses); sequences: {len(STATEFUL_CALLS)} calls"
    )
    print(Counter(STATEFUL_CALLS))
    assert any(call.startswith(("PUT /products", "POST /products")) for call in STATEFUL_CALLS)
