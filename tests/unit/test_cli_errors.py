"""Bad input on the command line: one clear line, the right exit code, nothing stored lost.

These never load a model: every failure happens before embedding starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semcat.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv is empty"),
        ("notext.csv", b"id,price,category\n1,2.5,A\n", "no text column found"),
        ("latin.csv", "id,title\n1,Caf\u00e9\n".encode("cp1252"), "not valid utf-8 text (byte 0xe9 on line 2)"),
    ],
)
def test_unreadable_catalog_exits_1_with_one_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, output = run("index", str(path), "--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert message in output
    assert "Traceback" not in output


def test_no_valid_row_exits_1_and_lists_rows(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("id,title,description\n1,,\n2,  ,\n")
    code, output = run("index", str(path), "--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert "row 2: no text" in output and "row 3: no text" in output
    assert "nothing to index" in output


def test_queries_on_a_missing_store(tmp_path: Path) -> None:
    code, output = run("info", "--data-dir", str(tmp_path / "none"))
    assert code == 1 and "index a catalog first" in output
    code, output = run("info", "--data-dir", str(tmp_path / "none"), "--store", "qdrant")
    assert code == 1 and "index a catalog first" in output


def test_usage_errors(tmp_path: Path) -> None:
    assert run("categorize")[0] == 2
    code, output = run("index", "x.csv", "--store", "milvus")
    assert code == 1 and "store" in output
    code, output = run("index", str(tmp_path / "missing.csv"), "--data-dir", str(tmp_path))
    assert code == 1 and "catalog file not found" in output


def test_models_lists_the_offline_alias() -> None:
    code, output = run("models")
    assert code == 0 and "minilm" in output and "ready offline" in output


def test_unknown_evaluate_method_is_one_line_before_any_embedding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a Python traceback, and only after the whole catalog was embedded."""
    import semcat.embedding

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the options were checked")

    monkeypatch.setattr(semcat.embedding, "load_embedder", no_model)
    catalog = tmp_path / "c.csv"
    catalog.write_text("id,title,category\n" + "".join(f"{i},item {i},{'AB'[i % 2]}\n" for i in range(20)))
    code, output = run("evaluate", str(catalog), "--methods", "knn,foo", "--out", str(tmp_path / "r"))
    assert code == 1
    assert "error: unknown method 'foo': use knn, logreg, tfidf" in output
    assert "Traceback" not in output and len(set(output.strip().splitlines())) == 1


def test_a_no_op_rerun_never_loads_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-indexing an unchanged catalog embeds nothing and checks the saved head without
    loading the weights (before, the head check loaded the model: 11-16 s)."""
    from tests.conftest import HashEmbedder

    import semcat.embedding
    import semcat.embedding.registry
    from semcat.categorize.head import LinearHead

    loads: list[int] = []

    def load(settings: object) -> HashEmbedder:
        loads.append(1)
        return HashEmbedder()

    monkeypatch.setattr(semcat.embedding, "load_embedder", load)
    monkeypatch.setattr(semcat.embedding.registry, "model_name", lambda settings: HashEmbedder().name)
    catalog = tmp_path / "c.csv"
    catalog.write_text(
        "id,title,category\n" + "".join(f"{i},item {i} {'mug cup'[i % 2]},{'AB'[i % 2]}\n" for i in range(12))
    )
    args = ["index", str(catalog), "--data-dir", str(tmp_path / "d"), "-q"]
    assert run(*args)[0] == 0 and loads == [1]
    head_file = tmp_path / "d" / "heads" / "faiss-products.pkl"
    assert head_file.exists()  # the first run trained and saved the head

    def no_unpickling(*args: object) -> None:
        raise AssertionError("the no-op run loaded the saved head's weights")

    monkeypatch.setattr(LinearHead, "load", staticmethod(no_unpickling))
    code, output = run(*args)
    assert code == 0 and "unchanged 12" in output and "linear head ready" in output
    assert loads == [1], "the second, no-op run loaded the model"


def test_version_prints_the_package_version() -> None:
    from semcat import __version__

    code, output = run("--version")
    assert code == 0 and output.strip() == f"semcat {__version__}"  # was "No such option: --version"


def test_the_models_list_fits_80_columns_and_names_clip() -> None:
    wide = CliRunner().invoke(app, ["models"], env={"COLUMNS": "80"}, terminal_width=80)
    assert wide.exit_code == 0, wide.output
    assert all(len(line) <= 80 for line in wide.output.splitlines()), wide.output
    for alias in ("minilm  sentence-transformers/all-MiniLM-L6-v2", "e5-small  intfloat/multilingual-e5-small", "clip"):
        assert alias in wide.output  # names whole, not cut with an ellipsis
    assert "SEMCAT_CLIP_PRETRAINED" in wide.output


def test_cli_json_gives_each_levels_alternatives_as_the_api_does(tmp_path: Path, cli_hash_model: object) -> None:
    catalog = tmp_path / "c.csv"
    catalog.write_text(
        "id,title,category\n1,red ceramic mug,Kitchen > Mugs\n2,blue ceramic mug,Kitchen > Mugs\n"
        "3,steel frying pan,Kitchen > Pans\n4,analog wrist watch,Watches > Analog\n"
    )
    data = ["--data-dir", str(tmp_path / "d")]
    assert run("index", str(catalog), *data, "-q")[0] == 0
    code, output = run("categorize", "ceramic mug", "--json", *data)
    assert code == 0, output
    prediction = json.loads(output[output.index("{") :])
    assert all(level["top"] and {"category", "score"} == set(level["top"][0]) for level in prediction["levels"])
