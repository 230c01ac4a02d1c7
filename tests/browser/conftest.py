"""A real `semcat serve` and a real headless Chromium (Debian's `chromium`, driven by
Playwright for Python without its own browser download). Without either, the browser
tests skip with the reason; `.ci/run` installs both."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import serving

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread
    while it is open, which other tests' ``asyncio.run`` must not meet."""
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def sample_server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[str]:
    """The bundled Flipkart sample (with its photos, served to the page) on MiniLM."""
    data = tmp_path_factory.mktemp("web-data")
    with serving(data, SAMPLE, SEMCAT_API_KEY=API_KEY, SEMCAT_IMAGES_ROOT=str(PHOTOS)) as url:
        yield url


# Playwright's wait_for_function evaluates its text in the page, which the page's CSP
# forbids (no 'unsafe-eval'): the tests that use it run with the CSP bypassed, and
# test_the_page_works_under_its_content_security_policy runs the page under it.
@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def screenshot(page: Any, name: str, full_page: bool = True) -> None:
    """Saved where SEMCAT_SCREENSHOTS points (the README's come from docs/screenshots)."""
    folder = os.environ.get("SEMCAT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)
