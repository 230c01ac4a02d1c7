from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from semcat.config import Settings


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMCAT_K", "7")
    monkeypatch.setenv("SEMCAT_STORE", "qdrant")
    monkeypatch.setenv("SEMCAT_TEXT_FIELDS", "title, description")
    s = Settings()
    assert (s.k, s.store, s.text_fields) == (7, "qdrant", ["title", "description"])
    assert "qdrant (embedded qdrant-edge)" in s.store_description()


@pytest.mark.parametrize(
    "bad",
    [{"k": 0}, {"store": "milvus"}, {"text_fields": "title,price"}, {"collection": "../x"}, {"qdrant_api_key": "k"}],
)
def test_invalid_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)


def test_a_store_of_the_torch_backend_says_which_backend_reads_it(tmp_path: Path) -> None:
    """A store embedded before int8 became the default (fp32 vectors, the plain model name)
    is refused by the default settings with the one setting that opens it as it is."""
    from tests.conftest import HashEmbedder

    from semcat.catalog import Product
    from semcat.engine import Engine
    from semcat.errors import StoreError

    fp32 = HashEmbedder(name="sentence-transformers/all-MiniLM-L6-v2")
    with Engine(Settings(data_dir=tmp_path, backend="torch"), embedder=fp32) as engine:
        engine.index([Product(id="1", title="blue mug", category=("Kitchen",))], progress=False)
    with Engine(Settings(data_dir=tmp_path)) as engine, pytest.raises(StoreError) as error:
        engine.categorize(["blue mug"])[0]
    assert "SEMCAT_BACKEND=onnx (or torch)" in str(error.value)
    with Engine(Settings(data_dir=tmp_path, backend="onnx"), embedder=fp32) as engine:
        assert engine.categorize(["blue mug"])[0].main_category == "Kitchen"


def test_an_unwritable_models_dir_is_one_clear_error(tmp_path: Path) -> None:
    """The first use of the default backend writes its ONNX export; where it cannot, the
    error names the folder and the two ways out (no traceback, nothing loaded)."""
    from semcat.embedding import resolve_model
    from semcat.embedding.onnx import export_model
    from semcat.errors import ModelError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelError, match="SEMCAT_MODELS_DIR to a writable folder, or SEMCAT_BACKEND=torch"):
        export_model(resolve_model("minilm"), blocker / "models")


