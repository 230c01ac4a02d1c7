"""A review session survives kill -9 of the real server: every action the server
acknowledged before it died is there after a restart (the item's state, the stored label
and its history), and the session goes on."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import FLIPKART_CSV, index_with_cli, start_serving

pytestmark = pytest.mark.integration


def test_no_acknowledged_review_action_is_lost_to_kill9(tmp_path: Path) -> None:
    lines = FLIPKART_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    (tmp_path / "catalog.csv").write_text(header + "".join(rows[:700]), encoding="utf-8")
    env = index_with_cli(tmp_path, tmp_path / "catalog.csv")
    server, url = start_serving(tmp_path, env)
    try:
        upload = header + "".join(rows[700:1000])  # 300 new products (their file labels are ignored here)
        created = httpx.post(f"{url}/reviews", files={"file": ("new.csv", upload.encode())}, timeout=60)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        deadline = time.monotonic() + 300
        while httpx.get(f"{url}/reviews/{sid}", timeout=30).json()["status"] == "categorizing":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        items = httpx.get(f"{url}/reviews/{sid}/items", params={"limit": 1000}, timeout=30).json()["items"]
        acknowledged: dict[int, str] = {}
        stop = threading.Event()

        def act() -> None:
            with httpx.Client(timeout=30) as client:
                for item in items:
                    if stop.is_set():
                        return
                    category = f"Reviewed > Batch {item['position'] % 3}"
                    try:
                        done = client.post(
                            f"{url}/reviews/{sid}/items/{item['position']}",
                            json={"action": "correct", "category": category, "version": item["version"]},
                        )
                    except httpx.TransportError:
                        return  # the server is gone: this one was never acknowledged
                    if done.status_code == 200:
                        acknowledged[item["position"]] = category

        worker = threading.Thread(target=act)
        worker.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < 25:
            assert worker.is_alive() and time.monotonic() < deadline, "actions did not get going"
            time.sleep(0.02)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        stop.set()
        worker.join(timeout=60)
        assert 25 <= len(acknowledged) < len(items), "kill -9 did not land mid-session"
    finally:
        if server.poll() is None:
            server.kill()

    server, url = start_serving(tmp_path, env)  # the restart, on the same data
    try:
        after: dict[int, Any] = {
            i["position"]: i
            for i in httpx.get(f"{url}/reviews/{sid}/items", params={"limit": 1000}, timeout=30).json()["items"]
        }
        for position, category in acknowledged.items():
            item = after[position]
            assert item["state"] == "corrected" and item["final"] == category, position
            stored = httpx.get(f"{url}/products/{item['id']}", timeout=30).json()
            assert stored["category"] == category
            history = httpx.get(f"{url}/products/{item['id']}/history", timeout=30).json()["changes"]
            assert history[-1]["new"] == category and history[-1]["source"] == "review"
        # the session goes on: the next item still to review can be acted on
        left = next(i for i in after.values() if i["state"] == "to review")
        more = httpx.post(
            f"{url}/reviews/{sid}/items/{left['position']}",
            json={"action": "skip", "version": left["version"]},
            timeout=30,
        )
        assert more.status_code == 200 and more.json()["state"] == "skipped"
    finally:
        server.terminate()
        server.wait(timeout=30)
