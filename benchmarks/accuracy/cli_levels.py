"""Every level through the CLI, as a user runs it: index the training part, categorize the rest.

    .venv/bin/python benchmarks/accuracy/cli_levels.py [--products 10000] [--seed 0] [--head-levels N]

A random sample of ``--products`` cdiscount-50k rows (``--seed``), split 80/20 stratified on
the main category (same seed), written as two CSV files with the catalog's own columns.
Then ``semcat index train.csv`` into a fresh data folder and ``semcat categorize --file
test.csv -o predictions.jsonl`` (the default categorizer, the default MiniLM model), and,
on the same split and the same product texts, TF-IDF (word 1-2-grams) + linear SVM
trained flat at each level. Accuracy at level 1, level 2 and the full path (3 levels); the
share of the test products that can be filed at 99% and 95% full-path precision ranked by
semcat's ``confidence``, by its ``score`` and by a calibrated TF-IDF + SVM's probability;
and the precision the ``auto`` decision realized at the default target.
Writes benchmarks/results/cli_levels.json and its table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import DATASETS, dataset, publish
from semcat.catalog import read_catalog
from semcat.evaluation import LabeledSet
from semcat.evaluation import methods as m
from semcat.evaluation.confidence import coverage_at
from semcat.options import DEFAULTS

SETTINGS_TARGET = DEFAULTS.auto_precision
SEMCAT = [sys.executable, "-m", "semcat.cli"]
LEVELS: tuple[int | None, ...] = (1, 2, None)


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def labeled(path: Path) -> LabeledSet:
    products = [p for p in read_catalog(path).products if p.category]
    return LabeledSet(
        ids=[p.id for p in products],
        vectors=np.zeros((len(products), 1), dtype=np.float32),
        paths=[p.category for p in products],
        texts=[p.text() for p in products],
        payloads=[],
        model="none",
    )


def accuracy(predicted: list[tuple[str, ...]], truth: list[tuple[str, ...]], level: int | None) -> float:
    return float(
        np.mean(
            [
                tuple(p[:level] if level else p) == tuple(t[:level] if level else t)
                for p, t in zip(predicted, truth, strict=True)
            ]
        )
    )


def sample_split(main_categories: list[str], products: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The protocol's rows (indices into ``main_categories``, the catalog's rows in file
    order): ``products`` drawn at random (``seed``), split 80/20 stratified on the main
    category with the same seed: (training rows, test rows), each in the split's order."""
    from sklearn.model_selection import train_test_split

    sample = np.sort(np.random.default_rng(seed).choice(len(main_categories), size=products, replace=False))
    main = [main_categories[i] for i in sample]
    counts = {c: main.count(c) for c in set(main)}
    largest = max(counts, key=counts.__getitem__)
    strata = [c if counts[c] > 1 else largest for c in main]  # a lone product joins the largest stratum
    train, test = train_test_split(sample, test_size=0.2, random_state=seed, stratify=strata)
    return np.asarray(train), np.asarray(test)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head-levels", type=int, default=None)
    args = parser.parse_args()
    source = dataset(*DATASETS["cdiscount"])
    with source.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    main_column = header.index("Categorie1")
    train, test = sample_split([row[main_column] for row in rows], args.products, args.seed)
    train_rows, test_rows = [rows[i] for i in train], [rows[i] for i in test]
    env = dict(os.environ)
    if args.head_levels is not None:
        env["SEMCAT_HEAD__LEVELS"] = str(args.head_levels)
    with tempfile.TemporaryDirectory(prefix="semcat-cli-levels-") as tmp:
        folder = Path(tmp)
        write(folder / "train.csv", header, train_rows)
        write(folder / "test.csv", header, test_rows)
        data = ["--data-dir", str(folder / "data")]
        start = time.perf_counter()
        subprocess.run([*SEMCAT, "index", str(folder / "train.csv"), *data, "--quiet"], check=True, env=env)
        indexed = time.perf_counter() - start
        start = time.perf_counter()
        out = folder / "predictions.jsonl"
        done = subprocess.run(
            [*SEMCAT, "categorize", "--file", str(folder / "test.csv"), "-o", str(out), *data],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        summary_line = next((line for line in done.stderr.splitlines() if "filed automatically" in line), "")
        categorized = time.perf_counter() - start
        predictions = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
        train, test = labeled(folder / "train.csv"), labeled(folder / "test.csv")
    by_id = {p["id"]: tuple((p["category"] or "").split(" > ")) for p in predictions}
    semcat_paths = [by_id[i] for i in test.ids]
    scores: dict[str, dict[str, float]] = {"semcat (CLI)": {}, "tfidf-svm": {}}
    for level in LEVELS:
        key = "full" if level is None else str(level)
        scores["semcat (CLI)"][key] = round(accuracy(semcat_paths, test.paths, level), 4)
        svm = m.tfidf_svm(train, test, level)
        scores["tfidf-svm"][key] = round(accuracy(svm.predicted, test.paths, level), 4)
    # the confidence a catalog team acts on: coverage at a precision on the full path, most
    # confident first, and the precision the `auto` decision realized at the default target
    full_right = [p == tuple(t) for p, t in zip(semcat_paths, test.paths, strict=True)]
    by_conf = {p["id"]: p for p in predictions}
    ranked = {
        "semcat `confidence`": [by_conf[i]["confidence"] or 0.0 for i in test.ids],
        "semcat `score` (main category)": [by_conf[i]["score"] for i in test.ids],
    }
    svm_cal = m.tfidf_svm(train, test, None, confidence=True)
    svm_right = [tuple(p) == tuple(t) for p, t in zip(svm_cal.predicted, test.paths, strict=True)]
    coverage: dict[str, dict[str, float]] = {}
    for name, values in ranked.items():
        coverage[name] = {f"{q:.2f}": round(coverage_at(values, full_right, q), 4) for q in (0.95, 0.99)}
    coverage["TF-IDF + SVM, calibrated"] = {
        f"{q:.2f}": round(coverage_at(svm_cal.confidence or [], svm_right, q), 4) for q in (0.95, 0.99)
    }
    auto = [by_conf[i]["decision"] == "auto" for i in test.ids]
    filed = [ok for ok, a in zip(full_right, auto, strict=True) if a]
    auto_result = {
        "share": round(float(np.mean(auto)), 4),
        "precision": round(float(np.mean(filed)), 4) if filed else None,
        "target": SETTINGS_TARGET,
    }
    command = f"python benchmarks/accuracy/cli_levels.py --products {args.products} --seed {args.seed}" + (
        f" --head-levels {args.head_levels}" if args.head_levels else ""
    )
    lines = [
        f"Command: `{command}` — cdiscount-50k, {args.products:,} random products (seed {args.seed}), "
        f"{len(train.ids):,} indexed with `semcat index` ({indexed:.0f} s, embedding included), "
        f"{len(test.ids):,} categorized with `semcat categorize --file` ({categorized:.0f} s).",
        "",
        "| | level 1 | level 2 | full path (3 levels) |",
        "|---|---|---|---|",
        *(f"| {name} | {s['1']:.4f} | {s['2']:.4f} | {s['full']:.4f} |" for name, s in scores.items()),
        "",
        "| ranking the predictions by | share filed at 99% full-path precision | at 95% |",
        "|---|---|---|",
        *(f"| {name} | {c['0.99']:.1%} | {c['0.95']:.1%} |" for name, c in coverage.items()),
        "",
        f"Decision `auto` at the default target ({SETTINGS_TARGET:.0%}): {auto_result['share']:.1%} of the test "
        f"products filed automatically, {auto_result['precision'] or 0:.4f} of them right on the full path. "
        f"`semcat categorize` said: {summary_line}",
    ]
    suffix = "" if args.head_levels is None else f"_head{args.head_levels}"
    publish(
        f"cli_levels{suffix}",
        {
            "command": command,
            "scores": scores,
            "index_seconds": round(indexed),
            "categorize_seconds": round(categorized),
            "coverage": coverage,
            "auto": auto_result,
        },
        section=f"cli-levels{suffix}",
        markdown="\n".join(lines),
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
