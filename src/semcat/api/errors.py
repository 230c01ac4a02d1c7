"""Every HTTP error in one place: the body ``{"error": code, "detail": message}``, the
handlers that map semcat's typed errors and FastAPI's validation errors to it, and the
body-size guard (413 by Content-Length or while streaming)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semcat.errors import SemcatError

log = logging.getLogger("semcat.api")


class PayloadTooLargeError(SemcatError):
    code = "payload_too_large"
    http_status = 413


class UnauthorizedError(SemcatError):
    code = "unauthorized"
    http_status = 401


class BusyError(SemcatError):
    """The server's share for callers without a key is taken: retry (Retry-After says when)."""

    code = "busy"
    http_status = 503
    retry_after_s = 5


class OverTimeError(SemcatError):
    """A call's work passed its time budget (SEMCAT_REQUEST_TIME_S): the rest was not done."""

    code = "over_time_budget"
    http_status = 503


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


class BodyTooLarge(Exception):
    """Raised inside the app when a streamed body passes the limit."""


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_response(413, "payload_too_large", f"request body is over {self.max_bytes} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await error_response(400, "bad_request", "invalid Content-Length")(scope, receive, send)
                    return
                if length > self.max_bytes:
                    await too_large(scope, receive, send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await too_large(scope, receive, send)


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    """Map every error a route can raise to the JSON error body (never a traceback)."""

    @app.exception_handler(SemcatError)
    async def semcat_error(request: Request, exc: SemcatError) -> JSONResponse:
        headers = {"WWW-Authenticate": "ApiKey"} if isinstance(exc, UnauthorizedError) else None
        if isinstance(exc, BusyError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return error_response(exc.http_status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err.get("loc", ()) if part != "body") or "body"
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        return error_response(422, "validation_error", "; ".join(problems[:10]))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, BodyTooLarge):  # FastAPI wraps body-read errors in a 400
            return error_response(413, "payload_too_large", f"request body is over {max_body_bytes} bytes")
        if isinstance(exc.__cause__, RecursionError):  # a JSON body nested past the parser
            return error_response(422, "validation_error", "the request body is nested too deeply")
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail), exc.headers)

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # a JSON body (or a JSON text inside one) nested deeper than Python's parser goes
        return error_response(422, "validation_error", "the request body is nested too deeply")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error (logged)")
