"""Browser security headers on every answer, and the API docs served from local assets.

Every response carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
``X-Frame-Options: DENY`` and a Content-Security-Policy whose ``frame-ancestors 'none'`` keeps
the page (one click accepts a whole review queue) out of other sites' frames. The page's own
policy allows scripts, styles and connections from its origin only (it has no inline script
or style; photos may be ``data:`` URLs). ``/docs`` (Swagger UI) and ``/redoc`` load their
assets from the ``fastapi-offline`` package instead of a CDN, so they work offline and under a
policy that names the one inline script each page has by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_ASSETS = "/static-docs"
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


class SecurityHeadersMiddleware:
    """Adds :data:`HEADERS` and, unless the route set its own, the page's CSP."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in HEADERS.items() if name not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _with_policy(page: HTMLResponse, workers: bool = False) -> HTMLResponse:
    """The docs page's CSP: its inline scripts by hash; the viewers inject styles (and
    ReDoc runs a worker from a blob), so those are allowed on these two pages only."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    policy = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
        f"base-uri 'none'; frame-ancestors 'none'" + ("; worker-src 'self' blob:" if workers else "")
    )
    page.headers["content-security-policy"] = policy
    return page


def install_docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` from local assets (the app is made with both URLs off)."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _with_policy(
            get_swagger_ui_html(
                openapi_url=f"{root}/openapi.json",
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _with_policy(
            get_redoc_html(
                openapi_url=f"{root}/openapi.json",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                with_google_fonts=False,
            ),
            workers=True,
        )


class MethodsMiddleware:
    """``HEAD`` on every ``GET`` route (a load balancer's ``HEAD /health``), answered as the
    ``GET`` would be without its body; ``OPTIONS`` on a path (not a CORS preflight, which the
    CORS middleware answers) is a 204 whose ``Allow`` lists every method the path takes."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.routes = routes

    def allowed(self, scope: Scope) -> set[str]:
        """The methods of the path the router dispatches this address to: the first route
        that matches it names the path (``/products/{id}/history`` matches the product routes'
        ``{id:path}`` too, but the router reaches the history route first), and every route of
        that path adds its methods, except the ones kept out of the schema (a guard that
        answers 405)."""
        methods: set[str] = set()
        probe = dict(scope, method="GET")
        routes = [r for r in _leaves(self.routes()) if getattr(r, "include_in_schema", True)]
        first = next((r for r in routes if r.matches(probe)[0] != Match.NONE), None)
        if first is None:
            return methods
        for route in routes:
            if getattr(route, "path", None) == getattr(first, "path", None) and route.matches(probe)[0] != Match.NONE:
                methods |= set(getattr(route, "methods", None) or {"GET"})  # a mount serves files
        if "GET" in methods:
            methods.add("HEAD")
        return methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower() for name, _ in scope.get("headers", [])}
        if scope["method"] == "OPTIONS" and b"access-control-request-method" not in headers:
            methods = self.allowed(scope)
            if methods:
                allow = ", ".join(sorted(methods | {"OPTIONS"}))
                await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow.encode())]})
                await send({"type": "http.response.body", "body": b""})
                return
        if scope["method"] == "HEAD":

            async def without_body(message: Message) -> None:
                if message["type"] == "http.response.body":
                    message = {**message, "body": b""}
                await send(message)

            await self.app(dict(scope, method="GET"), receive, without_body)
            return
        await self.app(scope, receive, send)


def _leaves(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The app's routes with FastAPI's included routers opened (semcat includes its routers
    without a prefix, so their routes' own paths are the app's)."""
    out: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out += _leaves(inner.routes) if inner is not None else [route]
    return out
