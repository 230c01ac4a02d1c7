"""How far a confidence can be trusted: coverage at a precision, calibration error, reliability.

- **Coverage at precision p**: rank the predictions by confidence and file the largest top
  share whose precision is still at least p (what a catalog team files without a look).
- **Expected calibration error** (ECE): the confidences grouped in 10 equal-width bins,
  the gap between each bin's mean confidence and its accuracy, weighted by its size.
- **Reliability diagram**: each bin's accuracy against its mean confidence (a calibrated
  confidence lies on the diagonal).
- **The auto decision** (semcat only): at each target precision, the share filed
  automatically and the precision it realized on the held-out products.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = (0.9, 0.95, 0.98, 0.99)  # the precisions coverage is reported at
BINS = 10


def coverage_at(confidence: Sequence[float], right: Sequence[bool], precision: float) -> float:
    """The largest share of the predictions, taken by decreasing confidence, right at least
    ``precision`` of the time (0 when not even the most confident one is)."""
    conf, ok = np.asarray(confidence, dtype=np.float64), np.asarray(right, dtype=bool)
    if not len(conf):
        return 0.0
    ranked = ok[np.argsort(-conf, kind="stable")]
    precisions = np.cumsum(ranked) / np.arange(1, len(ranked) + 1)
    reached = np.flatnonzero(precisions >= precision)
    return float((reached[-1] + 1) / len(ranked)) if len(reached) else 0.0


def reliability(confidence: Sequence[float], right: Sequence[bool], bins: int = BINS) -> list[dict[str, float]]:
    """Per non-empty bin of confidence: its mean confidence, its accuracy, its size."""
    conf, ok = np.asarray(confidence, dtype=np.float64), np.asarray(right, dtype=bool)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append(
                {"confidence": float(conf[mask].mean()), "accuracy": float(ok[mask].mean()), "n": int(mask.sum())}
            )
    return out


def calibration_error(confidence: Sequence[float], right: Sequence[bool], bins: int = BINS) -> float:
    """Expected calibration error over ``bins`` equal-width bins."""
    table = reliability(confidence, right, bins)
    total = sum(row["n"] for row in table)
    return float(sum(abs(row["confidence"] - row["accuracy"]) * row["n"] for row in table) / total) if total else 0.0


def summary(confidence: Sequence[float], right: Sequence[bool]) -> dict[str, Any]:
    """Coverage at each of :data:`PRECISIONS`, the ECE and the reliability bins."""
    return {
        "coverage": {f"{p:.2f}": round(coverage_at(confidence, right, p), 4) for p in PRECISIONS},
        "ece": round(calibration_error(confidence, right), 4),
        "accuracy": round(float(np.mean(right)), 4) if len(right) else 0.0,
        "reliability": reliability(confidence, right),
    }


def auto_summary(auto: dict[float, Sequence[bool]], right: Sequence[bool]) -> dict[str, dict[str, float | None]]:
    """Per target: the share filed automatically and the precision it realized."""
    ok = np.asarray(right, dtype=bool)
    out: dict[str, dict[str, float | None]] = {}
    for target, filed in sorted(auto.items()):
        mask = np.asarray(filed, dtype=bool)
        out[f"{target:.2f}"] = {
            "share": round(float(mask.mean()), 4) if len(mask) else 0.0,
            "precision": round(float(ok[mask].mean()), 4) if mask.any() else None,
        }
    return out


def table(confidence: dict[str, Any]) -> list[str]:
    """Markdown: per level and method, coverage at each precision and the ECE; then the
    auto decision at each target."""
    lines = [
        "| level | method | accuracy | " + " | ".join(f"coverage at {float(p):.0%}" for p in PRECISIONS) + " | ECE |",
        "|---|---|---|" + "---|" * len(PRECISIONS) + "---|",
    ]
    for level, methods in confidence["levels"].items():
        for name, row in methods.items():
            cells = " | ".join(f"{row['coverage'][f'{p:.2f}']:.1%}" for p in PRECISIONS)
            label = "full path" if level == "full" else f"level {level}"
            lines.append(f"| {label} | {name} | {row['accuracy']:.4f} | {cells} | {row['ece']:.4f} |")
    for name, auto in confidence.get("auto", {}).items():
        lines += [
            "",
            f"{name}, decision `auto` on the held-out products (threshold learned on each training part):",
            "",
        ]
        lines += ["| target precision | filed automatically | realized precision |", "|---|---|---|"]
        for target, row in auto.items():
            realized = "-" if row["precision"] is None else f"{row['precision']:.4f}"
            lines.append(f"| {float(target):.0%} | {row['share']:.1%} | {realized} |")
    return lines


def reliability_plot(confidence: dict[str, Any], path: Path, title: str) -> None:
    """The reliability diagram of every method at the full path (or the deepest level)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    level = "full" if "full" in confidence["levels"] else list(confidence["levels"])[-1]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, row in confidence["levels"][level].items():
        bins = row["reliability"]
        ax.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            label=f"{name} (ECE {row['ece']:.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (bin mean)")
    ax.set_ylabel("share right")
    where = "full path" if level == "full" else f"level {level}"
    ax.set_title(f"Reliability, {where}: {title}"[:90], fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
