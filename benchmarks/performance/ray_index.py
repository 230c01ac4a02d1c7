"""`semcat index --executor ray` against `semcat index`: the same store, and what Ray costs.

    .venv/bin/python benchmarks/performance/ray_index.py [--datasets flipkart1050,cdiscount] \
        [--products 10000] [--runs 3]

1. **Same store** (per catalog): 80% of the products (every fifth held out) indexed by
   `semcat index` and by `semcat index --executor ray` (a local Ray cluster on this
   machine's 2 cores, the catalog cut into 4 shards), both on the fp32 ONNX backend (its
   vectors do not depend on which products share a batch, see docs/scale-out.md): same ids,
   payloads (hashes included), largest vector difference, predictions on the held-out
   products compared one by one.
2. **Throughput** (cdiscount-50k's first ``--products`` products, the default int8 backend,
   no head: the indexing alone as the CLI reports it, Ray's start included): the Ray path
   with a local cluster of 1 and of 2 CPUs (one actor per CPU), and `semcat index` on both
   cores, ``--runs`` runs each, alternated, medians.
Writes benchmarks/results/ray_index.json and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import DATASETS, dataset, publish

SEMCAT = [sys.executable, "-m", "semcat.cli"]
LABELS = {"flipkart1050": "flipkart-1050", "cdiscount": "cdiscount-50k"}


def rows_of(name: str) -> tuple[list[str], list[list[str]]]:
    with dataset(*DATASETS[name]).open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    if not any(h.lower() in ("id", "uniq_id") for h in header):  # cdiscount: numbered by row, per file
        header, rows = ["id", *header], [[f"r{i}", *row] for i, row in enumerate(rows)]
    return header, rows


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def index(catalog: Path, data: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [*SEMCAT, "index", str(catalog), "--json", *extra],
        env=os.environ | {"SEMCAT_DATA_DIR": str(data)} | env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return dict(json.loads(done.stdout))


def same_store(name: str, folder: Path) -> dict[str, Any]:
    from semcat.catalog import read_catalog
    from semcat.config import Settings
    from semcat.engine import Engine

    header, rows = rows_of(name)
    train = [r for i, r in enumerate(rows) if i % 5]
    held = [r for i, r in enumerate(rows) if not i % 5]
    whole = write(folder / f"{name}.csv", header, train)
    shards = folder / f"{name}-shards"
    shards.mkdir()
    quarter = -(-len(train) // 4)
    for part in range(4):
        write(shards / f"part-{part}.csv", header, train[part * quarter : (part + 1) * quarter])
    env = {"SEMCAT_BACKEND": "onnx", "SEMCAT_CALIBRATION": "false"}  # the head votes; its calibration is not compared
    local = index(whole, folder / f"{name}-local", env)
    ray = index(shards, folder / f"{name}-ray", env | {"SEMCAT_RAY__CPUS": "2"}, "--executor", "ray")
    queries = read_catalog(write(folder / f"{name}-held.csv", header, held)).products
    found = []
    for data in ("local", "ray"):
        with Engine(Settings(data_dir=folder / f"{name}-{data}", backend="onnx", calibration=False)) as engine:
            store = engine.store()
            ids, cursor = [], None
            while True:
                page = store.browse(None, 1000, cursor)
                ids += [r.id for r in page.records]
                cursor = page.next
                if not cursor:
                    break
            ids.sort()
            records = {}
            for start in range(0, len(ids), 1000):
                records |= {r.id: r for r in store.get(ids[start : start + 1000], with_vectors=True)}
            predicted = [p.category for p in engine.categorize(queries)]
            found.append((ids, records, predicted))
    (ids_a, rec_a, pred_a), (ids_b, rec_b, pred_b) = found
    diff = max(float(np.abs(rec_a[i].vectors["text"] - rec_b[i].vectors["text"]).max()) for i in ids_a)
    return {
        "products": len(ids_a),
        "same_ids": ids_a == ids_b,
        "same_payloads": ids_a == ids_b and all(rec_a[i].payload == rec_b[i].payload for i in ids_a),
        "max_vector_difference": diff,
        "held_out": len(queries),
        "same_predictions": sum(a == b for a, b in zip(pred_a, pred_b, strict=True)),
        "local_seconds": local["seconds"],
        "ray_seconds": ray["seconds"],
    }


def throughput(folder: Path, products: int, runs: int) -> dict[str, Any]:
    header, rows = rows_of("cdiscount")
    catalog = write(folder / "throughput.csv", header, rows[:products])
    no_head = {"SEMCAT_HEAD_WEIGHT": "0"}  # the indexing alone: no head to train after it
    modes = {
        "semcat index (2 cores)": (no_head, ()),
        "ray, 1 CPU": (no_head | {"SEMCAT_RAY__CPUS": "1"}, ("--executor", "ray")),
        "ray, 2 CPUs": (no_head | {"SEMCAT_RAY__CPUS": "2"}, ("--executor", "ray")),
    }
    rates: dict[str, list[float]] = {m: [] for m in modes}
    for run in range(runs):
        for mode, (env, extra) in modes.items():
            out = index(catalog, folder / f"t-{run}-{len(rates[mode])}-{mode[:3]}{mode[-6:]}", env, *extra)
            rates[mode].append(out["indexed"] / out["seconds"])
            print(mode, round(rates[mode][-1], 1), flush=True)
    return {m: {"median": statistics.median(r), "runs": [round(x, 1) for x in r]} for m, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart1050,cdiscount")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {"same_store": {}, "throughput": {}}
    with tempfile.TemporaryDirectory(prefix="semcat-ray-bench-") as tmp:
        folder = Path(tmp)
        for name in args.datasets.split(","):
            results["same_store"][name] = same_store(name, folder)
            print(name, results["same_store"][name], flush=True)
        results["throughput"] = throughput(folder, args.products, args.runs)
    command = (
        f"python benchmarks/performance/ray_index.py --datasets {args.datasets} --products {args.products} "
        f"--runs {args.runs}"
    )
    lines = [
        f"Command: `{command}` — a local Ray cluster on this machine (2 cores); fp32 ONNX vectors for the "
        "comparison, the catalog in 4 shards for Ray; every fifth product held out and categorized by both stores.",
        "",
        "| catalog | products | same ids | same payloads | largest vector difference | same predictions (held out) "
        "| seconds: semcat index / ray |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results["same_store"].items():
        lines.append(
            f"| {LABELS[name]} | {r['products']:,} | {'yes' if r['same_ids'] else 'NO'} | "
            f"{'yes' if r['same_payloads'] else 'NO'} | {r['max_vector_difference']:.1e} | "
            f"{r['same_predictions']:,} of {r['held_out']:,} | {r['local_seconds']:.0f} / {r['ray_seconds']:.0f} |"
        )
    t = results["throughput"]
    one, two, local = (t[k]["median"] for k in ("ray, 1 CPU", "ray, 2 CPUs", "semcat index (2 cores)"))
    lines += [
        "",
        f"Throughput: cdiscount-50k's first {args.products:,} products, default int8 backend, no head (the "
        f"indexing as `--json` reports it, Ray's start included), median of {args.runs} alternated runs.",
        "",
        "| executor | products/s | runs |",
        "|---|---|---|",
        *(f"| {mode} | {r['median']:.0f} | {', '.join(map(str, r['runs']))} |" for mode, r in t.items()),
        "",
        f"Scaling from 1 to 2 CPUs: {two / one:.2f}x (efficiency {two / one / 2:.0%}). Ray at 2 CPUs against "
        f"`semcat index` on the same 2 cores: {two / local:.2f}x the throughput (overhead {1 - two / local:.0%}).",
    ]
    results["scaling"] = round(two / one, 3)
    results["against_local"] = round(two / local, 3)
    publish("ray_index", {"command": command, **results}, section="ray-index", markdown="\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
