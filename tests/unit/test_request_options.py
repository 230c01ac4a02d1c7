"""The options a request may set are declared once (semcat.options.RequestOptions, the
method registry semcat.methods): every door holds the same bounds and lists the same
methods, and a method added to the registry is served without touching the faces."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder
from typer.testing import CliRunner

from semcat.api import create_app
from semcat.catalog import Product
from semcat.categorize.prediction import LevelScore, Prediction
from semcat.config import Settings
from semcat.engine import Engine
from semcat.errors import InvalidInputError
from semcat.limits import MAX_CATEGORY_DEPTH, MAX_K, MAX_TOP_N
from semcat.methods import METHODS, REGISTRY, MethodSpec
from semcat.options import DEFAULTS, REQUEST_FIELDS, RequestOptions

SRC = Path(__file__).resolve().parents[2] / "src" / "semcat"
CATALOG = [
    ("w1", "analog wrist watch steel strap", "Watches > Wrist"),
    ("w2", "digital wrist watch rubber strap", "Watches > Wrist"),
    ("k1", "steel pressure cooker 5 litre", "Kitchen > Cookware"),
    ("k2", "aluminium pressure cooker", "Kitchen > Cookware"),
]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(Settings(data_dir=tmp_path, head_weight=0.0), embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        yield engine


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine.settings, engine=engine)) as c:
        yield c


OUT_OF_BOUNDS = [
    ("k", MAX_K + 1, f"k must be an integer from 1 to {MAX_K}"),
    ("k", 0, "k must be an integer from 1"),
    ("top_n", MAX_TOP_N + 1, f"top_n must be an integer from 1 to {MAX_TOP_N}"),
    ("depth", MAX_CATEGORY_DEPTH + 1, f"depth must be an integer from 1 to {MAX_CATEGORY_DEPTH}"),
    ("auto_precision", 1.5, "auto_precision must be between 0.5 and 1"),
]


@pytest.mark.parametrize(("name", "value", "message"), OUT_OF_BOUNDS)
def test_every_door_holds_the_same_bounds(
    engine: Engine, client: TestClient, name: str, value: Any, message: str
) -> None:
    """Python (before: no upper bound on k), the JSON body, the upload form (before: its own
    copy of every bound) and the CLI refuse the same value, naming the option."""
    with pytest.raises(InvalidInputError, match=message):
        engine.categorize([Product(id="q", title="watch")], **{name: value})
    body = client.post("/categorize", json={"title": "watch", name: value})
    assert body.status_code == 422 and name in body.json()["detail"]
    form = client.post("/categorize/image", files={"image": ("q.png", b"x", "image/png")}, data={name: str(value)})
    assert form.status_code == 422 and name in form.json()["detail"]


def test_the_cli_refuses_out_of_bounds_options_in_one_line(engine: Engine, cli_hash_model: HashEmbedder) -> None:
    from semcat.cli import app

    args = ["categorize", "watch", "--data-dir", str(engine.settings.data_dir), "-k", str(MAX_K + 1)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and f"k must be an integer from 1 to {MAX_K}" in result.output
    assert "Traceback" not in result.output


def test_a_form_count_is_a_count_and_a_boolean_is_not() -> None:
    assert DEFAULTS.merged(k="7").k == 7  # an HTML form sends text
    for bad in (True, 2.5, "seven"):
        with pytest.raises(InvalidInputError, match="k must be an integer"):
            DEFAULTS.merged(k=bad)


def test_the_service_publishes_its_methods_and_bounds(client: TestClient) -> None:
    """The web page builds its method menu and input bounds from GET /options: it names no
    method itself."""
    options = client.get("/options").json()
    assert [m["name"] for m in options["methods"]] == list(METHODS)
    assert options["bounds"]["k"] == {"ge": 1, "le": MAX_K}
    assert options["bounds"]["auto_precision"] == {"gt": 0.5, "lt": 1.0}
    web = (SRC / "api" / "web").glob("*.*")
    for page in web:
        text = page.read_text()
        assert not any(f'"{name}"' in text or f"'{name}'" in text for name in METHODS), page.name


def _string_constants(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)}


def test_method_names_are_written_only_in_the_registry() -> None:
    for path in SRC.rglob("*.py"):
        if path.name == "methods.py" and path.parent == SRC:
            continue
        named = _string_constants(path) & set(METHODS)
        assert not named, f"{path.relative_to(SRC)} names {named}: read them from semcat.methods"


def test_the_maximum_of_k_is_a_literal_once() -> None:
    """Every bound on k reads semcat.limits.MAX_K (before: six copies of 1000)."""
    bound = re.compile(r"""\b(le|max)=["']?1_?000\b(?![.\d])""")
    assert [p.name for p in SRC.rglob("*.py") if bound.search(p.read_text())] == []
    assert sum("MAX_K = " in p.read_text() for p in SRC.rglob("*.py")) == 1


