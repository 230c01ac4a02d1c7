from __future__ import annotations

import pytest
from pydantic import ValidationError

from semcat.config import Settings


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMCAT_K", "7")
    monkeypatch.setenv("SEMCAT_STORE", "qdrant")
    monkeypatch.setenv("SEMCAT_TEXT_FIELDS", "title, description")
    s = Settings()
    assert (s.k, s.store, s.text_fields) == (7, "qdrant", ["title", "description"])
    assert "qdrant (embedded)" in s.store_description()


@pytest.mark.parametrize(
    "bad",
    [{"k": 0}, {"store": "milvus"}, {"text_fields": "title,price"}, {"collection": "../x"}, {"qdrant_api_key": "k"}],
)
def test_invalid_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)
