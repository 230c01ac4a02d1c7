"""``semcat serve``: the HTTP API."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from semcat.cli.common import MODEL, STORE, err, make_settings, run, setting_help, shared_options
from semcat.config import is_loopback
from semcat.errors import ConfigError


@shared_options(STORE, MODEL)
def serve(
    host: Annotated[str | None, typer.Option("--host", help=setting_help("host"))] = None,
    port: Annotated[int | None, typer.Option("--port", help=setting_help("port"))] = None,
    no_microbatch: Annotated[bool, typer.Option("--no-microbatch", help="Embed each request on its own.")] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help=setting_help("workers")),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Serve on a non-loopback address without SEMCAT_API_KEY (writes open)."),
    ] = False,
    *,
    shared: Mapping[str, Any],
) -> None:
    """Run the HTTP API (FastAPI; docs at /docs). Model and store load once at start."""

    def body() -> None:
        from semcat.api import create_app, server
        from semcat.api.app import WORKER_SETTINGS_ENV

        settings = make_settings(
            **shared,
            host=host,
            port=port,
            microbatch=False if no_microbatch else None,
            insecure=insecure or None,
            workers=workers,
        )
        problem = settings.exposure_problem()
        if problem:
            raise ConfigError(problem)
        if settings.insecure and not is_loopback(settings.host) and not settings.keyed:
            err.print(f"warning: serving on {settings.host} with open write routes (--insecure)", style="yellow")
        described = settings.store_description() + (f", {settings.workers} workers" if settings.workers > 1 else "")
        err.print(f"semcat serve on http://{settings.host}:{settings.port} ({described})")
        if settings.workers == 1:
            server.run(settings, create_app(settings), workers=1)
            return
        # several processes on one socket: uvicorn imports the app in each
        os.environ[WORKER_SETTINGS_ENV] = settings.to_json()
        server.run(settings, "semcat.api.app:worker_app", factory=True, workers=settings.workers)

    run(body)
