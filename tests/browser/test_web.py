"""The page a catalog team uses, driven in a real Chromium against a real `semcat serve`
on the bundled sample: categorize, correct and see the next answer follow, review a
file and download the results, and the API's own messages for bad input."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.browser.conftest import API_KEY, PHOTOS, SAMPLE, screenshot, serving

pytestmark = pytest.mark.integration
COOKER = "Prestige stainless steel pressure cooker 5 litre"


def console_errors(page: Any) -> list[str]:
    """The console errors the page logs from now on (Chromium logs every failed request)."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


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


def _new_products(count: int) -> str:
    """``count`` new products (ids the store does not hold) from the sample's titles, as CSV
    with a column of the file's own (``price``) that the export must give back."""
    rows = list(csv.DictReader(io.StringIO(SAMPLE.read_text(encoding="utf-8"))))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sku", "product_name", "price"])
    for i, row in enumerate(rows[:count]):
        writer.writerow([f"new-{i}", row["product_name"] + " (new)", f"{i}.50"])
    return out.getvalue()


def _counts(page: Any) -> str:
    return page.inner_text("#r-counts")


def test_a_review_session_on_the_server_from_upload_to_export(browser: Any, sample_server: str, tmp_path: Path) -> None:
    """Upload 200 products, accept the auto ones, correct 5 in place, undo 1, reload, open
    the same session in a second page, export: the export matches what was done, row for
    row, and neither page logged a console error."""
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    new = tmp_path / "arrivals.csv"
    new.write_text(_new_products(200), encoding="utf-8")
    page.goto(sample_server)
    page.get_by_role("button", name="Review queue").click()
    page.set_input_files("#r-file", str(new))
    page.get_by_role("button", name="Categorize all").click()
    page.get_by_label("API key (kept for this tab only)").fill(API_KEY)  # starting a session is a write
    page.get_by_role("button", name="Use key").click()
    done = "document.querySelector('#r-counts').textContent.includes('200 of 200 categorized')"
    page.wait_for_function(done, timeout=120_000)
    page.wait_for_selector("#r-table tbody tr")
    sid = page.evaluate("location.hash").split("=", 1)[1]
    session = httpx.get(f"{sample_server}/reviews/{sid}").json()
    auto = session["auto"]
    assert 0 < auto < 200, auto

    page.get_by_role("button", name="Accept all auto").click()
    page.wait_for_function(f"document.querySelector('#r-counts').textContent.includes('{auto} accepted')")
    page.select_option("#r-state", "to review")
    shown = "[...document.querySelectorAll('#r-table tbody td.state')].map((c) => c.textContent)"
    page.wait_for_function(f"{shown}.length === {min(200 - auto, 100)} && {shown}.every((s) => s === 'to review')")
    right = "Home Decor & Festive Needs > Showpieces"
    corrected: list[str] = []
    for _ in range(5):  # correct in place: c, type the category, Enter (the queue moves to the next)
        row = page.locator("#r-table tbody tr.current")
        corrected.append(" ".join(row.locator("td").nth(2).inner_text().split()))  # as shown: spaces collapse
        page.focus("#r-table")
        page.keyboard.press("c")
        page.wait_for_function("document.activeElement.classList.contains('fix')")  # the correction box
        page.keyboard.press("Control+A")
        page.keyboard.type(right)
        page.keyboard.press("Enter")
        try:
            page.wait_for_function(
                f"document.querySelector('#r-counts').textContent.includes('{len(corrected)} corrected')"
            )
        except Exception:
            raise AssertionError((page.inner_text("#error"), _counts(page), corrected)) from None
    page.focus("#r-table")
    page.keyboard.press("u")  # undo the fifth
    page.wait_for_function("document.querySelector('#r-counts').textContent.includes('4 corrected')")
    undone = corrected.pop()
    counts = _counts(page)
    screenshot(page, "review-desktop", full_page=False)

    page.reload()  # the session comes back from the address, its states from the server
    page.wait_for_function("document.querySelector('#r-counts').textContent.includes('4 corrected')")
    assert _counts(page) == counts
    second = context.new_page()
    second.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    second.goto(f"{sample_server}/#review={sid}")
    second.wait_for_function("document.querySelector('#r-counts').textContent.includes('4 corrected')")
    assert _counts(second) == counts
    with second.expect_download() as download:
        second.get_by_role("button", name="Download results (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [r["sku"] for r in rows] == [f"new-{i}" for i in range(200)]  # the file's order, its own columns
    assert [r["price"] for r in rows] == [f"{i}.50" for i in range(200)]
    by_title = {" ".join(r["product_name"].split()): r for r in rows}
    assert sum(r["state"] == "accepted" for r in rows) == auto
    assert all(r["decision"] == "auto" for r in rows if r["state"] == "accepted")
    assert sorted(t for t, r in by_title.items() if r["state"] == "corrected") == sorted(corrected)
    assert all(by_title[t]["final_category"] == right for t in corrected)
    assert by_title[undone]["state"] == "to review" and by_title[undone]["final_category"] == ""
    assert sum(r["state"] == "to review" for r in rows) == 200 - auto - 4
    stored = httpx.get(f"{sample_server}/products/{by_title[corrected[0]]['sku']}").json()
    assert stored["category"] == right
    assert httpx.get(f"{sample_server}/products/{by_title[undone]['sku']}").status_code == 404
    second.set_viewport_size({"width": 390, "height": 844})  # the queue fits a phone: no column cut off
    assert second.evaluate("document.querySelector('.table-wrap').scrollWidth <= window.innerWidth + 1")
    screenshot(second, "review-phone", full_page=False)
    assert errors == []
    context.close()


def test_the_queue_keys_help_and_focus(page: Any, sample_server: str) -> None:
    sid = httpx.post(
        f"{sample_server}/reviews",
        files={"file": ("few.csv", _new_products(3).encode())},
        headers={"X-API-Key": API_KEY},
    ).json()["id"]
    page.goto(f"{sample_server}/#review={sid}")
    page.wait_for_selector("#r-table tbody tr:nth-child(3)")
    page.focus("#r-table")
    page.keyboard.press("?")
    assert page.locator("#r-help").is_visible() and "undo" in page.inner_text("#r-help")
    page.keyboard.press("o")  # the row's details: description, per level, alternatives
    page.wait_for_selector("#r-table tr.detail")
    assert "Per level:" in page.inner_text("#r-table tr.detail")
    page.keyboard.press("s")  # skipping needs the key: the prompt, then the keys work again
    page.get_by_label("API key (kept for this tab only)").fill(API_KEY)
    page.get_by_role("button", name="Use key").click()
    page.wait_for_function("document.querySelector('#r-counts').textContent.includes('1 skipped')")
    assert page.evaluate("document.activeElement.id") == "r-table"
    page.keyboard.press("s")
    page.wait_for_function("document.querySelector('#r-counts').textContent.includes('2 skipped')")


def test_a_correction_box_survives_redraws_the_user_did_not_ask_for(page: Any, sample_server: str) -> None:
    """The queue's unfiltered load answers late (held back 1.5 s in the page) and the new
    session's poll redraws it; the user has meanwhile filtered to one state, opened a
    correction box and typed: the rows stay the filtered ones, the box keeps its text and focus,
    and Enter files the correction."""
    sid = httpx.post(
        f"{sample_server}/reviews",
        files={"file": ("few.csv", _new_products(6).encode())},
        headers={"X-API-Key": API_KEY},
    ).json()["id"]
    httpx.post(
        f"{sample_server}/reviews/{sid}/items/0", json={"action": "skip"}, headers={"X-API-Key": API_KEY}
    ).raise_for_status()
    page.add_init_script(
        """const realFetch = window.fetch;
        window.fetch = (url, ...rest) => String(url).includes('/items?') && !String(url).includes('state=')
          ? new Promise((done) => setTimeout(() => done(realFetch(url, ...rest)), 1500))
          : realFetch(url, ...rest);"""
    )
    page.goto(f"{sample_server}/#review={sid}")
    page.wait_for_selector("#r-counts:has-text('1 skipped')")
    page.select_option("#r-state", "skipped")  # asked after the slow unfiltered load, answered first
    page.wait_for_selector("#r-table tbody tr")
    page.focus("#r-table")
    page.keyboard.press("c")
    page.wait_for_function("document.activeElement.classList.contains('fix')")
    page.keyboard.press("Control+A")
    page.keyboard.type("Home Decor")
    page.wait_for_timeout(2500)  # the unfiltered answer has come back by now
    states = page.eval_on_selector_all("#r-table tbody td.state", "cells => cells.map((c) => c.textContent)")
    assert states == ["skipped"]
    assert page.evaluate("document.activeElement.classList.contains('fix') && document.activeElement.value") == (
        "Home Decor"
    )
    page.keyboard.type(" & Festive Needs > Showpieces")
    page.keyboard.press("Enter")
    page.get_by_label("API key (kept for this tab only)").fill(API_KEY)
    page.get_by_role("button", name="Use key").click()
    page.wait_for_function("document.querySelector('#r-counts').textContent.includes('1 corrected')")
    item = httpx.get(f"{sample_server}/reviews/{sid}/items", params={"state": "corrected"}).json()["items"]
    assert [i["final"] for i in item] == ["Home Decor & Festive Needs > Showpieces"]


def test_an_empty_form_shows_the_apis_own_message(page: Any, sample_server: str) -> None:
    api = httpx.post(f"{sample_server}/categorize", json={"title": "", "description": "", "brand": ""}).json()
    page.goto(sample_server)
    page.get_by_role("button", name="Categorize product").click()
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == api["detail"]


def test_browse_the_tree_open_a_category_relabel_a_product_and_find_similar(page: Any, sample_server: str) -> None:
    errors = console_errors(page)
    page.goto(sample_server)
    page.get_by_role("button", name="Browse").click()
    page.wait_for_selector("#b-tree li")
    mains = httpx.get(f"{sample_server}/categories", params={"level": 1}).json()["categories"]
    assert page.locator("#b-tree > li").count() == len(mains)
    watches = next(c["count"] for c in mains if c["category"] == "Watches")
    assert page.locator('#b-tree button.node[data-path="Watches"]').inner_text() == f"Watches {watches}"
    # search: the matching categories at any level, with their parents, opened
    page.get_by_label("Find a category").fill("wrist")
    page.wait_for_selector('#b-tree button.node[data-path="Watches > Wrist Watches"]')
    assert page.locator("#b-tree mark").first.inner_text().lower() == "wrist"
    assert "named like" in page.inner_text("#b-summary")
    page.locator('#b-tree button.node[data-path="Watches > Wrist Watches"]').click()
    page.wait_for_selector("#b-products tbody tr")
    total = httpx.get(f"{sample_server}/products", params={"category": "Watches > Wrist Watches"}).json()["total"]
    assert page.inner_text("#b-title") == f"Watches > Wrist Watches — {total} products"
    screenshot(page, "browse-desktop", full_page=False)
    while page.locator("#b-more").is_visible():  # every product, 50 a page
        page.locator("#b-more").click()
        page.wait_for_timeout(100)
    page.wait_for_function(f"document.querySelectorAll('#b-products tbody tr').length === {total}")
    # relabel the first product in place: same id, the change in its history
    row = page.locator("#b-products tbody tr").first
    pid = row.get_attribute("data-id")
    was = httpx.get(f"{sample_server}/products/{pid}").json()["category"]
    row.get_by_role("button", name="Relabel").click()
    row.locator("input.fix").fill("Watches > Pocket Watches")
    row.get_by_role("button", name="Save").click()
    page.wait_for_function(  # a fresh tab is asked for the key first
        "!document.getElementById('key-form').hidden || document.querySelector('#b-products tbody tr .hint.moved')"
    )
    if page.locator("#key-form").is_visible():
        page.get_by_label("API key (kept for this tab only)").fill(API_KEY)
        page.get_by_role("button", name="Use key").click()
    page.wait_for_selector("#b-products tbody tr .hint.moved")
    assert row.locator(".hint.moved").inner_text() == f"relabeled (was {was})"
    stored = httpx.get(f"{sample_server}/products/{pid}").json()
    assert stored["category"] == "Watches > Pocket Watches" and stored["description"]  # text kept
    changes = httpx.get(f"{sample_server}/products/{pid}/history").json()["changes"]
    assert (changes[-1]["old"], changes[-1]["new"]) == (was, "Watches > Pocket Watches")
    page.get_by_label("Find a category").fill("pocket")  # the tree follows
    page.wait_for_selector('#b-tree button.node[data-path="Watches > Pocket Watches"]')
    assert page.locator('#b-tree button.node[data-path="Watches > Pocket Watches"]').inner_text() == "Pocket Watches 1"
    # Similar from a product: its neighbors, the form filled with its id
    page.locator("#b-products tbody tr").nth(1).get_by_role("button", name="Similar").click()
    page.wait_for_selector("#s-results li")
    assert page.locator("#s-results li").count() == 10 and page.locator("#s-by-id").is_checked()
    page.get_by_label("How many").fill("3")
    page.get_by_label("Only under").fill("Watches")
    page.get_by_role("button", name="Find similar").click()
    page.wait_for_function("document.querySelectorAll('#s-results li').length === 3")
    shown = [page.locator("#s-results li").nth(i).inner_text() for i in range(3)]
    assert all("Watches" in text for text in shown), shown
    assert errors == []
    back = httpx.patch(f"{sample_server}/products/{pid}", json={"category": was}, headers={"X-API-Key": API_KEY})
    assert back.status_code == 200  # the module's other tests see the sample as indexed


def test_correcting_a_stored_product_relabels_it_under_its_own_id(page: Any, sample_server: str) -> None:
    """The mistaken-accept case on the page: a diaper pack stored under its catalog id as
    track pants, categorized again by its text and corrected, is relabeled under that id
    (before, the page stored a second product beside it, and the wrong one kept winning
    as a near-duplicate)."""
    title = "Pampers baby dry diaper pants, medium, pack of 76"
    wrong, right = "Clothing > Men's Clothing > Track Pants", "Baby Care > Diapering & Potty Training"
    put = httpx.put(
        f"{sample_server}/products/SKU-DIAPER-1",
        json={"title": title, "category": wrong},
        headers={"X-API-Key": API_KEY},
    )
    assert put.status_code == 200
    before = httpx.get(f"{sample_server}/ready").json()["products"]
    assert categorize(page, sample_server, title).startswith(wrong)  # the mistake wins
    page.get_by_label("…or the right category (any level)").fill(right)
    page.get_by_role("button", name="Save correction").click()
    page.wait_for_selector("#key-form:not([hidden]), #follow-note")  # a fresh tab is asked for the key first
    if page.locator("#key-form").is_visible():
        page.get_by_label("API key (kept for this tab only)").fill(API_KEY)
        page.get_by_role("button", name="Use key").click()
    page.wait_for_selector("#follow-note")
    assert "(id SKU-DIAPER-1)" in page.inner_text("#follow-note")
    assert page.inner_text("#predicted-path").startswith(right)  # the next prediction follows
    assert httpx.get(f"{sample_server}/products/SKU-DIAPER-1").json()["category"] == right
    assert httpx.get(f"{sample_server}/ready").json()["products"] == before  # no hidden copy
    changes = httpx.get(f"{sample_server}/products/SKU-DIAPER-1/history").json()["changes"]
    assert [(c["old"], c["new"]) for c in changes] == [(None, wrong), (wrong, right)]


def test_no_photo_requests_when_photos_are_off(browser: Any, tmp_path: Path) -> None:
    catalog = tmp_path / "few.csv"
    catalog.write_text("id,title,category\nw1,steel analog wrist watch,Watches\nt1,cotton bath towel,Home\n")
    with serving(tmp_path / "data", catalog) as url:
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        requested: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        page.wait_for_function("document.querySelector('#status').textContent.includes('products')")
        page.get_by_label("Title", exact=True).fill("leather strap watch")
        page.get_by_role("button", name="Categorize product").click()
        page.wait_for_selector(".neighbors li")
        page.get_by_role("button", name="Browse").click()
        page.get_by_label("Text or stored product id").fill("towel")
        page.get_by_role("button", name="Find similar").click()
        page.wait_for_selector("#s-results li")
        assert not [u for u in requested if "/images/" in u]
        assert errors == []
        context.close()


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
        context = browser.new_context(bypass_csp=True)
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


def test_the_audit_view_runs_an_audit_keeps_one_label_and_corrects_another(page: Any, sample_server: str) -> None:
    errors = console_errors(page)
    page.goto(sample_server)
    page.get_by_role("button", name="Audit").click()
    page.wait_for_function("document.getElementById('a-status').textContent.length > 0")
    page.get_by_role("button", name="Run the audit").click()
    page.wait_for_function(  # a fresh tab is asked for the key first
        "!document.getElementById('key-form').hidden"
        " || /running|suspected/.test(document.getElementById('a-status').textContent)"
    )
    if page.locator("#key-form").is_visible():
        page.get_by_label("API key (kept for this tab only)").fill(API_KEY)
        page.get_by_role("button", name="Use key").click()
    page.wait_for_function(
        "/suspected label issues/.test(document.getElementById('a-status').textContent)", timeout=240_000
    )
    page.wait_for_selector("#a-table tbody tr[data-id]")
    screenshot(page, "audit-desktop", full_page=False)
    listed = httpx.get(f"{sample_server}/audit").json()
    assert listed["audit"]["state"] == "done"
    assert page.locator("#a-table tbody tr[data-id]").count() == min(50, listed["total"])
    first, second = page.locator("#a-table tbody tr[data-id]").nth(0), page.locator("#a-table tbody tr[data-id]").nth(1)
    kept_id, fixed_id = first.get_attribute("data-id"), second.get_attribute("data-id")
    first.get_by_role("button", name="Evidence").click()
    assert page.locator("#a-table tr.evidence:not([hidden]) li").count() >= 1
    first.get_by_role("button", name="Keep").click()
    page.wait_for_selector(f'#a-table tr[data-id="{kept_id}"].done')
    suggested = next(i for i in listed["items"] if i["id"] == fixed_id)["suggested"]
    was = httpx.get(f"{sample_server}/products/{fixed_id}").json()["category"]
    second.get_by_role("button", name="Use suggestion").click()
    page.wait_for_selector(f'#a-table tr[data-id="{fixed_id}"].done')
    assert httpx.get(f"{sample_server}/products/{fixed_id}").json()["category"] == suggested
    after = httpx.get(f"{sample_server}/audit").json()
    assert kept_id not in {i["id"] for i in after["items"]} and after["audit"]["stale"] is True
    assert errors == []
    back = httpx.patch(f"{sample_server}/products/{fixed_id}", json={"category": was}, headers={"X-API-Key": API_KEY})
    assert back.status_code == 200  # the module's other tests see the sample as indexed


VIOLATIONS = """window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));"""


def _until(page: Any, expression: str, timeout_s: float = 30) -> None:
    """wait_for_function without evaluating text in the page (the CSP forbids it)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, expression
        page.wait_for_timeout(100)


def test_the_page_works_under_its_content_security_policy(browser: Any, sample_server: str) -> None:
    """Every view drawn, a product categorized with its photo and neighbors: no policy
    violation, and the headers that keep the page out of other sites' frames."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # the CSP enforced
    page = context.new_page()
    page.add_init_script(VIOLATIONS)
    answer = page.goto(sample_server)
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
    errors = console_errors(page)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    assert "Pressure Cookers" in categorize(page, sample_server, COOKER)
    _until(page, "[...document.querySelectorAll('.neighbors img')].some(i => i.naturalWidth > 0)")
    for view in ("Review queue", "Browse", "Audit", "Categorize"):
        page.get_by_role("button", name=view, exact=True).click()
    page.get_by_role("button", name="Browse", exact=True).click()
    page.wait_for_selector("#b-tree li")
    assert page.evaluate("window.cspViolations") == [] and errors == []
    context.close()


@pytest.mark.parametrize(("route", "ready"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")])
def test_the_api_docs_render_with_the_network_blocked(browser: Any, sample_server: str, route: str, ready: str) -> None:
    context = browser.new_context()
    origin = sample_server.rstrip("/")
    outside: list[str] = []

    def only_the_server(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(origin) or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    page.add_init_script(VIOLATIONS)
    page.goto(origin + route)
    page.wait_for_selector(ready, timeout=30_000)
    assert "semcat" in page.inner_text(ready)
    violations = page.evaluate("window.cspViolations")
    if route == "/redoc":  # ReDoc's "API docs by Redocly" logo, from their CDN: blocked, so nothing leaves
        violations = [v for v in violations if v != "img-src https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert outside == [] and violations == []
    context.close()
