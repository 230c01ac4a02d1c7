"""`semcat index --executor ray` on a local Ray cluster builds the store `semcat index`
builds: same ids and hashes, same vectors, same predictions; a re-run embeds nothing; a
run killed mid-way and re-run stores every product once."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from semcat.config import Settings
from semcat.engine import Engine

pytestmark = pytest.mark.integration
pytest.importorskip("ray", reason="Ray is not installed (pip install 'semcat[ray]')")
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flipkart-1050" / "flipkart_com-ecommerce_sample_1050.csv"


def sample_rows() -> list[list[str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def semcat(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "semcat.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """Two shards of training products (a folder, as a sharded export) and a held-out set."""
    header, *rows = sample_rows()
    folder = tmp_path_factory.mktemp("shards")
    train, held_out = rows[0:600:2], rows[1:600:6]
    write(folder / "part-0.csv", [header, *train[:150]])
    write(folder / "part-1.csv", [header, *train[150:]])
    whole = write(tmp_path_factory.mktemp("whole") / "train.csv", [header, *train])
    titles = [r[header.index("product_name")] for r in held_out]
    return folder, whole, titles


def env_for(data: Path) -> dict[str, str]:
    # fp32 torch vectors do not depend on which products share a batch; int8 ONNX quantizes each
    # batch's activations at its own scale, so there a vector moves with its batch (see docs/scale-out.md)
    return os.environ | {
        "HF_HUB_OFFLINE": "1",
        "SEMCAT_DATA_DIR": str(data),
        "SEMCAT_BACKEND": "torch",
        "SEMCAT_RAY__CPUS": "2",
    }


def test_ray_builds_the_store_semcat_index_builds(split: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    shards, whole, titles = split
    local, ray = tmp_path / "local", tmp_path / "ray"
    done = semcat("index", str(whole), "-q", env=env_for(local))
    assert done.returncode == 0, done.stderr
    done = semcat("index", str(shards), "--executor", "ray", "--json", env=env_for(ray))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["shards"] == 2 and report["indexed"] == 300 and report["head_seconds"] is not None
    stores = []
    for data in (local, ray):
        with Engine(Settings(data_dir=data, backend="torch")) as engine:
            store = engine.store()
            ids = sorted(r.id for r in store.browse(None, 1000).records)
            records = {r.id: r for r in store.get(ids, with_vectors=True)}
            predictions = [p.category for p in engine.categorize(titles)]
            stores.append((ids, records, predictions))
    (ids_a, records_a, predicted_a), (ids_b, records_b, predicted_b) = stores
    assert ids_a == ids_b and len(ids_a) == 300
    for pid in ids_a:
        a, b = records_a[pid], records_b[pid]
        assert a.payload == b.payload  # text and payload hashes, labels, texts: all of it
        assert np.abs(a.vectors["text"] - b.vectors["text"]).max() <= 1e-5
    assert predicted_a == predicted_b

    again = semcat("index", str(shards), "--executor", "ray", "--json", env=env_for(ray))
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert rerun["indexed"] == 0 and rerun["unchanged"] == 300


def test_a_killed_ray_run_rerun_stores_every_product_once(tmp_path: Path) -> None:
    header, *rows = sample_rows()
    catalog = write(tmp_path / "catalog.csv", [header, *rows[:500]])
    env = env_for(tmp_path / "data") | {"SEMCAT_RAY__BATCH_ROWS": "50", "SEMCAT_BACKEND": "onnx-int8"}
    job = subprocess.Popen(
        [sys.executable, "-m", "semcat.cli", "index", str(catalog), "--executor", "ray"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its Ray cluster is killed with it
    )
    assert job.stderr is not None
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(iter(lambda: job.stderr.read(64), "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:
        counts = [int(n) for n in re.findall(r"stored: +(\d+)", "".join(said))]
        if counts and 100 <= max(counts) < 500:
            break
        time.sleep(0.2)
    seen = "".join(said)
    assert job.poll() is None, f"the run ended before it could be killed:\n{seen[-2000:]}"
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=60)

    done = semcat("index", str(catalog), "--executor", "ray", "--json", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert 0 < report["indexed"] < 500 and report["unchanged"] == 500 - report["indexed"]
    with Engine(Settings(data_dir=tmp_path / "data")) as engine:
        stored = [r.id for r in engine.store().browse(None, 1000).records]
    assert len(stored) == len(set(stored)) == 500