def _all_params(group: Any) -> Iterator[tuple[str, Any]]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _all_params(command)
        else:
            yield from ((name, p) for p in command.params)


def test_no_cli_help_states_a_default() -> None:
    """A default a SEMCAT_* variable can change is not restated in help (before: "faiss
    (default)", "Port [8000]"); the help names the variable instead."""
    from semcat.cli import app

    group = typer.main.get_command(app)
    assert len(list(_all_params(group))) > 50
    for command, param in _all_params(group):
        help_text = getattr(param, "help", None) or ""
        assert "default" not in help_text.lower(), f"{command} {param.name}: {help_text}"
        assert "[" not in help_text, f"{command} {param.name}: {help_text}"


def test_request_fields_are_the_api_bodys_options() -> None:
    from semcat.api.schemas import CategorizeRequest

    assert set(REQUEST_FIELDS) <= set(CategorizeRequest.model_fields)
    assert issubclass(CategorizeRequest, RequestOptions)


# ---------------------------------------------------------- a method added in one place
class FirstNeighbor:
    """A test-only method: the closest labeled product's category, nothing mixed."""

    method = "first-neighbor"

    def __init__(self, store: Any) -> None:
        self.store = store

    def predict(self, queries: Any, category: str | None = None) -> list[Prediction]:
        from semcat.search import DEFAULT_SPACE, SearchFilter

        out = []
        for hits in self.store.search_batch(queries[DEFAULT_SPACE], 1, SearchFilter(category=category, labeled=True)):
            label = hits[0].payload["category"]
            out.append(
                Prediction(
                    category=label,
                    score=1.0,
                    uncertain=False,
                    levels=[LevelScore(level=1, category=label, score=1.0, top=[])],
                    top=[],
                    neighbors=[],
                    method=self.method,
                )
            )
        return out


def build(store: Any, options: Any, *, head: Any = None, zero_shot: Any = None) -> FirstNeighbor:
    return FirstNeighbor(store)


def test_a_new_method_is_one_module_and_one_registry_line(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        REGISTRY, "first-neighbor", MethodSpec("first-neighbor", "first neighbor", "the closest", f"{__name__}:build")
    )
    (pred,) = engine.categorize([Product(id="q", title="aluminium pressure cooker")], method="first-neighbor")
    assert pred.method == "first-neighbor" and pred.category == "Kitchen > Cookware"
    assert pred.decision == "review" and "not first-neighbor" in (pred.decision_reason or "")


def test_a_registered_method_is_evaluated_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """`semcat evaluate --methods first-neighbor` runs the registered method as served
    (before, any name but knn, zero-shot and hybrid fell through to the SVM)."""
    from tests.unit.test_evaluation import synthetic

    from semcat.evaluation import EvalConfig, run_evaluation

    monkeypatch.setitem(
        REGISTRY, "first-neighbor", MethodSpec("first-neighbor", "first neighbor", "the closest", f"{__name__}:build")
    )
    config = EvalConfig(level=1, methods=("first-neighbor",), tsne=False, ari=False, plots=False)
    (result,) = run_evaluation([synthetic()], config, None, progress=False)
    assert list(result["methods"]) == ["first-neighbor"] and result["methods"]["first-neighbor"]["accuracy"] == 1.0


def test_plain_texts_are_products_to_categorize(engine: Engine) -> None:
    (pred,) = engine.categorize(["aluminium pressure cooker"])
    assert pred.main_category == "Kitchen"
    with pytest.raises(InvalidInputError, match="item 1: the text to categorize is empty"):
        engine.categorize(["pressure cooker", "  "])
