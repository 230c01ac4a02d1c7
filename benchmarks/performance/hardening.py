"""What the hardening of issue 33 holds against, on a real `semcat serve` (the bundled
flipkart-1050 sample, MiniLM, FAISS), each attack of the campaign replayed against it:

1. cost amplification: ``POST /categorize`` with 256 items, ``k`` 1,000, ``top_n`` 100, no key;
2. five concurrent requests with a 100 MB header on ``GET /health``;
3. 1,000 connections that send half a request head and wait;
4. 256 items with 2,000-character titles (the largest text the budget lets through).

For each: the status answered, the time to answer, and the server's resident memory
before and after (``/proc/<pid>/status``). Written to docs/benchmarks.md
("hardening-attacks").

    python benchmarks/performance/hardening.py
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _load import start_server

from _common import ROOT, publish

KEY = "bench-key"
SAMPLE = ROOT / "examples" / "flipkart-1050" / "flipkart_com-ecommerce_sample_1050.csv"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def raw_request(port: int, head: bytes, chunk: int = 1 << 20) -> bytes:
    """Send ``head`` (streamed in chunks) and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        try:
            for start in range(0, len(head), chunk):
                conn.sendall(head[start : start + chunk])
        except OSError:
            pass  # closed while we sent: read what it answered
        answer = b""
        try:
            while data := conn.recv(65536):
                answer += data
        except OSError:
            pass
        return answer


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from semcat.config import Settings
    from semcat.engine import Engine

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with Engine(Settings(data_dir=data)) as engine:
            from semcat.catalog import read_catalog

            engine.index(read_catalog(SAMPLE).products, progress=False)
            engine.head(wait=True)
        proc, port = start_server(data, os.environ | {"SEMCAT_API_KEY": KEY})
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(20):  # warm-up
                httpx.post(f"{url}/categorize", json={"title": "steel pressure cooker"}, timeout=30)

            def attack(name: str, run: callable) -> None:  # type: ignore[valid-type]
                before = rss_mb(proc.pid)
                started = time.perf_counter()
                outcome = run()
                seconds = time.perf_counter() - started
                time.sleep(1.0)
                after = rss_mb(proc.pid)
                health = httpx.get(f"{url}/health", timeout=30).status_code
                rows.append(
                    {
                        "attack": name,
                        "outcome": outcome,
                        "seconds": round(seconds, 2),
                        "rss_before_mb": round(before),
                        "rss_growth_mb": round(after - before),
                        "health_after": health,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)

            items = [{"title": f"stainless steel pressure cooker {i}"} for i in range(256)]

            def amplification() -> str:
                answer = httpx.post(f"{url}/categorize", json={"items": items, "k": 1000, "top_n": 100}, timeout=300)
                return f"{answer.status_code}: {answer.json()['detail'].split(': send')[0]}"

            attack("256 items, k 1,000, top_n 100, no key", amplification)

            def long_titles() -> str:
                body = {"items": [{"title": ("steel pressure cooker lid " * 80)[:2000]} for _ in range(256)]}
                answer = httpx.post(f"{url}/categorize", json=body, timeout=300)
                return f"{answer.status_code}, {len(answer.content) / 1e6:.1f} MB answered"

            attack("256 items of 2,000-character titles, no key", long_titles)

            def huge_headers() -> str:
                head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 100_000_000 + b"\r\n\r\n"
                answers: list[bytes] = []
                threads = [threading.Thread(target=lambda: answers.append(raw_request(port, head))) for _ in range(5)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                statuses = sorted({a.split(b" ", 2)[1].decode() if a else "closed" for a in answers})
                return "status " + ", ".join(statuses)

            attack("five concurrent 100 MB headers on GET /health", huge_headers)

            def partial_heads() -> str:
                conns = []
                for _ in range(1000):
                    conn = socket.create_connection(("127.0.0.1", port), timeout=60)
                    conn.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n")  # and never the blank line
                    conns.append(conn)
                opened = time.perf_counter()
                closed_after: list[float] = []
                for conn in conns:
                    try:
                        conn.recv(65536)  # the 408, then the close
                        while conn.recv(65536):
                            pass
                    except OSError:
                        pass
                    closed_after.append(time.perf_counter() - opened)
                    conn.close()
                closed_after.sort()
                return (
                    f"all 1,000 closed by the server; median {closed_after[500]:.1f} s, "
                    f"last {closed_after[-1]:.1f} s after the last was opened"
                )

            attack("1,000 half-sent request heads held open", partial_heads)
        finally:
            proc.terminate()
    command = "python benchmarks/performance/hardening.py"
    lines = [
        f"Command: `{command}` — the bundled flipkart-1050 sample (MiniLM onnx-int8, FAISS), `semcat serve` with "
        "its default limits and an API key set, the attacks sent without the key from the same machine.",
        "",
        "| attack | answer | seconds | server memory before (MB) | growth (MB) | /health after |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['attack']} | {r['outcome']} | {r['seconds']} | {r['rss_before_mb']} | {r['rss_growth_mb']} | "
            f"{r['health_after']} |"
            for r in rows
        ),
    ]
    publish(
        "hardening_attacks",
        {"attacks": rows, "command": command},
        section="hardening-attacks",
        markdown="\n".join(lines),
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
