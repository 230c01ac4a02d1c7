"""How the ``auto`` threshold is read from the out-of-fold predictions, rule by rule.

    .venv/bin/python benchmarks/studies/auto_threshold.py --datasets flipkart1050,flipkart20k,cdiscount
    .venv/bin/python benchmarks/studies/auto_threshold.py --datasets "" --cli-seeds 42,7,0
    .venv/bin/python benchmarks/studies/auto_threshold.py --datasets cdiscount --errors-at 0.58,0.63

Runs ``benchmarks/accuracy/confidence.py``'s protocol per catalog (stratified 5-fold CV,
seed 0, the default categorizer as served; it also writes that benchmark's table) and keeps,
per fold, what the ``auto`` decision reads: the calibration's held-out out-of-fold
confidences (``ranked_confidence``/``ranked_right``) and, for the fold's held-out products,
the served confidence, whether a rule holds them back (``calibration.held_back``) and
whether the path was right. Cached under ``benchmarks/.cache/auto-threshold-<catalog>.pkl``
(cdiscount-50k: about 70 minutes to build). Then each threshold rule is applied to every
fold and the realized precision and filed share reported per target. ``--cli-seeds``: the
same on the cdiscount 10k CLI protocol's splits (``confidence_signals.py``'s cache).
``--errors-at SHARES``: the wrong paths among that share of the most confident held-out
products, pooled over the folds, against how many 99% precision allows there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "accuracy"))
sys.path.insert(0, str(HERE))

from _common import pickled  # noqa: E402
from semcat.categorize import calibration as cal  # noqa: E402
from semcat.evaluation import methods  # noqa: E402

TARGETS = (0.90, 0.95, 0.98, 0.99)


def build(name: str, extra: list[str]) -> list[dict[str, Any]]:
    """confidence.py's run of ``name``, keeping each fold's calibration and held-out outcomes."""
    import confidence

    folds: list[dict[str, Any]] = []
    tests: list[Any] = []
    predict, decisions = methods._predict, methods._auto_decisions

    def keep_test(engine: Any, test: Any, opts: Any, batch: int) -> Any:
        tests.append(test)
        return predict(engine, test, opts, batch)

    def keep_fold(calibration: Any, predictions: list[Any]) -> dict[float, list[bool]]:
        truths = tests[-1].paths
        folds.append(
            {
                "ranked_confidence": calibration.ranked_confidence,
                "ranked_right": calibration.ranked_right,
                "considered": calibration.considered,
                "confidence": np.array([p.confidence or 0.0 for p in predictions]),
                "filable": np.array([cal.held_back(p, calibration.depth) is None for p in predictions]),
                "right": np.array(
                    [tuple(p.path) == tuple(t)[: calibration.depth] for p, t in zip(predictions, truths, strict=True)]
                ),
            }
        )
        return decisions(calibration, predictions)

    methods._predict, methods._auto_decisions = keep_test, keep_fold
    argv = sys.argv
    sys.argv = ["confidence.py", "--datasets", name, *extra]
    try:
        confidence.main()
    finally:
        methods._predict, methods._auto_decisions = predict, decisions
        sys.argv = argv
    return folds


def shipped(ranked: np.ndarray, right: np.ndarray, target: float) -> float | None:
    """The shipped rule (:meth:`Calibration.threshold`)."""
    c = cal.Calibration(
        depth=1,
        models=[],
        path_model=cal.LevelModel(None, 0.0),
        power=0.0,
        duplicate_threshold=None,
        ranked_confidence=ranked,
        ranked_right=right,
        considered=len(ranked),
        products=len(ranked),
        accuracy=0.0,
    )
    return c.threshold(target)


def lowest(ranked: np.ndarray, estimate: np.ndarray, target: float) -> float | None:
    """The lowest confidence whose filed out-of-fold predictions' ``estimate`` of their
    precision (per number filed) reaches ``target``, where a run of equal confidences ends."""
    ok = np.flatnonzero(cal.at_threshold_stops(ranked, estimate) >= target)
    return float(ranked[ok[-1]]) if len(ok) else None


def outcomes(ranked: np.ndarray, right: np.ndarray, target: float) -> float | None:
    """How often the filed out-of-fold predictions were right (the rule until this study)."""
    return lowest(ranked, np.cumsum(right) / np.arange(1, len(right) + 1), target)


def confidences(ranked: np.ndarray, right: np.ndarray, target: float) -> float | None:
    """The mean of the filed out-of-fold predictions' calibrated confidences."""
    return lowest(ranked, np.cumsum(ranked) / np.arange(1, len(ranked) + 1), target)


