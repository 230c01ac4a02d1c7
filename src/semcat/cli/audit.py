"""``semcat audit``: the stored products whose label is probably wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from semcat.catalog.writers import SafeDictWriter
from semcat.cli.common import STORE, JsonOpt, err, make_engine, make_settings, out, run, shared_options


def audit_line(status: Mapping[str, Any]) -> str:
    """The latest label audit in one line (``semcat info``)."""
    if status["suspects"] is None:
        running = " (one is running)" if status["state"] == "running" else ""
        failed = f" (the last one failed: {status['message']})" if status["state"] == "failed" else ""
        return f"no finished audit{running}{failed}: run `semcat audit`"
    stale = "; the store changed since" if status["stale"] else ""
    return (
        f"{status['suspects']:,} suspected label issues, {status['conflicts']:,} groups of near-duplicates "
        f"with differing labels, among {status['products']:,} labeled products{stale}"
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _write(path: Path, suspects: list[Any]) -> None:
    rows = [
        {
            "id": s.id,
            "label": s.label,
            "suggested": s.suggested or "",
            "level": s.level,
            "label_score": s.label_score,
            "nearest_same_label": "" if s.nearest_same_label is None else s.nearest_same_label,
            "suggested_score": s.suggested_score,
            "label_confidence": "" if s.label_confidence is None else s.label_confidence,
            "suggested_confidence": "" if s.suggested_confidence is None else s.suggested_confidence,
            "neighbors": " | ".join(f"{n.id} ({n.category}, {n.score:.3f})" for n in s.neighbors),
        }
        for s in suspects
    ]
    if path.suffix.lower() == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = SafeDictWriter(fh, list(rows[0]) if rows else ["id"])
        writer.writeheader()
        writer.writerows(rows)


@shared_options(STORE)
def audit(
    top: Annotated[int, typer.Option("--top", min=0, help="Suspects shown, the most likely wrong first.")] = 20,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write every suspect to this file (.csv or .jsonl).")
    ] = None,
    as_json: JsonOpt = False,
    *,
    shared: Mapping[str, Any],
) -> None:
    """Find the stored products whose category is probably wrong: each labeled product is
    categorized without its own fold (the stored vectors, no re-embedding), and cleanlab's
    confident learning flags the labels its neighbors and the head contradict. Also lists
    near-duplicates filed under different labels. The results are kept for the API and the
    web page (GET /audit)."""

    def body() -> None:
        from semcat import auditing

        with make_engine(make_settings(**shared)) as engine:
            report = auditing.run(engine, progress=None if as_json else lambda m: err.print(m))
            per_main = engine.audits.per_main(auditing.latest_run(engine))
        if output is not None:
            _write(output, report.suspects)
        if as_json:
            data = report.to_dict()
            data["suspects"] = data["suspects"][:top] if top else data["suspects"]
            out.print_json(data=data | {"per_main": per_main})
            return
        err.print(
            f"audited {report.products:,} labeled products in {report.seconds:.0f} s ({report.depth} levels): "
            f"{len(report.suspects):,} suspected label issues, {len(report.conflicts):,} groups of near-duplicates "
            f"with differing labels, {len(report.singletons):,} single-product categories (not judged)"
            + (f"; all suspects in {output}" if output else ""),
            markup=False,
        )
        if per_main:
            table = Table("main category", "suspects")
            for name, count in list(per_main.items())[:10]:
                table.add_row(escape(name), str(count))
            out.print(table)
        if top and report.suspects:
            table = Table(
                "id", "stored label", "label right", "suggested", "suggestion right", "parts at", "closest same label"
            )
            for s in report.suspects[:top]:
                table.add_row(
                    escape(s.id),
                    escape(s.label),
                    _percent(s.label_confidence),
                    escape(s.suggested or "-"),
                    _percent(s.suggested_confidence),
                    str(s.level),
                    "-" if s.nearest_same_label is None else f"{s.nearest_same_label:.2f}",
                )
            out.print(table)
        for group in report.conflicts[:5]:
            members = ", ".join(f"{pid} ({label})" for pid, label in group.members[:6])
            out.print(f"near-duplicates, {group.labels} labels: {escape(members)}")

    run(body)
