"""``semcat info``: the store, its model and products per category."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from semcat.cli.audit import audit_line
from semcat.cli.common import STORE, JsonOpt, make_engine, make_settings, out, run, shared_options

if TYPE_CHECKING:
    from semcat.engine import EngineStats


def info_payload(stats: EngineStats) -> dict[str, Any]:
    """`semcat info`'s data (its --json), shaped from the engine's stats: the store's own
    description, the labeled count, the categories, the depth and the auto-file status."""
    return stats.backend | {
        "labeled": stats.labeled,
        "categories": stats.categories,
        "depth": {"value": stats.depth, "detected": stats.depth_detected},
        "confidence": stats.confidence,
    }


def confidence_line(status: Mapping[str, Any]) -> str:
    """The auto-file decision in one line (``semcat info``)."""
    target = status["target_precision"]
    if not status["calibrated"] or status.get("threshold") is None:
        return f"every prediction to review at {target:.0%} precision: {status.get('reason', 'not calibrated')}"
    return (
        f"confidence >= {status['threshold']:.3f} for {target:.0%} precision; files "
        f"{status['expected_auto_share']:.0%} of the store's own labeled products automatically "
        f"(out of fold, {status['products']:,} products; {status['out_of_fold_precision']:.1%} of those filed right)"
    )


@shared_options(STORE)
def info(
    level: Annotated[int, typer.Option("--level", min=1, help="Taxonomy level of the category counts.")] = 1,
    as_json: JsonOpt = False,
    *,
    shared: Mapping[str, Any],
) -> None:
    """Show the store, its model and the product count per category."""

    def body() -> None:
        from semcat import auditing

        with make_engine(make_settings(**shared)) as engine:
            data = info_payload(engine.stats(level, saved_head=True, describe=True))
            data["audit"] = auditing.status(engine)
        if as_json:
            out.print_json(data=data)
            return
        out.print(f"store:    {data['backend']} at {data['location']}", markup=False)
        out.print(f"model:    {data['model']}")
        for space, details in data["spaces"].items():
            out.print(f"space:    {space} ({details['dim']}-d, {details['index']})")
        for space, details in data.get("sparse", {}).items():
            out.print(f"space:    {space} (sparse word vectors, {details['vectors']} stored)")
        out.print(f"products: {data['products']} ({data['labeled']} labeled)")
        depth = data["depth"]
        how = "detected from the labels" if depth["detected"] else "set by SEMCAT_PREDICT_DEPTH"
        out.print(f"depth:    {depth['value'] or '-'} levels predicted ({how})", markup=False)
        out.print(f"auto-file: {confidence_line(data['confidence'])}", markup=False)
        if data["confidence"].get("near_duplicates", {}).get("set_aside"):
            out.print(f"          {data['confidence']['near_duplicates']['summary']}", markup=False)
        out.print(f"audit:    {audit_line(data['audit'])}", markup=False)
        if data["audit"]["per_main"]:
            worst = ", ".join(f"{main} {count}" for main, count in list(data["audit"]["per_main"].items())[:5])
            out.print(f"          suspects per main category: {worst}", markup=False)
        table = Table(f"category (level {level})", "products")
        for name, count in data["categories"].items():
            table.add_row(escape(name), str(count))
        out.print(table)

    run(body)
