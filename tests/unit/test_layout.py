"""The package's shape: no import circle (lazy imports included), layers that only import
downwards, and no module over ~400 lines without a reason stated at its top."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_LINES = 400
# lower layers never import higher ones (a face is never imported by the core)
LAYERS = [
    {"errors", "limits", "methods", "spaces", "locks", "threads"},
    {"options"},
    {"catalog", "images"},
    {"config"},
    {"embedding"},  # writes the vectors: never imports the stores
    {"search"},  # stores and scores them: never imports the encoders (their names live in spaces)
    {"categorize", "indexer", "review"},
    {"engine", "evaluation", "workbench", "auditing"},
    {"api", "cli", "sklearn"},
]


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "semcat").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(path: Path, names: set[str]) -> set[str]:
    """Every semcat module this file imports, at any depth (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for target in targets:
            if target in names:
                found.add(target)
    return found


def test_no_import_circle() -> None:
    mods = modules()
    names = set(mods)
    graph = {name: imports(path, names) - {name} for name, path in mods.items()}
    # a package's __init__ re-exporting its own submodules is not a circle through them
    for name in graph:
        graph[name] = {t for t in graph[name] if not (name.startswith(t + ".") and t in names)}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_layers_import_only_downwards() -> None:
    mods = modules()
    rank = {top: i for i, layer in enumerate(LAYERS) for top in layer}
    wrong = []
    for name, path in mods.items():
        top = name.split(".")[1] if "." in name else None
        if top not in rank:
            continue
        for target in imports(path, set(mods)):
            other = target.split(".")[1] if "." in target else None
            if other in rank and rank[other] > rank[top]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_every_module_has_a_layer() -> None:
    placed = {top for layer in LAYERS for top in layer}
    tops = {name.split(".")[1] for name in modules() if "." in name}
    assert tops <= placed, f"modules without a layer: {sorted(tops - placed)}"


def test_embedding_and_search_are_apart() -> None:
    """Neither side imports the other (before: the query rows took the space names from the
    stores, and the FAISS sparse index its IDF from the encoders)."""
    mods = modules()

    def top(name: str) -> str:
        return name.split(".")[1] if "." in name else ""

    crossing = [
        f"{name} imports {target}"
        for name, path in mods.items()
        for target in imports(path, set(mods))
        if {top(name), top(target)} == {"embedding", "search"}
    ]
    assert not crossing, crossing


def test_long_modules_say_why() -> None:
    unexplained = []
    for name, path in modules().items():
        lines = path.read_text().count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and "Long module:" not in doc:
            unexplained.append(f"{name} ({lines} lines)")
    assert not unexplained, f"over {MAX_LINES} lines without 'Long module:' in the docstring: {unexplained}"


def test_the_user_api_is_exported_lazily() -> None:
    """``from semcat import Engine, Settings, Product, Prediction, SemcatError`` works, and a
    bare ``import semcat`` (the CLI's first step) loads none of it."""
    import subprocess
    import sys

    code = (
        "import sys, semcat; assert 'semcat.engine' not in sys.modules; "
        "from semcat import Engine, Prediction, Product, SemcatError, Settings; "
        "import semcat.engine; assert Engine is semcat.engine.Engine; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr


def test_the_engine_is_slim() -> None:
    """The engine is the pipeline, the writes, the reads and its resources (before: 27 public
    members, /ready's body and three overlapping summaries among them); what it says about
    itself is one EngineStats each face shapes."""
    from semcat.engine import Engine, EngineStats

    public = [name for name in vars(Engine) if not name.startswith("_")]
    assert len(public) <= 14, public
    assert {"categorize", "predict", "index_catalog", "stats"} <= set(public)
    assert "keyed_writes" not in EngineStats.__dataclass_fields__  # the API key is the API's business


def test_the_store_backends_are_one_table() -> None:
    """Settings.store accepts exactly the factory's backends, and every backend is a
    VectorStore that declares what the engine reads of it."""
    from typing import get_args

    from pydantic import BaseModel

    from semcat.config import Settings
    from semcat.search.base import VectorStore
    from semcat.search.factory import BACKENDS
    from semcat.search.faiss import FaissStore
    from semcat.search.qdrant_edge import QdrantEdgeStore
    from semcat.search.qdrant_store import QdrantStore

    assert set(get_args(Settings.model_fields["store"].annotation)) == set(BACKENDS)
    for store in (FaissStore, QdrantStore, QdrantEdgeStore):
        assert issubclass(store, VectorStore) and store.backend in BACKENDS
        assert not getattr(store, "__abstractmethods__", None), store
    for backend in BACKENDS.values():  # each backend's settings are its own sub-model
        assert issubclass(Settings.model_fields[backend.settings].annotation, BaseModel), backend.name
    mine = {n for b in BACKENDS.values() for n in Settings.model_fields[b.settings].annotation.model_fields}
    assert {"url", "api_key", "shard_number", "index"} <= mine
    assert not [n for n in Settings.model_fields if n.startswith(tuple(f"{b}_" for b in BACKENDS))]
