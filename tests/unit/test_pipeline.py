"""One pipeline: every option a request carries reaches the categorizer, for each method,
through the HTTP API, the CLI and the Python API alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder
from typer.testing import CliRunner

from semcat.api import create_app
from semcat.catalog import Product, read_catalog
from semcat.config import Settings
from semcat.engine import Engine, categorize_frame
from semcat.errors import InvalidInputError

# three main categories, two levels, enough products per category for the linear head
CATALOG = [
    ("w1", "Titan analog wrist watch steel strap", "Watches > Wrist Watches"),
    ("w2", "Casio digital wrist watch rubber strap", "Watches > Wrist Watches"),
    ("w3", "Fastrack analog watch leather strap", "Watches > Smart Watches"),
    ("w4", "Noise smart watch fitness band strap", "Watches > Smart Watches"),
    ("b1", "Baby cotton romper soft snap buttons", "Baby Care > Infant Wear"),
    ("b2", "Baby diapers size 3 soft absorbent", "Baby Care > Diapers"),
    ("b3", "Baby cotton bib soft feeding", "Baby Care > Infant Wear"),
    ("b4", "Baby diaper pants large soft", "Baby Care > Diapers"),
    ("k1", "Prestige steel pressure cooker 5 litre", "Kitchen > Cookware"),
    ("k2", "Hawkins aluminium pressure cooker", "Kitchen > Cookware"),
    ("k3", "Steel dinner plate set of six", "Kitchen > Dinnerware"),
    ("k4", "Ceramic dinner plates and bowls set", "Kitchen > Dinnerware"),
]
METHODS = ["knn", "zero-shot", "hybrid"]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path)
    engine = Engine(settings, embedder=HashEmbedder())
    engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def categorize(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/categorize", json={"title": "steel analog wrist watch", **body})
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]


@pytest.mark.parametrize("method", METHODS)
def test_top_n_reaches_every_categorizer(client: TestClient, method: str) -> None:
    """A request's top_n bounds every list of alternatives, whichever categorizer decides
    (before, the linear head and zero-shot listed the settings' top_n: 3 with top_n=1)."""
    for top_n in (1, 2):
        pred = categorize(client, method=method, top_n=top_n)
        assert pred["method"] == method
        assert 1 <= len(pred["top"]) <= top_n
        assert all(1 <= len(level["top"]) <= top_n for level in pred["levels"])


@pytest.mark.parametrize("method", METHODS)
def test_depth_and_category_reach_every_categorizer(client: TestClient, method: str) -> None:
    deep = categorize(client, method=method)
    shallow = categorize(client, method=method, depth=1)
    assert len(shallow["levels"]) == 1 and " > " not in shallow["category"]
    assert shallow["main_category"] == deep["main_category"]
    kitchen = categorize(client, method=method, category="Kitchen")
    assert kitchen["main_category"] == "Kitchen"  # the watch is placed within the subtree asked for


@pytest.mark.parametrize("method", ["knn", "hybrid"])
def test_k_reaches_the_vote(client: TestClient, method: str) -> None:
    for k in (2, 5):
        neighbors = categorize(client, method=method, k=k)["neighbors"]
        assert len([n for n in neighbors if n["space"] == "text"]) == k  # then those only the words found


def test_zero_shot_has_no_neighbors_whatever_k(client: TestClient) -> None:
    assert categorize(client, method="zero-shot", k=5)["neighbors"] == []


@pytest.mark.parametrize("method", METHODS)
def test_modality_reaches_every_categorizer(client: TestClient, method: str) -> None:
    assert categorize(client, method=method, modality="text")["modality"] == "text"
    # a text model: asking for the photo vote is refused, saying why
    refused = client.post("/categorize", json={"title": "watch", "method": method, "modality": "image"})
    assert refused.status_code == 422 and "embeds text only" in refused.json()["detail"]


def test_options_are_resolved_once_with_clear_errors(tmp_path: Path) -> None:
    with Engine(Settings(data_dir=tmp_path), embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        assert engine.options().k == 10 and engine.options(k=3).k == 3 and engine.options(k=None).k == 10
        for bad, message in (({"method": "magic"}, "unknown method"), ({"top_n": 0}, "top_n"), ({"kk": 1}, "kk")):
            with pytest.raises(InvalidInputError, match=message):
                engine.categorize([Product(id="q", title="watch")], **bad)
        # the Python face: the same options object, the same answer as the API's defaults
        options = engine.options(top_n=1, depth=1)
        (pred,) = engine.categorize([Product(id="q", title="steel analog wrist watch")], options)
        assert pred.category == "Watches" and len(pred.top) == 1


def test_cli_passes_every_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_hash_model: HashEmbedder) -> None:
    """`semcat categorize` hands its options to the engine as the API does."""
    from semcat.cli import app

    seen: dict[str, Any] = {}
    real = Engine.categorize

    def spy(self: Engine, products: Any, options: Any = None, **kwargs: Any) -> Any:
        seen["options"] = options
        return real(self, products, options, **kwargs)

    monkeypatch.setattr(Engine, "categorize", spy)
    with Engine(Settings(data_dir=tmp_path)) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
    args = ["categorize", "steel analog wrist watch", "--data-dir", str(tmp_path), "--json"]
    args += ["-k", "4", "--top-n", "2", "--depth", "1", "--method", "hybrid", "--modality", "text"]
    args += ["--category", "Watches"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    options = seen["options"]
    assert (options.k, options.top_n, options.depth, options.method, options.modality, options.category) == (
        4,
        2,
        1,
        "hybrid",
        "text",
        "Watches",
    )


def test_a_dataframe_is_a_catalog_and_predictions_come_back_as_one(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "sku": [i for i, _, _ in CATALOG] + ["bad"],
            "name": [t for _, t, _ in CATALOG] + [None],
            "category": [c for _, _, c in CATALOG] + ["Kitchen"],
        }
    )
    with Engine(Settings(data_dir=tmp_path), embedder=HashEmbedder()) as engine:
        report = read_catalog(frame)
        assert len(report.products) == len(CATALOG) and report.labeled == len(CATALOG)
        assert [r.row for r in report.rejected] == [len(CATALOG) + 1]  # row numbers as in the frame
        engine.index(report.products, progress=False)
        new = pd.DataFrame({"title": ["steel analog wrist watch", "baby diapers soft"]})
        table = categorize_frame(engine, new, top_n=1)
        assert list(table["main_category"]) == ["Watches", "Baby Care"]
        assert {"category", "score", "uncertain", "neighbors"} <= set(table.columns)


def test_a_python_caller_meets_the_same_bounds_as_the_api(client: TestClient) -> None:
    """k, top_n and the category filter are bounded once (semcat.limits): QueryOptions
    checked only k >= 1, so a Python caller could ask for a million neighbors."""
    from semcat import limits
    from semcat.options import QueryOptions

    for field, value in (("k", limits.MAX_K + 1), ("top_n", limits.MAX_TOP_N + 1), ("k", 0)):
        with pytest.raises(InvalidInputError, match=field):
            QueryOptions().merged(**{field: value})
        assert client.post("/categorize", json={"title": "watch", field: value}).status_code == 422
    with pytest.raises(InvalidInputError, match="category has more than"):
        QueryOptions(category="x" * (limits.MAX_CATEGORY_FILTER_CHARS + 1))
    assert QueryOptions(k=limits.MAX_K, top_n=limits.MAX_TOP_N).k == limits.MAX_K
