"""Helpers shared by the benchmark scripts: machine description, result files, docs tables."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
SHARED = ROOT.parent / "shared" / "datasets"
CACHE = ROOT / "benchmarks" / ".cache"  # embedded vectors per catalog and model (delete to re-embed)
# the catalogs the accuracy studies run on: name -> (shared folder, file)
DATASETS = {
    "flipkart1050": ("flipkart-1050", "flipkart_com-ecommerce_sample_1050.csv"),
    "cdiscount": ("cdiscount-50k", "cdiscount_test.csv"),
}


def catalog(name: str) -> list:
    """The labeled products of a shared catalog as the accuracy studies read them; besides
    :data:`DATASETS`, ``flipkart20k``: product names only, the full category tree, rows
    whose tree is only the product name (depth 1) dropped; ``pricerunner``: offer titles
    under their one-level category (many offers per product, from different shops)."""
    from semcat.catalog import ColumnMap, Product, read_catalog

    if name == "pricerunner":
        return read_catalog(
            dataset("pricerunner-35k", "pricerunner_aggregate.csv"),
            ColumnMap(id="product_id", title="product_title", category=["category_label"]),
        ).products
    if name != "flipkart20k":
        folder, file = DATASETS[name]
        return read_catalog(dataset(folder, file)).products
    report = read_catalog(
        dataset("flipkart-20k", "flipkart_20k_merged.csv"),
        ColumnMap(id="uniq_id", title="product_name", description=None, brand=None, category=["product_category_tree"]),
    )
    return [Product(id=p.id, title=p.title, category=p.category) for p in report.products if len(p.category) >= 2]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def dataset(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if path.exists():
        return path
    if parts[0] == "flipkart-1050":
        return ROOT / "examples" / "flipkart-1050" / parts[-1]
    sys.exit(f"dataset not found: {path} (benchmarks need ../shared/datasets)")


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def update_doc_section(name: str, markdown: str) -> None:
    """Replace the block between <!-- name:start --> and <!-- name:end --> in docs/benchmarks.md."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def embedded(name: str, products: list, embedder: Any) -> Any:
    """from_products with an on-disk cache of the vectors (keyed by model and texts)."""
    import numpy as np

    from semcat.evaluation import LabeledSet, from_products

    texts = "\n".join(p.text() for p in products if p.category)
    key = hashlib.sha256(f"{embedder.name}\n{texts}".encode()).hexdigest()[:16]
    path = CACHE / f"{name}-{key}.npz"
    if path.exists():
        cached = np.load(path)
        labeled = [p for p in products if p.category]
        return LabeledSet(
            ids=[p.id for p in labeled],
            vectors=cached["vectors"],
            paths=[p.category for p in labeled],
            texts=[p.text() for p in labeled],
            payloads=[p.payload() for p in labeled],
            model=embedder.name,
            embed_seconds=float(cached["seconds"]),
            encoder=embedder,
        )
    data = from_products(products, embedder)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=data.vectors, seconds=data.embed_seconds)
    return data


def pickled(name: str, build: Any) -> Any:
    """``build()``'s result, pickled under ``CACHE/<name>.pkl`` the first time and read from
    there after (delete the file to build it again)."""
    import pickle

    path = CACHE / f"{name}.pkl"
    if path.exists():
        with path.open("rb") as fh:
            return pickle.load(fh)
    result = build()
    CACHE.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(result, fh)
    return result


def publish(name: str, data: dict[str, Any], section: str | None = None, markdown: str | None = None) -> Path:
    """The one way a benchmark records what it measured: ``results/<name>.json`` (with the
    machine it ran on) and, when given, its section of docs/benchmarks.md."""
    data = {"machine": machine(), **data} if "machine" not in data else data
    path = write_result(name, data)
    if section is not None and markdown is not None:
        update_doc_section(section, markdown)
    return path
