"""The server process's own limits (semcat.api.server): a request head too large or with
too many fields is a 431 as soon as that is known, a head or a body that does not arrive in
time closes the connection, and ordinary requests (keep-alive, pipelined, with a body) pass."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from semcat.api import server
from semcat.config import Settings


async def echo(scope: dict, receive: object, send: object) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()  # type: ignore[operator]
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
                return
    body = b""
    while True:
        message = await receive()  # type: ignore[operator]
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = f"{scope['method']} {len(body)}".encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(answer)).encode())]}
    )  # type: ignore[operator]
    await send({"type": "http.response.body", "body": answer})  # type: ignore[operator]


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("server"),
        max_header_bytes=8192,
        max_headers=20,
        header_timeout_s=0.5,
        body_timeout_s=2.0,
    )
    server.configure(settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    config = uvicorn.Config(echo, host="127.0.0.1", port=free, http=server.GuardedProtocol, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.05)
    yield free
    running.should_exit = True
    thread.join(timeout=10)
    server.configure(Settings(data_dir=tmp_path_factory.mktemp("reset")))


def exchange(port: int, data: bytes, pause_after: float = 0.0, more: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        try:
            conn.sendall(data)
            if pause_after:
                time.sleep(pause_after)
            if more:
                conn.sendall(more)
        except OSError:
            pass  # the server closed while we sent: read what it answered
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except OSError:
            pass
        return answer


def test_ordinary_requests_pass(port: int) -> None:
    get = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"
    post = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
    answer = exchange(port, get + post)  # two pipelined on one keep-alive connection
    assert answer.count(b"HTTP/1.1 200") == 2 and answer.endswith(b"POST 5")


def test_a_huge_header_is_a_431_before_it_is_read_whole(port: int) -> None:
    head = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    answer = exchange(port, head)
    assert answer.startswith(b"HTTP/1.1 431") and b"request head is over 8,192 bytes" in answer


def test_too_many_header_fields_is_a_431(port: int) -> None:
    head = b"GET / HTTP/1.1\r\nhost: x\r\n" + b"".join(b"x-%d: 1\r\n" % i for i in range(30)) + b"\r\n"
    answer = exchange(port, head)
    assert answer.startswith(b"HTTP/1.1 431") and b"over 20 header fields" in answer


def test_a_head_that_never_ends_is_a_408(port: int) -> None:
    started = time.monotonic()
    answer = exchange(port, b"GET / HTTP/1.1\r\nhost: x\r\n", pause_after=0.0)  # no blank line: the head goes on
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 4


def test_a_silent_connection_is_closed(port: int) -> None:
    assert exchange(port, b"").startswith(b"HTTP/1.1 408")


def test_a_stalled_body_closes_the_connection(port: int) -> None:
    started = time.monotonic()
    answer = exchange(port, b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc")
    assert b"200" not in answer and time.monotonic() - started < 4
