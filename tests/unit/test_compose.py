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
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", qdrant["image"])  # a pinned version
    assert "ports" not in qdrant  # reached only by the api service, on the compose network
    assert "healthcheck" in qdrant and "/readyz" in " ".join(qdrant["healthcheck"]["test"])
    assert "/ready" in " ".join(api["healthcheck"]["test"])
    assert api["restart"] == qdrant["restart"] == "unless-stopped"
    # both keys are required: an empty one stops `docker compose up` with the message
    assert qdrant["environment"]["QDRANT__SERVICE__API_KEY"].startswith("${QDRANT_API_KEY:?")
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
    assert env["SEMCAT_API_KEY"].startswith("${SEMCAT_API_KEY:?") and env["SEMCAT_QDRANT_API_KEY"].startswith(
        "${QDRANT_API_KEY:?"
    )
    # what compose hands over once the operator has set both keys
    resolved = {k: re.sub(r"\$\{[^}]*:\?[^}]*\}", "a-key", str(v)) for k, v in env.items()}
    settings = Settings(**{k.removeprefix("SEMCAT_").lower(): v for k, v in resolved.items()})
    assert settings.store == "qdrant"
    assert settings.qdrant_url == "http://qdrant:6333"
    assert settings.api_key is not None and settings.qdrant_api_key is not None
    assert settings.host == "0.0.0.0" and settings.port == 8000
    assert settings.exposure_problem() is None  # keyed: safe on all interfaces


def test_dockerfile_defaults_match() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["semcat", "serve"]' in text
    assert "EXPOSE 8000" in text and "SEMCAT_PORT=8000" in text and "SEMCAT_HOST=0.0.0.0" in text
    assert "/ready" in text  # the health check checks readiness
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", text, re.M)  # a pinned base image
    assert "-c constraints.txt" in text and (ROOT / "constraints.txt").exists()


def test_serve_refuses_open_writes_on_a_public_address() -> None:
    assert Settings(host="127.0.0.1").exposure_problem() is None
    assert Settings(host="::1").exposure_problem() is None
    problem = Settings(host="0.0.0.0").exposure_problem()
    assert problem is not None and "SEMCAT_API_KEY" in problem and "--insecure" in problem
    assert Settings(host="0.0.0.0", api_key="k").exposure_problem() is None
    assert Settings(host="0.0.0.0", insecure=True).exposure_problem() is None
