"""How predictions look: one row per product (JSON, CSV/TSV/JSONL files) and the terminal view."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from semcat.catalog import PATH_JOIN
from semcat.catalog.writers import SafeDictWriter
from semcat.categorize.prediction import prediction_row
from semcat.cli.common import out
from semcat.errors import ConfigError

if TYPE_CHECKING:
    from semcat.categorize.prediction import Prediction

PREDICTION_CSV_FIELDS = [
    "id",
    "title",
    "category",
    "main_category",
    "confidence",
    "decision",
    "score",
    "uncertain",
    "top",
    "true_category",
]


def decision_summary(predictions: Sequence[Any], target: float) -> str:
    """The summary of a file's decisions: 'N of M filed automatically at an expected P% precision; R to review'."""
    auto = sum(p.decision == "auto" for p in predictions)
    line = (
        f"{auto:,} of {len(predictions):,} filed automatically at an expected {target:.0%} precision; "
        f"{len(predictions) - auto:,} to review"
    )
    if predictions and not any(p.calibrated for p in predictions):
        line += " (the confidence is not calibrated: see `semcat info`)"
    return line


def prediction_rows(products: Sequence[Any], predictions: Sequence[Any]) -> list[dict[str, Any]]:
    return [prediction_row(product, pred) for product, pred in zip(products, predictions, strict=True)]


OUTPUT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")


def check_output(path: Path) -> None:
    """Refuse an output file that cannot be written, before any work is done."""
    if path.is_dir():
        raise ConfigError(f"the output {path} is a folder: give a file name, e.g. {path / 'predictions.jsonl'}")
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"cannot write predictions to {path.name}: use a .csv, .tsv or .jsonl file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"cannot write {path}: the folder {parent} does not exist")


def write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    try:
        _write_predictions(path, rows)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif suffix in (".csv", ".tsv"):
        deepest = max((len(row["levels"]) for row in rows), default=0)
        per_level = [name for i in range(1, deepest + 1) for name in (f"level_{i}", f"level_{i}_confidence")]
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = SafeDictWriter(fh, PREDICTION_CSV_FIELDS + per_level, delimiter="\t" if suffix == ".tsv" else ",")
            writer.writeheader()
            for row in rows:
                flat = dict(row)
                flat["top"] = "; ".join(f"{c['category']} ({c['score']:.2f})" for c in row["top"])
                for level in row["levels"]:  # each level's own category name and confidence
                    flat[f"level_{level['level']}"] = level["category"].split(PATH_JOIN)[-1]
                    flat[f"level_{level['level']}_confidence"] = level["confidence"]
                writer.writerow(flat)
    else:
        raise ConfigError(f"cannot write predictions to {path.name}: use a .csv, .tsv or .jsonl file")


def _confidence(value: float | None, calibrated: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if calibrated else f"{value:.2f}*"


def print_prediction(text: str, pred: Prediction) -> None:
    flag = " [yellow](uncertain)[/yellow]" if pred.uncertain else ""
    if pred.near_duplicate:
        flag += " (near-duplicate of a stored product)"
    decision = "[green]auto[/green]" if pred.decision == "auto" else "[yellow]review[/yellow]"
    out.print(f"[bold]{escape(text)}[/bold]")
    out.print(
        f"  category: [green]{escape(str(pred.category))}[/green]  confidence "
        f"{_confidence(pred.confidence, pred.calibrated)}  {decision}{flag}",
        markup=True,
    )
    for lv in pred.levels:
        conf = _confidence(lv.confidence, pred.calibrated)
        out.print(f"    level {lv.level}: {lv.category.split(' > ')[-1]} (confidence {conf})", markup=False)
    if pred.decision_reason:
        out.print(f"  review: {pred.decision_reason}", markup=False)
    if not pred.calibrated:
        out.print("  * not calibrated (a mixed score, not a probability): see `semcat info`", markup=False)
    if len(pred.top) > 1:
        out.print("  alternatives: " + "; ".join(f"{c.category} ({c.score:.2f})" for c in pred.top[1:]), markup=False)
    if pred.modality == "both":
        out.print("  decided by: text and image votes")
    out.print("  neighbors:")
    for n in pred.neighbors:
        by = f" ({n.space})" if pred.modality != "text" else ""
        out.print(f"    {n.score:.3f}{by}  {n.title[:70]}  [{n.category}]", markup=False)


def print_prediction_table(rows: list[dict[str, Any]]) -> None:
    table = Table()
    table.add_column("id", overflow="ellipsis", no_wrap=True, max_width=16)
    table.add_column("title", overflow="ellipsis", no_wrap=True, max_width=30)
    table.add_column("category", overflow="fold")
    table.add_column("confidence", justify="right", min_width=5, no_wrap=True)
    table.add_column("decision")
    for row in rows:
        table.add_row(
            escape(row["id"]),
            escape(row["title"]),
            escape(row["category"] or "-"),
            "-" if row["confidence"] is None else f"{row['confidence']:.2f}",
            row["decision"],
        )
    out.print(table)
