"""The API image ships without torch (requirements/api.txt): `semcat index`, `semcat
categorize` and `semcat serve` on the default model must work with torch and the libraries
built on it unimportable, once the model's ONNX export exists (the image's build stage
makes it)."""

from __future__ import annotations

import csv
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from packaging.utils import canonicalize_name
from tests.conftest import FLIPKART_CSV, load_script, start_serving

from semcat.config import Settings

pytestmark = pytest.mark.integration

BLOCKER = """
import importlib.abc, sys
class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the API image)")
        return None
sys.meta_path.insert(0, _NoTorch())
"""


def left_out_modules() -> set[str]:
    """The import names of what scripts/lock_image.py leaves out of the API image."""
    left_out = load_script("lock_image").TORCH_ONLY
    found = importlib.metadata.packages_distributions()
    return {module for module, dists in found.items() if any(canonicalize_name(d) in left_out for d in dists)}


def test_index_categorize_and_serve_without_torch(tmp_path: Path) -> None:
    if not FLIPKART_CSV.exists():
        pytest.skip(f"catalog not found at {FLIPKART_CSV}")
    from semcat.embedding.onnx import export_model
    from semcat.embedding.registry import resolve_model

    models_dir = Settings().models_dir
    export_model(resolve_model("minilm"), models_dir)  # the image's build stage, with torch
    (tmp_path / "site").mkdir()
    modules = left_out_modules()
    assert {"torch", "sentence_transformers", "open_clip"} <= modules
    # every Python started below
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER.format(names=sorted(modules)))
    with FLIPKART_CSV.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    catalog = tmp_path / "catalog.csv"
    with catalog.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[::5])  # 210 products: enough to train and calibrate the head
    data = tmp_path / "data"
    env = os.environ | {
        "HF_HUB_OFFLINE": "1",
        "SEMCAT_DATA_DIR": str(data),
        "SEMCAT_MODELS_DIR": str(models_dir),
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]),
    }
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "not in the API image" in probe.stderr  # the blocker is in force

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "semcat.cli", *args], env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr
        return done

    cli("index", str(catalog), "-q")
    new = tmp_path / "new.csv"
    new.write_text("id,title\nn1,stainless steel pressure cooker 5 litre\nn2,analog wrist watch with leather strap\n")
    categorized = cli("categorize", "--file", str(new), "--output", str(tmp_path / "out.csv"))
    assert "of 2 filed automatically" in categorized.stdout + categorized.stderr
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as answered:
        assert [row["main_category"] for row in csv.DictReader(answered)] == ["Kitchen & Dining", "Watches"]

    proc, url = start_serving(data, env)
    try:
        ready = httpx.get(f"{url}/ready", timeout=30).json()
        assert ready["model"] == "sentence-transformers/all-MiniLM-L6-v2@int8" and ready["products"] == 210
        answer = httpx.post(f"{url}/categorize", json={"items": [{"title": "baby cotton romper"}]}, timeout=60)
        assert answer.status_code == 200 and answer.json()["predictions"][0]["main_category"] == "Baby Care"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "not in the API image" not in (data / "server.log").read_text()