def test_option_groups_are_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The head, retrain, zero-shot, HNSW and calibration options are set as
    SEMCAT_<GROUP>__<FIELD>, validated by the option types the code uses (declared once,
    not mirrored by flat fields); the flat names they had before still work, a keyword
    winning over the environment."""
    from semcat.options import CalibrationOptions, HeadOptions, HnswOptions, RetrainOptions, ZeroShotOptions

    monkeypatch.setenv("SEMCAT_HEAD__C", "2.5")
    monkeypatch.setenv("SEMCAT_RETRAIN__CHILD_PROCESS", "false")
    monkeypatch.setenv("SEMCAT_ZERO_SHOT__LEVEL", "2")
    monkeypatch.setenv("SEMCAT_HNSW__EF_SEARCH", "64")
    monkeypatch.setenv("SEMCAT_CALIBRATION__FOLDS", "3")
    monkeypatch.setenv("SEMCAT_HEAD_CHARS", "false")  # the flat name it had before
    s = Settings()
    assert s.head == HeadOptions(c=2.5, chars=False)
    assert s.retrain == RetrainOptions(child_process=False)
    assert s.zero_shot == ZeroShotOptions(level=2)
    assert s.hnsw == HnswOptions(ef_search=64)
    assert s.calibration == CalibrationOptions(folds=3)
    assert Settings(head_c=4, calibration=False).head.c == 4 and not Settings(calibration=False).calibration.enabled
    assert Settings.from_json(s.to_json()) == s  # what the API workers receive
    with pytest.raises(ValidationError, match=r"head\.c"):
        Settings(head={"c": -1})
    mirrored = [name for name in Settings.model_fields if name.startswith(("head_", "faiss_hnsw", "zero_shot_"))]
    assert mirrored == ["head_weight"]  # a query option (the head's share of a decision), not a training one


def test_the_settings_give_every_query_option_with_its_default() -> None:
    """Settings.query_options reads every QueryOptions field from the setting of the same
    name (before: a hand-written mapping, one more place per option); a new option without a
    setting must be named here on purpose, and a setting's default is the option's."""
    from dataclasses import fields

    from semcat.config import QUERY_SETTINGS
    from semcat.options import DEFAULTS, QueryOptions

    without_setting = {f.name for f in fields(QueryOptions)} - set(QUERY_SETTINGS)
    assert without_setting == {"category", "subtree_vote"}  # a request's filter; a benchmark's switch
    settings = Settings()
    for option, setting in QUERY_SETTINGS.items():
        assert Settings.model_fields[setting].default == getattr(DEFAULTS, option), option
    assert settings.query_options() == DEFAULTS
    assert Settings(lexical_power=2, predict_depth=3).query_options(k=4).merged() == DEFAULTS.merged(
        lexical_power=2.0, depth=3, k=4
    )


def test_each_query_option_is_declared_once() -> None:
    """A categorization option's type, bounds, default and description are written in
    QueryOptions only: Settings declares none of them itself, and the setting, the request
    field and a Python caller all refuse the same out-of-bounds value."""
    import ast
    import inspect

    from semcat import config
    from semcat.config import QUERY_SETTINGS
    from semcat.errors import InvalidInputError
    from semcat.options import QueryOptions, RequestOptions

    tree = ast.parse(inspect.getsource(config.Settings))
    declared = {n.target.id for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    assert not declared & set(QUERY_SETTINGS.values())
    assert RequestOptions.model_fields["k"].description == Settings.model_fields["k"].description
    for option, setting in QUERY_SETTINGS.items():
        described = Settings.model_fields[setting].description
        assert described and described == QueryOptions.__dataclass_fields__[option].metadata["description"]
    for option, bad in (("vote_power", -1.0), ("lexical_weight", 1.5), ("k", 0), ("auto_precision", 1.0)):
        setting = QUERY_SETTINGS[option]
        with pytest.raises(ValidationError, match=setting):
            Settings(**{setting: bad})
        with pytest.raises(InvalidInputError, match=option):
            QueryOptions(**{option: bad})
    with pytest.raises(ValidationError):
        RequestOptions(k=0)


def test_the_backends_settings_are_nested_and_their_flat_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """SEMCAT_QDRANT__URL is the Qdrant store's own group; SEMCAT_QDRANT_URL, the name
    deployments already use, sets the same field, and a keyword merges with the variables."""
    monkeypatch.setenv("SEMCAT_STORE", "qdrant")
    monkeypatch.setenv("SEMCAT_QDRANT_URL", "http://old-name:6333")
    monkeypatch.setenv("SEMCAT_QDRANT__API_KEY", "k3y")
    monkeypatch.setenv("SEMCAT_FAISS_INDEX", "flat")
    settings = Settings()
    assert settings.qdrant.url == "http://old-name:6333" and settings.faiss.index == "flat"
    monkeypatch.setenv("SEMCAT_QDRANT__URL", "http://new-name:6333")
    assert Settings().qdrant.url == "http://new-name:6333"  # the nested name wins
    keyed = Settings(qdrant_url="http://cli:6333")  # `--qdrant-url`
    assert keyed.qdrant.url == "http://cli:6333" and keyed.qdrant.api_key is not None
    assert keyed.qdrant.api_key.get_secret_value() == "k3y"
    assert Settings.from_json(keyed.to_json()).qdrant.api_key.get_secret_value() == "k3y"  # the API workers' copy
