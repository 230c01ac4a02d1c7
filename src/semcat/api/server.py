"""The HTTP server process: uvicorn's httptools protocol with limits it lacks.

uvicorn bounds neither a request head's size (one 100 MB header was read whole: +200 MB per
connection) nor how long a client may take to send it (1,000 half-sent requests were held
75 s). :class:`GuardedProtocol` answers 431 to a head past ``max_header_bytes`` or with more
than ``max_headers`` fields, as soon as that is known, and 408 to a head not complete within
``header_timeout_s`` of its first byte (or of the connection); a body that stalls for
``header_timeout_s`` between chunks, or takes over ``body_timeout_s`` in all, closes the
connection (the route sees a disconnect). Idle keep-alive connections close after
``keep_alive_s`` and the server holds at most ``max_connections`` (uvicorn's own options).
The numbers are settings (:class:`semcat.config.Settings`), applied by :func:`run`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from semcat.config import Settings


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 120.0

    @classmethod
    def of(cls, settings: Settings) -> ServerLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout_s,
            body_timeout_s=settings.body_timeout_s,
        )


# what the protocol of this process applies (each worker process sets its own from its settings)
LIMITS = ServerLimits()


def configure(settings: Settings) -> None:
    global LIMITS
    LIMITS = ServerLimits.of(settings)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the head's size, field count and read time bounded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = LIMITS
        self._head_bytes = 0
        self._head_fields = 0
        self._in_head = True
        self._read_timer: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None

    # a connection that sends nothing, or a head that never ends: 408
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def _arm_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer = self.loop.call_later(self.limits.header_timeout_s, self._read_timed_out)

    def _cancel_timers(self) -> None:
        for timer in (self._read_timer, self._body_deadline):
            if timer is not None:
                timer.cancel()
        self._read_timer = self._body_deadline = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(408, f"request head not received within {self.limits.header_timeout_s:g} s")
        else:  # a body that stalled: the route sees a disconnect
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._body_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431, f"request head is over {self.limits.max_header_bytes:,} bytes (SEMCAT_MAX_HEADER_BYTES)")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._head_fields = 0
        self._arm_read_timer()

    # once a request is refused the parser may still call back for the rest of the chunk:
    # those calls do nothing
    def on_header(self, name: bytes, value: bytes) -> None:
        if self.transport.is_closing():
            return
        self._head_fields += 1
        if self._head_fields > self.limits.max_headers:
            self._refuse(431, f"request has over {self.limits.max_headers} header fields (SEMCAT_MAX_HEADERS)")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():
            return
        self._in_head = False
        self._arm_read_timer()  # now the body's pauses
        self._body_deadline = self.loop.call_later(self.limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.transport.is_closing() or self.cycle is None:
            return
        self._arm_read_timer()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_timers()
        if self.transport.is_closing() or self.cycle is None:
            return
        super().on_message_complete()


def run(settings: Settings, app: Any, **options: Any) -> None:
    """``uvicorn.run`` with :class:`GuardedProtocol` and the settings' connection limits
    (``app``: the app, or an import string with ``factory=True`` for several workers, whose
    processes configure the limits from their own settings)."""
    import uvicorn

    configure(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=GuardedProtocol,
        timeout_keep_alive=settings.keep_alive_s,
        limit_concurrency=settings.max_connections,
        log_level="info",
        **options,
    )


__all__ = ["GuardedProtocol", "ServerLimits", "configure", "run"]