def both(ranked: np.ndarray, right: np.ndarray, target: float) -> float | None:
    """Both estimates must reach ``target``."""
    seen = np.arange(1, len(ranked) + 1)
    return lowest(ranked, np.minimum(np.cumsum(right) / seen, np.cumsum(ranked) / seen), target)


RULES = {
    "outcomes": outcomes,
    "confidences": confidences,
    "both": both,
    "mean of the two (shipped)": shipped,
}


def report(name: str, folds: list[dict[str, Any]]) -> None:
    for rule, threshold in RULES.items():
        cells = []
        for target in TARGETS:
            filed = right = total = 0
            for f in folds:
                t = threshold(f["ranked_confidence"], f["ranked_right"], target)
                auto = f["filable"] & (f["confidence"] >= t) if t is not None else np.zeros(len(f["right"]), bool)
                filed += int(auto.sum())
                right += int(f["right"][auto].sum())
                total += len(f["right"])
            cells.append(f"{target:.2f}: {right / max(filed, 1):.4f} on {filed / total:.1%}")
        print(f"{name} {rule}: " + " | ".join(cells), flush=True)


def errors_at(name: str, folds: list[dict[str, Any]], shares: list[float], precision: float = 0.99) -> None:
    """The wrong paths among the most confident held-out products (pooled over the folds, as
    the coverage columns are) at each share, against how many ``precision`` allows there."""
    confidence = np.concatenate([f["confidence"] for f in folds])
    right = np.concatenate([f["right"] for f in folds])[np.argsort(-confidence, kind="stable")]
    for share in shares:
        top = round(share * len(right))
        wrong = top - int(right[:top].sum())
        print(
            f"{name}: the {share:.0%} most confident ({top:,}) hold {wrong:,} wrong paths; "
            f"{precision:.0%} precision allows {int(top * (1 - precision) + 1e-9):,}",
            flush=True,
        )


def cli_fold(seed: int) -> dict[str, Any]:
    """The cdiscount 10k CLI protocol's split ``seed`` as one fold (confidence_signals.py's
    cached out-of-fold and held-out predictions, calibrated as shipped)."""
    import confidence_signals as signals

    run = signals.dump(seed)
    calibration = cal.fit(run["oof"], run["train"], signals.DEPTH, run["options"], len(run["oof"]))
    held = run["held"]
    return {
        "ranked_confidence": calibration.ranked_confidence,
        "ranked_right": calibration.ranked_right,
        "confidence": np.array([c for _, c in calibration.confidences(held)]),
        "filable": np.array([cal.held_back(p, signals.DEPTH) is None for p in held]),
        "right": np.array([tuple(p.path) == tuple(t) for p, t in zip(held, run["test"], strict=True)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="flipkart1050,flipkart20k,cdiscount")
    parser.add_argument("--depth", type=int, default=None, help="as confidence.py's --depth")
    parser.add_argument(
        "--cli-seeds", default="", help="also the cdiscount 10k CLI protocol's splits (confidence_signals.py's cache)"
    )
    parser.add_argument(
        "--errors-at",
        default="",
        help="also the wrong paths among the most confident held-out products at these shares (e.g. 0.58,0.63)",
    )
    args = parser.parse_args()
    shares = [float(x) for x in filter(None, args.errors_at.split(","))]
    for seed in filter(None, args.cli_seeds.split(",")):
        report(f"cdiscount 10k CLI seed {seed}", [cli_fold(int(seed))])
    extra = [] if args.depth is None else ["--depth", str(args.depth)]
    for name in filter(None, args.datasets.split(",")):
        suffix = "" if args.depth is None else f"-depth{args.depth}"
        folds = pickled(f"auto-threshold-{name}{suffix}", lambda name=name: build(name, extra))
        report(name + suffix, folds)
        if shares:
            errors_at(name + suffix, folds, shares)


if __name__ == "__main__":
    main()
