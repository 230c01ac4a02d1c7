"""The page a catalog team uses, driven in a real Chromium against a real `semcat serve`
on the bundled sample: categorize, correct and see the next answer follow, review a
file and download the results, and the API's own messages for bad input."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.browser.conftest import API_KEY, PHOTOS, screenshot, serving

pytestmark = pytest.mark.integration
COOKER = "Prestige stainless steel pressure cooker 5 litre"


def categorize(page: Any, url: str, title: str) -> str:
    page.goto(url)
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_role("button", name="Categorize product").click()
    page.wait_for_selector("#predicted-path")
    return page.inner_text("#predicted-path")


def test_categorize_shows_the_path_levels_and_the_neighbors_that_voted(page: Any, sample_server: str) -> None:
    path = categorize(page, sample_server, COOKER)
    assert path.startswith("Kitchen & Dining > ")
    levels = page.locator(".levels li")
    assert levels.count() >= 2 and "%" in levels.first.inner_text()
    assert levels.count() <= 3  # the sample's deeper levels are product names: not predicted
    shown = page.inner_text("#predicted-path")
    assert "confidence" in shown and ("auto-file" in shown or "review" in shown)
    page.wait_for_function("document.querySelector('#auto-status').textContent.includes('precision')")
    neighbors = page.locator(".neighbors li")
    assert neighbors.count() >= 10
    assert "text similarity" in neighbors.first.inner_text()
    # their stored photos come from /images/{id} (the bundled sample has them)
    page.wait_for_function("[...document.querySelectorAll('.neighbors img')].some(i => i.naturalWidth > 0)")
    screenshot(page, "categorize-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#predicted-path").scroll_into_view_if_needed()
    screenshot(page, "categorize-phone", full_page=False)


def test_a_correction_is_followed_by_the_next_categorization(page: Any, sample_server: str) -> None:
    title = "Handwoven jute doormat with a rubber back"
    first = categorize(page, sample_server, title)
    corrected = "Home Decor & Festive Needs > Doormats"
    assert first != corrected
    page.get_by_label("…or the right category (any level)").fill(corrected)
    page.get_by_role("button", name="Save correction").click()
    # the API key is configured: the page asks for it once, for this tab only
    page.get_by_label("API key (kept for this tab only)").fill(API_KEY)
    page.get_by_role("button", name="Use key").click()
    page.wait_for_selector("#follow-note")
    assert f"Categorized again: {corrected}." in page.inner_text("#follow-note")
    assert page.inner_text("#predicted-path").startswith(corrected)
    # accepting needs no second key prompt
    page.get_by_role("button", name="Accept").click()
    page.wait_for_function("document.querySelector('#follow-note').textContent.includes('Stored')")
    assert page.locator("#key-form").is_hidden()


def test_review_queue_categorizes_a_file_and_downloads_the_results(
    page: Any, sample_server: str, tmp_path: Path
) -> None:
    catalog = tmp_path / "new.csv"
    catalog.write_text(
        "id,title\nn1,Casio analog wrist watch for men leather strap\nn2,Baby boy cotton romper\n"
        'n3,"Ceramic coffee mug, 350 ml"\nn4,Cotton bath towel set of 2\n'
    )
    page.goto(sample_server)
    page.get_by_role("button", name="Review queue").click()
    page.set_input_files("#r-file", str(catalog))
    page.get_by_role("button", name="Categorize all").click()
    page.wait_for_selector("#r-table tbody tr:nth-child(4)")
    rows = page.locator("#r-table tbody tr")
    assert rows.count() == 4
    confidence = [float(rows.nth(i).locator("td").nth(3).inner_text().split("%")[0]) for i in range(4)]
    review = [rows.nth(i).locator("td").nth(4).inner_text() == "review" for i in range(4)]
    assert review == sorted(review, reverse=True)  # those to review first, the auto-filed last
    for i in range(3):  # least confident first within each group
        assert review[i] != review[i + 1] or confidence[i] <= confidence[i + 1]
    assert "can be filed automatically" in page.inner_text("#status")
    page.focus("#r-table")
    page.keyboard.press("a")  # accept the first: stored with its category (asks for the key once)
    page.get_by_label("API key (kept for this tab only)").fill(API_KEY)
    page.get_by_role("button", name="Use key").click()
    page.wait_for_function("document.querySelector('#r-table tbody tr').textContent.includes('accepted')")
    page.focus("#r-table")
    page.keyboard.press("s")  # skip the second
    screenshot(page, "review-desktop")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download results (CSV)").click()
    rows_out = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["id"] for r in rows_out} == {"n1", "n2", "n3", "n4"}
    assert [r["state"] for r in rows_out][:2] == ["accepted", "skipped"]
    accepted = rows_out[0]
    stored = httpx.get(f"{sample_server}/products/{accepted['id']}").json()
    assert stored["category"] == accepted["category"]
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "review-phone", full_page=False)


def test_an_empty_form_shows_the_apis_own_message(page: Any, sample_server: str) -> None:
    api = httpx.post(f"{sample_server}/categorize", json={"title": "", "description": "", "brand": ""}).json()
    page.goto(sample_server)
    page.get_by_role("button", name="Categorize product").click()
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == api["detail"]


def test_browse_lists_categories_and_similar_products(page: Any, sample_server: str) -> None:
    page.goto(sample_server)
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("button", name="Show categories").click()
    page.wait_for_selector("#b-categories li")
    assert "Kitchen & Dining —" in page.inner_text("#b-categories")
    page.get_by_label("Text or stored product id").fill("steel pressure cooker")
    page.get_by_role("button", name="Find similar").click()
    page.wait_for_selector("#s-results li")
    assert page.locator("#s-results li").count() == 10


def test_a_bad_photo_shows_the_apis_own_message(browser: Any, tmp_path: Path) -> None:
    """A CLIP model (random weights: the photo field appears, the vectors mean nothing)."""
    catalog = tmp_path / "photos.csv"
    rows = [
        ("p1", "red cotton shirt", "Clothing", "caabe6014b914fe2874a9a8d7284f79b.jpg"),
        ("p2", "steel watch", "Watches", "112a8a56ee40ee31ea06fb7ff23b5c25.jpg"),
    ]
    catalog.write_text("id,title,category,image\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in rows))
    env = {"SEMCAT_MODEL": "clip", "SEMCAT_CLIP_PRETRAINED": "random", "SEMCAT_IMAGES_ROOT": str(PHOTOS)}
    with serving(tmp_path / "data", catalog, **env) as url:
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#photo-field:not([hidden])")
        page.get_by_label("Title", exact=True).fill("a shirt")
        bad = tmp_path / "broken.jpg"
        bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        page.set_input_files("#f-photo", str(bad))
        page.get_by_role("button", name="Categorize product").click()
        page.wait_for_selector("#error:not([hidden])")
        with bad.open("rb") as fh:
            api = httpx.post(
                f"{url}/categorize/image", files={"image": ("broken.jpg", fh, "image/jpeg")}, data={"title": "a shirt"}
            )
        assert api.status_code == 422 and page.inner_text("#error") == api.json()["detail"]
        context.close()
