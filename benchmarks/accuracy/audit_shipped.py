"""The label audit on a catalog as shipped (no injected noise): its top suspects, for
reading by hand.

    .venv/bin/python benchmarks/accuracy/audit_shipped.py [--dataset flipkart20k] [--top 50]

Audits every labeled product (paths cut at the detected category depth) the way `semcat
audit` does (:func:`semcat.categorize.audit.audit`, the default options) and lists the
``--top`` suspects with their product name, stored label, suggested category, the
calibrated probability that each is right and the level where they part. Writes
benchmarks/results/audit_shipped_<catalog>.json and the table in docs/benchmarks.md; the
hand reading of them is in docs/benchmarks.md beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import catalog, embedded, publish
from semcat.catalog import PATH_JOIN
from semcat.categorize.audit import audit
from semcat.categorize.depth import category_depth
from semcat.config import Settings
from semcat.embedding import load_embedder


def cell(text: str | None) -> str:
    return (text or "–").replace("|", "/")


def share(value: float | None) -> str:
    """A calibrated probability as the table shows it."""
    return "–" if value is None else f"{value:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="flipkart20k")
    parser.add_argument("--top", type=int, default=50)
    args = parser.parse_args()
    settings = Settings()
    data = embedded(args.dataset, catalog(args.dataset), load_embedder(settings))
    labels = [PATH_JOIN.join(p) for p in data.paths]
    depth = category_depth(labels)
    titles = dict(zip(data.ids, data.texts, strict=True))
    report = audit(data.ids, data.vectors, data.texts, labels, settings.query_options(), settings.head, depth)
    top = report.suspects[: args.top]
    command = f"python benchmarks/accuracy/audit_shipped.py --dataset {args.dataset} --top {args.top}"
    lines = [
        f"Command: `{command}` — {report.products:,} labeled products audited at {depth} levels in "
        f"{report.seconds / 60:.1f} min: {len(report.suspects):,} suspects, {len(report.conflicts):,} groups of "
        f"near-duplicates under different labels, {len(report.singletons):,} single-product categories.",
        "",
        "| # | product | stored label | label right | suggested | suggestion right | parts at | closest same label |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {rank} | {cell(titles[s.id][:70])} | {cell(s.label)} | {share(s.label_confidence)} | "
            f"{cell(s.suggested)} | {share(s.suggested_confidence)} | {s.level} | "
            f"{'–' if s.nearest_same_label is None else f'{s.nearest_same_label:.2f}'} |"
            for rank, s in enumerate(top, start=1)
        ),
    ]
    publish(
        f"audit_shipped_{args.dataset}",
        {"command": command, "report": {**report.to_dict(), "suspects": [asdict(s) for s in top], "conflicts": []}},
        section=f"audit-shipped-{args.dataset}",
        markdown="\n".join(lines),
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
