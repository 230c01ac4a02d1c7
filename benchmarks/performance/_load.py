"""A lean HTTP/1.1 load generator for the API benchmarks: raw asyncio streams, one
keep-alive connection per client, JSON bodies prepared up front.

The load generator shares the 2 cores with the server, so its own cost is taken from the
server's: httpx spent ~2 ms of CPU per request here, this one ~0.1 ms. Each request's
latency is measured from writing the request to reading the whole response body.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    bodies: list[tuple[int, bytes]] = field(default_factory=list)  # (status, body) of the first errors
    elapsed: float = 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request_bytes(method: str, path: str, body: object, headers: dict[str, str] | None = None) -> bytes:
    data = json.dumps(body).encode()
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    head.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def run_load(
    port: int,
    make: Callable[[int], bytes],
    clients: int,
    total: int | None = None,
    seconds: float | None = None,
    result: Result | None = None,
) -> Result:
    """``clients`` connections sending ``make(i)`` requests until ``total`` were sent or
    ``seconds`` passed, whichever is given."""
    result = result or Result()
    counter = iter(range(10**12))
    deadline = time.monotonic() + seconds if seconds is not None else None

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                i = next(counter)
                if (total is not None and i >= total) or (deadline is not None and time.monotonic() >= deadline):
                    return
                raw = make(i)
                t0 = time.perf_counter()
                status, body = await _exchange(reader, writer, raw)
                result.latencies.append(time.perf_counter() - t0)
                result.statuses[status] += 1
                if status >= 400 and len(result.bodies) < 5:
                    result.bodies.append((status, body[:300]))
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.elapsed = time.perf_counter() - start
    return result


def start_server(
    data: Path,
    env: dict[str, str],
    extra: list[str] | None = None,
    wait_s: float = 180,
    command: Callable[[int], list[str]] | None = None,
) -> tuple[subprocess.Popen, int]:
    """`semcat serve` on a free localhost port, once ready (within ``wait_s``). ``command``:
    the Python arguments of another server for a port (instead of `semcat serve`)."""
    port = free_port()
    args = command(port) if command else ["-m", "semcat.cli", "serve", "--port", str(port), *(extra or [])]
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=env | {"HF_HUB_OFFLINE": "1", "SEMCAT_DATA_DIR": str(data)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return proc, port
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not start")
        time.sleep(0.2)


def median_runs(port: int, bodies: list[bytes], clients: int, requests: int, runs: int, pid: int) -> dict:
    """``runs`` closed-loop runs of ``requests`` requests from ``clients`` connections, every
    request answered 200: the median over runs of p50 / p99 (ms), requests per second and the
    server's (``pid``) CPU milliseconds per request."""
    p50s, p99s, rates, cpus = [], [], [], []
    for _ in range(runs):
        before = cpu_seconds(pid)
        result = asyncio.run(run_load(port, lambda i: bodies[i % len(bodies)], clients, total=requests))
        assert set(result.statuses) == {200}, (result.statuses, result.bodies)
        cpus.append((cpu_seconds(pid) - before) / len(result.latencies) * 1000)
        p50s.append(result.percentile(0.50) * 1000)
        p99s.append(result.percentile(0.99) * 1000)
        rates.append(result.rate)
    return {
        "p50_ms": round(statistics.median(p50s), 1),
        "p99_ms": round(statistics.median(p99s), 1),
        "requests_per_s": round(statistics.median(rates), 1),
        "server_cpu_ms_per_request": round(statistics.median(cpus), 2),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
