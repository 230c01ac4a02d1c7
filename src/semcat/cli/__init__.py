"""``semcat`` console script. Thin: parse options, call the engine, format output.

One module per command group; the options every command shares are declared once in
:mod:`semcat.cli.common`. Errors print one line (``error: ...``) on stderr and exit 1;
Ctrl-C exits 130.
"""

from __future__ import annotations

from typing import Annotated

import typer

from semcat.cli.audit import audit
from semcat.cli.categorize import categorize, similar
from semcat.cli.evaluate import evaluate
from semcat.cli.index import index
from semcat.cli.models import models_app
from semcat.cli.serve import serve
from semcat.cli.store import info
from semcat.cli.train import train

app = typer.Typer(
    name="semcat",
    help="Semantic product categorization on a vector database (FAISS or Qdrant).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        from semcat import __version__

        typer.echo(f"semcat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print semcat's version and exit.")
    ] = False,
) -> None:
    """Semantic product categorization on a vector database (FAISS or Qdrant)."""


for command in (index, categorize, similar, info, audit, evaluate, train, serve):
    app.command()(command)
app.add_typer(models_app, name="models")


def main() -> None:
    app()


__all__ = ["app", "main"]
