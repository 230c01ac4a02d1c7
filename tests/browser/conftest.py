"""A real `semcat serve` and a real headless Chromium (Debian's `chromium`, driven by
Playwright for Python without its own browser download). Without either, the browser
tests skip with the reason; `.ci/run` installs both."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "flipkart-1050" / "flipkart_com-ecommerce_sample_1050.csv"
PHOTOS = ROOT / "examples" / "flipkart-1050" / "images"
API_KEY = "browser-test-key"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium on this machine (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(data: Path, catalog: Path, **env_extra: str) -> Iterator[str]:
    """Index ``catalog`` into ``data`` with the CLI, then run `semcat serve`; yields its URL."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "SEMCAT_DATA_DIR": str(data), "SEMCAT_API_KEY": API_KEY, **env_extra}
    index = subprocess.run(
        [sys.executable, "-m", "semcat.cli", "index", str(catalog), "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert index.returncode == 0, index.stderr
    port = free_port()
    log_path = data / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "semcat.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def sample_server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[str]:
    """The bundled Flipkart sample (with its photos, served to the page) on MiniLM."""
    with serving(tmp_path_factory.mktemp("web-data"), SAMPLE, SEMCAT_IMAGES_ROOT=str(PHOTOS)) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def screenshot(page: Any, name: str) -> None:
    """Saved where SEMCAT_SCREENSHOTS points (the README's come from docs/screenshots)."""
    folder = os.environ.get("SEMCAT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
