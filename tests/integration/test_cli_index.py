"""The real command line on the real catalog: index with FAISS and Qdrant, survive
kill -9, re-run embeds nothing, everything is there after a restart."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FLIPKART_CSV

pytestmark = pytest.mark.integration

VALID_ROWS = 1050


def semcat(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "semcat.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def stored_rows(data_dir: Path, backend: str) -> int:
    """Products stored so far (FAISS: read from its SQLite while the indexer runs)."""
    if backend == "qdrant":  # an embedded Qdrant shard has one owner: read once the indexer is gone
        from semcat.search.qdrant_edge import QdrantEdgeStore

        store = QdrantEdgeStore(data_dir / "qdrant-edge" / "products", None)
        try:
            return store.count()
        finally:
            store.close()
    db = data_dir / "faiss" / "products" / "store.sqlite"
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


class Progress:
    """The products a running `semcat index` reports committed (its progress bar on stderr
    counts a batch once the store has it)."""

    def __init__(self, stream: Any) -> None:
        self.done = 0
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        tail = ""
        for chunk in iter(lambda: stream.read1(4096), b""):
            tail = (tail + chunk.decode("utf-8", "replace"))[-200:]
            counts = re.findall(r"(\d+)/" + str(VALID_ROWS), tail)
            if counts:
                self.done = max(self.done, int(counts[-1]))


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("backend", ["faiss", "qdrant"])
def test_index_kill9_resume_restart(backend: str, tmp_path: Path) -> None:
    if not FLIPKART_CSV.exists():
        pytest.skip(f"shared dataset not found at {FLIPKART_CSV}")
    common = ["--store", backend, "--data-dir", str(tmp_path / "data")]

    # 1. start indexing, kill -9 once some batches are committed
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "semcat.cli", "index", str(FLIPKART_CSV), *common, "--batch-size", "32"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    progress = Progress(proc.stderr)
    deadline = time.monotonic() + 300
    while progress.done < 96 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = stored_rows(tmp_path / "data", backend)
    assert 0 < at_kill < VALID_ROWS, f"kill -9 did not land mid-run ({at_kill} stored)"

    # 2. re-run: resumes, final count = valid rows, nothing duplicated
    resumed = as_json(semcat("index", str(FLIPKART_CSV), *common, "--json", cwd=tmp_path))
    assert resumed["products_in_store"] == VALID_ROWS
    assert resumed["unchanged"] >= at_kill - 32  # at most the batch in flight was lost
    assert resumed["new"] + resumed["unchanged"] == VALID_ROWS
    assert resumed["rejected"] == 0
    # the linear head is trained at the end of indexing and kept for the next process
    assert resumed["head_seconds"] is not None
    assert (tmp_path / "data" / "heads" / f"{backend}-products.pkl").exists()

    # 3. a second run embeds nothing
    again = as_json(semcat("index", str(FLIPKART_CSV), *common, "--json", cwd=tmp_path))
    assert (again["indexed"], again["unchanged"]) == (0, VALID_ROWS)

    # 4. a new process sees the same store: counts, no duplicate, categorize and search work
    info = as_json(semcat("info", *common, "--json", cwd=tmp_path))
    assert info["products"] == VALID_ROWS and info["labeled"] == VALID_ROWS
    assert set(info["categories"].values()) == {150}
    if backend == "faiss":
        assert info["spaces"]["text"]["vectors"] == VALID_ROWS
    hits = as_json(semcat("similar", "stainless steel analog watch", "-k", "50", *common, "--json", cwd=tmp_path))
    assert len({h["id"] for h in hits}) == 50
    assert hits[0]["category"].startswith("Watches")

    new_products = tmp_path / "new.csv"
    new_products.write_text(
        "id,title,description\n"
        "n1,Pampers baby diapers size 3,Soft and absorbent diapers for babies\n"
        "n2,HP 15 laptop 8GB RAM 512GB SSD,Intel Core i5 notebook computer\n"
        "n3,,\n"
    )
    out_file = tmp_path / "preds.jsonl"
    result = semcat("categorize", "--file", str(new_products), "-o", str(out_file), *common, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "row 4: no text" in result.stderr
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [(r["id"], r["main_category"]) for r in rows] == [("n1", "Baby Care"), ("n2", "Computers")]
    assert all(len(r["neighbors"]) >= 10 and r["levels"] for r in rows)  # 10 by vector, then by words


def test_some_bad_rows_index_the_rest_and_exit_0(tmp_path: Path) -> None:
    catalog = tmp_path / "mixed.csv"
    catalog.write_text(
        "id,title,description,category\n"
        "a,Stainless steel pressure cooker 5 litre,Induction base cooker,Kitchen > Cookware\n"
        ",Orphan row without id,text,Kitchen > Cookware\n"
        "b,,,Kitchen > Cookware\n"
        "c,Analog wrist watch for men,Leather strap,Watches > Wrist Watches\n"
        "d,Baby cotton romper,Soft snap buttons,Baby Care > Infant Wear\n"
    )
    data = ["--data-dir", str(tmp_path / "data")]
    result = semcat("index", str(catalog), *data, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "row 3: no id" in result.stderr and "row 4: no text" in result.stderr
    assert "indexed 3" in result.stderr and "rejected 2" in result.stderr
    prediction = as_json(semcat("categorize", "steel watch with a leather band", *data, "--json", cwd=tmp_path))
    assert prediction["main_category"] == "Watches"
    assert prediction["neighbors"][0]["id"] == "c"
    missing = semcat("similar", "--id", "nope", *data, cwd=tmp_path)
    assert missing.returncode == 1 and "no stored product with id 'nope'" in missing.stderr
