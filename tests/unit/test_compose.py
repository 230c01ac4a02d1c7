"""docker-compose.yml and the Dockerfile agree with Settings. (No Docker engine runs
on the machines semcat is built on, so the stack itself is not started in tests.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from semcat.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_ports_and_volumes() -> None:
    doc = compose()
    assert set(doc["services"]) == {"api", "qdrant"}
    api, qdrant = doc["services"]["api"], doc["services"]["qdrant"]
    assert qdrant["image"].startswith("qdrant/qdrant:v")
    assert "6333:6333" in qdrant["ports"]
    assert "healthcheck" in qdrant and "6333" in " ".join(qdrant["healthcheck"]["test"])
    assert api["depends_on"]["qdrant"]["condition"] == "service_healthy"
    declared = set(doc["volumes"])
    for service in (api, qdrant):
        for volume in service["volumes"]:
            assert volume.split(":")[0] in declared
    assert "qdrant_storage:/qdrant/storage" in qdrant["volumes"]
    env = api["environment"]
    assert f"{env['SEMCAT_PORT']}:{env['SEMCAT_PORT']}" in api["ports"]
    assert any(v.endswith(":" + env["SEMCAT_DATA_DIR"]) for v in api["volumes"])


def test_api_environment_names_real_settings_and_points_at_qdrant() -> None:
    env = compose()["services"]["api"]["environment"]
    fields = {f"SEMCAT_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    resolved = {k: re.sub(r"\$\{[^}]*:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}
    settings = Settings(**{k.removeprefix("SEMCAT_").lower(): v for k, v in resolved.items()})
    assert settings.store == "qdrant"
    assert settings.qdrant_url == "http://qdrant:6333"
    assert settings.api_key is None and settings.qdrant_api_key is None  # empty ${VAR:-} means unset
    assert settings.host == "0.0.0.0" and settings.port == 8000


def test_dockerfile_defaults_match() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["semcat", "serve"]' in text
    assert "EXPOSE 8000" in text and "SEMCAT_PORT=8000" in text and "SEMCAT_HOST=0.0.0.0" in text
    assert "/health" in text
