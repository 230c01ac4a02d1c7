"""Where the head-training process's memory goes, per store backend (issue 35: the 1M run
peaked at 17.3 GB with the embedded Qdrant store against 9.6 GB with FAISS).

    .venv/bin/python benchmarks/studies/head_memory.py [--products 300000] [--stores faiss,qdrant] [--keep DIR]

Per store: the catalog of ``benchmarks/scale.py`` at ``--products`` (real vectors first,
then recombinations) indexed into a fresh data folder by a process of its own (at 1M the
catalog and its vectors take ~9 GB, which must not sit beside the measured process: a
machine of 24 GB would run out), then a child process trains the head
as ``scale.py`` does (``Engine.head()``: the pass over the store, the sample read back, the
head and its calibration), while this process reads the child's ``/proc/<pid>/status``
every 0.2 s: resident memory split into anonymous pages (the process's own allocations)
and file-backed pages (mapped files it touched: the store's segments, which the kernel can
drop and re-read under pressure), and their peaks. The child prints the same at each stage.
``--keep DIR``: the data folders are kept under DIR and reused by the next run (a 1M store
takes ~13 minutes to build). Writes benchmarks/results/head_memory.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import publish
from scale import Supplied, build, real_products
from semcat.config import Settings
from semcat.embedding import load_embedder

CHILD = """
import json, sys
from pathlib import Path
from semcat.config import Settings
from semcat.engine import Engine
from semcat.categorize.head_data import LabeledProducts

def status():
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: round(int(fields[k].split()[0]) / 1024) for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}

settings = Settings(data_dir=Path(sys.argv[1]), store=sys.argv[2])
with Engine(settings) as engine:
    store = engine.store()
    store.count()
    print(json.dumps({"stage": "store open", **status()}), flush=True)
    data = LabeledProducts(store, settings.text_fields, settings.head.max_products)
    print(json.dumps({"stage": "pass over the store", **status()}), flush=True)
    data.training_set()
    del data
    print(json.dumps({"stage": "sample read back", **status()}), flush=True)
    engine.head()
    print(json.dumps({"stage": "head and calibration trained", **status()}), flush=True)
"""


def watch(pid: int, peaks: dict[str, int], done: threading.Event) -> None:
    while not done.is_set():
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        for key in ("RssAnon", "RssFile", "VmRSS"):
            if key in fields:
                peaks[key] = max(peaks.get(key, 0), round(int(fields[key].split()[0]) / 1024))
        time.sleep(0.2)


def build_store(store: str, n: int, data: Path) -> None:
    """Index the scale catalog of ``n`` products into ``data`` (run in a process of its own)."""
    from semcat.engine import Engine

    model = load_embedder(Settings())
    real, vectors = real_products(model)
    products, dense = build(n, real, vectors)
    settings = Settings(store=store)
    texts = [p.text(settings.text_fields) for p in products]
    supplied = Supplied(model.name, dict(zip(texts, dense, strict=True)), dense.shape[1])
    with Engine(settings.model_copy(update={"data_dir": data}), embedder=supplied) as engine:
        engine.index(products, progress=False)


def measure(store: str, n: int, root: Path) -> dict[str, Any]:
    data = root / f"{store}-{n}"
    if not (data / ".built").exists():
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run(
            [sys.executable, __file__, "--build", store, "--products", str(n), "--keep", str(root)], check=True
        )
        (data / ".built").touch()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data), store], stdout=subprocess.PIPE, text=True)
    peaks: dict[str, int] = {}
    done = threading.Event()
    watcher = threading.Thread(target=watch, args=(child.pid, peaks, done), daemon=True)
    watcher.start()
    start = time.perf_counter()
    out, _ = child.communicate()
    seconds = time.perf_counter() - start
    done.set()
    stages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    row = {"store": store, "products": n, "seconds": round(seconds), "peaks_mb": peaks, "stages": stages}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=300_000)
    parser.add_argument("--stores", default="faiss,qdrant")
    parser.add_argument("--keep", type=Path, help="keep the data folders here, and reuse them")
    parser.add_argument("--build", help=argparse.SUPPRESS)  # the building process's own call
    args = parser.parse_args()
    if args.build:
        build_store(args.build, args.products, args.keep / f"{args.build}-{args.products}")
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="semcat-head-memory-"))
    try:
        rows = [measure(store, args.products, root) for store in args.stores.split(",")]
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    publish("head_memory", {"products": args.products, "rows": rows})


if __name__ == "__main__":
    main()
