"""docker-compose.yml and the Dockerfile agree with Settings. (No Docker engine runs
on the machines semcat is built on, so the stack itself is not started in tests.)"""

from __future__ import annotations

import os
import re
from pathlib import Path
from unittest import mock

import yaml

from semcat.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_ports_and_volumes() -> None:
    doc = compose()
    assert set(doc["services"]) == {"api", "qdrant", "caddy"}
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
    # plain HTTP carries the key in clear: the host's loopback only, other machines through TLS
    assert api["ports"] == [f"127.0.0.1:{env['SEMCAT_PORT']}:{env['SEMCAT_PORT']}"]
    assert any(v.endswith(":" + env["SEMCAT_DATA_DIR"]) for v in api["volumes"])


def test_every_container_is_locked_down() -> None:
    doc = compose()
    for name, service in doc["services"].items():
        assert service["read_only"] is True and "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"], name
        assert service["mem_limit"] and service["cpus"] and service["pids_limit"], name
    caddy = doc["services"]["caddy"]
    assert caddy["profiles"] == ["tls"] and "api:8000" in caddy["command"]
    assert caddy["cap_add"] == ["NET_BIND_SERVICE"]  # 80/443 as a user without other capabilities
    assert {"80:80", "443:443"} == set(caddy["ports"])


def test_the_api_key_is_a_compose_secret_read_by_the_settings(tmp_path: Path) -> None:
    doc = compose()
    api = doc["services"]["api"]
    assert "SEMCAT_API_KEY" not in api["environment"]  # docker inspect would show it
    assert api["secrets"] == ["semcat_api_key"] and doc["secrets"]["semcat_api_key"] == {
        "environment": "SEMCAT_API_KEY"
    }
    (tmp_path / "semcat_api_key").write_text("a-key\n")  # as compose mounts it: /run/secrets/<name>
    assert Settings(_secrets_dir=str(tmp_path)).api_key.get_secret_value() == "a-key"  # type: ignore[union-attr]


def setting_variables() -> set[str]:
    """Every SEMCAT_* variable a setting reads: SEMCAT_<FIELD>, and SEMCAT_<GROUP>__<FIELD>
    for the fields of a nested group (SEMCAT_QDRANT__URL)."""
    names = set()
    for name, info in Settings.model_fields.items():
        names.add(f"SEMCAT_{name.upper()}")
        group = getattr(info.annotation, "model_fields", None) or getattr(info.annotation, "__pydantic_fields__", {})
        names |= {f"SEMCAT_{name.upper()}__{inner.upper()}" for inner in group}
    return names


def test_api_environment_names_real_settings_and_points_at_qdrant() -> None:
    env = compose()["services"]["api"]["environment"]
    fields = setting_variables()
    assert set(env) <= fields, set(env) - fields
    assert env["SEMCAT_QDRANT__API_KEY"].startswith("${QDRANT_API_KEY:?")
    settings = _resolved(env | {"SEMCAT_API_KEY": "a-key"})  # with the key its secret holds
    assert settings.store == "qdrant"
    assert settings.qdrant.url == "http://qdrant:6333"
    assert settings.api_key is not None and settings.qdrant.api_key is not None
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


def _resolved(env: dict) -> Settings:
    """The Settings compose hands an api container once the operator has set the keys
    (``${VAR:?msg}`` -> a key, ``${VAR:-default}`` -> its default)."""
    resolved = {
        k: re.sub(r"\$\{[^}:]*:-([^}]*)\}", r"\1", re.sub(r"\$\{[^}]*:\?[^}]*\}", "a-key", str(v)))
        for k, v in env.items()
    }
    with mock.patch.dict(os.environ, resolved):  # read as the container reads them
        return Settings()


def test_cluster_compose_starts_three_qdrant_peers_and_api_replicas() -> None:
    doc = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())
    nodes = {name: s for name, s in doc["services"].items() if name.startswith("qdrant-")}
    assert set(doc["services"]) == {"api", *nodes} and len(nodes) == 3
    single = compose()["services"]["qdrant"]["image"]
    for name, node in nodes.items():
        assert node["image"] == single  # the same pinned Qdrant as the single-node file
        assert node["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert node["environment"]["QDRANT__SERVICE__API_KEY"].startswith("${QDRANT_API_KEY:?")
        assert "ports" not in node  # neither the API port nor the peer-to-peer port is published
        assert "/readyz" in " ".join(node["healthcheck"]["test"])
        command = node["command"]
        assert command[command.index("--uri") + 1] == f"http://{name}:6335"
        if name != "qdrant-1":  # the others join the first peer
            assert command[command.index("--bootstrap") + 1] == "http://qdrant-1:6335"
            assert node["depends_on"]["qdrant-1"]["condition"] == "service_healthy"
    declared = set(doc["volumes"])
    assert all(v.split(":")[0] in declared for s in doc["services"].values() for v in s.get("volumes", []))
    assert len({node["volumes"][0] for node in nodes.values()}) == 3  # each peer its own storage

    api = doc["services"]["api"]
    assert api["deploy"]["replicas"].startswith("${SEMCAT_API_REPLICAS:-")
    assert {n: c["condition"] for n, c in api["depends_on"].items()} == dict.fromkeys(nodes, "service_healthy")
    fields = setting_variables()
    assert set(api["environment"]) <= fields, set(api["environment"]) - fields
    settings = _resolved(api["environment"])
    assert settings.store == "qdrant" and settings.qdrant.url == "http://qdrant-1:6333"
    # every shard on 2 of the 3 peers: one peer can be lost; every peer holds shards
    assert settings.qdrant.replication_factor == 2 < len(nodes) <= (settings.qdrant.shard_number or 0)
    assert (settings.qdrant.write_consistency_factor or 1) <= settings.qdrant.replication_factor
    assert settings.api_key is not None and settings.exposure_problem() is None
