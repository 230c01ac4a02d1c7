"""Review sessions on the server: a file categorized in the background, accepted in bulk,
corrected, skipped and undone, shared by every client, exported row for row; bad rows,
unknown items and stale versions answered with a message."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder

from semcat.api import create_app
from semcat.config import Settings
from semcat.engine import Engine, label_history

KEY = {"X-API-Key": "s3cret"}
TAXONOMY = {
    "Kitchen > Cookware": "pan pot pressure cooker steel wok skillet",
    "Kitchen > Tableware": "plate bowl cup mug saucer ceramic dinner",
    "Home > Bath": "towel bath mat soap shower cotton robe",
    "Home > Decor": "vase frame lamp candle wall art clock",
    "Toys > Dolls": "doll house dress princess baby figure",
    "Toys > Cars": "car truck racing remote control wheel",
}


def _catalog(per: int, start: int = 0) -> list[dict[str, str]]:
    """Products of each category, every third with two words of the next one (a catalog
    with doubt in it: not every prediction can be filed automatically)."""
    rows = []
    names = list(TAXONOMY)
    for n, (category, words) in enumerate(TAXONOMY.items()):
        vocabulary, other = words.split(), TAXONOMY[names[(n + 1) % len(names)]].split()
        for i in range(start, start + per):
            title = [vocabulary[(i + j) % len(vocabulary)] for j in range(2)]
            if i % 3 == 0:
                title += other[i % 5 : i % 5 + 2]
            rows.append({"id": f"c{n}-{i}", "title": " ".join(title), "category": category})
    return rows


def _arrivals() -> list[dict[str, str]]:
    """30 new products: 12 plainly of one category, 18 with a word of two categories among unknown ones."""
    names = list(TAXONOMY)
    rows = []
    for i in range(30):
        category = names[i % len(names)]
        own = TAXONOMY[category].split()
        other = TAXONOMY[names[(i + 1) % len(names)]].split()
        words = own[i % 5 : i % 5 + 3] if i < 12 else [own[i % 4], other[i % 5], "gizmo", "widget", "thing"]
        rows.append({"id": f"new-{i}", "title": " ".join(words) + f" model {i}", "category": category})
    return rows


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, api_key="s3cret", retrain={"child_process": False})
    engine = Engine(settings, embedder=HashEmbedder())
    with TestClient(create_app(settings, engine=engine)) as c:
        assert c.post("/products", json={"items": _catalog(20)}, headers=KEY).status_code == 200
        yield c


def _upload(client: TestClient, text: str, name: str = "new.csv", **form: Any) -> Any:
    return client.post("/reviews", files={"file": (name, text.encode(), "text/csv")}, data=form, headers=KEY)


def _ready(client: TestClient, sid: str) -> dict[str, Any]:
    for _ in range(400):
        summary = client.get(f"/reviews/{sid}").json()
        if summary["status"] != "categorizing":
            return summary
        time.sleep(0.05)
    raise AssertionError("the session never finished categorizing")


def _file(rows: list[dict[str, str]], extra: str = "") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["sku", "title", "price"])
    writer.writeheader()
    for i, row in enumerate(rows):
        writer.writerow({"sku": row["id"], "title": row["title"], "price": f"{i}.99"})
    return out.getvalue() + extra


def _items(client: TestClient, sid: str, **query: Any) -> list[dict[str, Any]]:
    return client.get(f"/reviews/{sid}/items", params={"limit": 1000, **query}).json()["items"]


def test_a_whole_session_shared_by_two_clients_and_exported_row_for_row(client: TestClient, tmp_path: Path) -> None:
    new = _arrivals()
    created = _upload(client, _file(new, extra="bad,,\n"), name="arrivals.csv", auto_precision="0.9")
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert [r["row"] for r in created.json()["rejected"]] == [32]  # its line in the file (the header is line 1)
    assert "no text" in created.json()["rejected"][0]["reason"]
    summary = _ready(client, sid)
    assert summary["status"] == "ready" and summary["categorized"] == summary["total"] == 30
    auto = summary["auto"]
    assert auto >= 1

    bulk = client.post(f"/reviews/{sid}/accept", json={"auto": True}, headers=KEY).json()
    assert bulk["accepted"] == auto and {i["state"] for i in bulk["items"]} == {"accepted"}
    to_review = _items(client, sid, state="to review", order="confidence")
    assert len(to_review) == 30 - auto
    confidences = [i["prediction"]["confidence"] for i in to_review]
    assert confidences == sorted(confidences)  # the least confident first
    before = _items(client, sid)  # every item after the bulk accept
    corrected = {}
    names = list(TAXONOMY)
    for item in before[:3]:  # corrected in place (to another category), with the version it was read at
        right = names[(names.index(item["prediction"]["category"]) + 1) % len(names)]
        done = client.post(
            f"/reviews/{sid}/items/{item['position']}",
            json={"action": "correct", "category": right, "version": item["version"]},
            headers=KEY,
        )
        assert done.status_code == 200 and done.json()["state"] == "corrected"
        corrected[item["position"]] = right
    skipped = before[3]
    assert client.post(f"/reviews/{sid}/items/3", json={"action": "skip"}, headers=KEY).json()["state"] == "skipped"
    undone = client.post(f"/reviews/{sid}/undo", headers=KEY).json()  # the skip
    assert undone["position"] == 3 and undone["state"] == skipped["state"]
    undone = client.post(f"/reviews/{sid}/undo", headers=KEY).json()  # the third correction
    last = before[2]
    assert undone["position"] == 2 and undone["state"] == last["state"] and undone["final"] == last["final"]
    stored = client.get(f"/products/{last['id']}")
    if last["state"] == "accepted":  # the label it had before the correction is back
        assert stored.json()["category"] == last["prediction"]["category"]
    else:  # the product the correction added is removed
        assert stored.status_code == 404
    history = client.get(f"/products/{last['id']}/history").json()["changes"]
    assert history[-1]["source"] == "review" and history[-1]["old"] == corrected[2]
    corrected.pop(2)
    states = {"to review": 0, "accepted": 0, "corrected": 2, "skipped": 0}
    for item in before[2:]:
        states[item["state"]] += 1

    # a second client (another tab, a reload) sees the same session
    with TestClient(client.app) as other:
        again = other.get(f"/reviews/{sid}").json()
        assert again["states"] == states
        assert sid in [s["id"] for s in other.get("/reviews").json()]
        export = other.get(f"/reviews/{sid}/export")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["sku"] for r in rows] == [r["id"] for r in new]  # the file's order, its own columns
    assert [r["price"] for r in rows] == [f"{i}.99" for i in range(30)]
    items = {i["position"]: i for i in _items(client, sid)}
    for position, row in enumerate(rows):
        item = items[position]
        assert row["state"] == item["state"]
        if item["state"] == "corrected":
            assert row["final_category"] == corrected[position]
        elif item["state"] == "accepted":
            assert row["final_category"] == item["prediction"]["category"]
        else:
            assert row["final_category"] == ""
        assert row["level_1"] == item["prediction"]["levels"][0]["category"]
        assert row["level_2"] == item["prediction"]["category"].split(" > ")[1]
        assert float(row["confidence"]) == pytest.approx(item["prediction"]["confidence"], abs=1e-4)
    # every accepted or corrected product is stored under its own id, with its history
    for position, right in corrected.items():
        product_id = items[position]["id"]
        assert client.get(f"/products/{product_id}").json()["category"] == right
        assert client.get(f"/products/{product_id}/history").json()["changes"][-1]["source"] == "review"


def test_a_correction_is_what_the_next_prediction_says(client: TestClient) -> None:
    sid = _upload(client, _file([{"id": "x1", "title": "ceramic vase for dried flowers on the wall"}])).json()["id"]
    _ready(client, sid)
    (item,) = _items(client, sid)
    accept = client.post(f"/reviews/{sid}/items/0", json={"action": "accept", "version": item["version"]}, headers=KEY)
    assert accept.json()["final"] == item["prediction"]["category"]
    fixed = client.post(
        f"/reviews/{sid}/items/0",
        json={"action": "correct", "category": "Kitchen > Tableware", "version": accept.json()["version"]},
        headers=KEY,
    )
    assert fixed.status_code == 200
    again = client.post("/categorize", json={"title": "ceramic vase for dried flowers on the wall"}).json()
    assert again["predictions"][0]["category"] == "Kitchen > Tableware"
    changes = client.get("/products/x1/history").json()["changes"]
    assert [(c["old"], c["new"]) for c in changes] == [
        (None, item["prediction"]["category"]),
        (item["prediction"]["category"], "Kitchen > Tableware"),
    ]


def test_stale_unknown_and_bad_requests_get_a_message(client: TestClient) -> None:
    sid = _upload(client, _file(_catalog(1, start=50))).json()["id"]
    _ready(client, sid)
    item = _items(client, sid)[0]
    first = client.post(f"/reviews/{sid}/items/0", json={"action": "skip", "version": item["version"]}, headers=KEY)
    assert first.status_code == 200
    stale = client.post(f"/reviews/{sid}/items/0", json={"action": "accept", "version": item["version"]}, headers=KEY)
    assert stale.status_code == 409 and "version" in stale.json()["detail"]
    unknown = client.post(f"/reviews/{sid}/items/99", json={"action": "skip"}, headers=KEY)
    assert unknown.status_code == 404 and "no item 99" in unknown.json()["detail"]
    other = client.post("/reviews/nope/items/0", json={"action": "skip"}, headers=KEY)
    assert other.status_code == 404 and "no review session 'nope'" in other.json()["detail"]
    empty_fix = client.post(f"/reviews/{sid}/items/1", json={"action": "correct", "category": " "}, headers=KEY)
    assert empty_fix.status_code == 422 and "right category" in empty_fix.json()["detail"]
    bad_action = client.post(f"/reviews/{sid}/items/1", json={"action": "delete"}, headers=KEY)
    assert bad_action.status_code == 422
    nothing = client.post(f"/reviews/{sid}/accept", json={}, headers=KEY)
    assert nothing.status_code == 422 and "which items" in nothing.json()["detail"]
    assert client.post(f"/reviews/{sid}/accept", json={"positions": [0, 77]}, headers=KEY).status_code == 422
    assert client.post(f"/reviews/{sid}/undo").status_code == 401  # writes need the key
    assert client.post(f"/reviews/{sid}/undo", headers=KEY).status_code == 200
    assert client.post(f"/reviews/{sid}/undo", headers=KEY).status_code == 409  # nothing left to undo
    garbage = _upload(client, "sku,title\n,\n,\n")
    assert garbage.status_code == 422 and "new.csv has a header but no product rows" in garbage.json()["detail"]
    untitled = _upload(client, "sku,title\n1,\n2,\n", name="untitled.csv")
    assert untitled.status_code == 422 and "untitled.csv: no valid product to review" in untitled.json()["detail"]
    assert "row 2" in untitled.json()["detail"] or "line 2" in untitled.json()["detail"]
    odd = _upload(client, _file(_catalog(1, start=60)), name="../../etc/x\x00y.csv")
    assert odd.status_code == 201 and odd.json()["name"].startswith("x_") and "/" not in odd.json()["name"]
    wrong_option = _upload(client, _file(_catalog(1)), k="0")
    assert wrong_option.status_code == 422
    assert client.get("/reviews/nope/export").status_code == 404


def test_no_exported_cell_runs_as_a_spreadsheet_formula(client: TestClient, tmp_path: Path) -> None:
    """OWASP's CSV injection rule in the review download and the CLI's prediction file:
    text that starts like a formula gets a leading quote; numbers stay numbers."""
    rows = 'sku,title,price,note\n=1+2,"=HYPERLINK(""http://x.test"",""click"") steel mug",-5,@SUM(A1)\n'
    rows += "+7,\"analog wrist watch\",+3.5e2,-cmd|' /C calc'!A0\n"
    sid = _upload(client, rows).json()["id"]
    _ready(client, sid)
    export = list(csv.DictReader(io.StringIO(client.get(f"/reviews/{sid}/export").text)))
    assert [r["sku"] for r in export] == ["'=1+2", "+7"]  # "+7" is a number: left as it is
    assert export[0]["title"].startswith("'=HYPERLINK(") and export[0]["note"] == "'@SUM(A1)"
    assert [r["price"] for r in export] == ["-5", "+3.5e2"] and export[1]["note"].startswith("'-cmd|")
    assert all(not v.startswith(("=", "@")) for r in export for v in r.values())


def test_sessions_outlive_the_server(tmp_path: Path) -> None:
    """The queue is in the store's folder: a new server (a restart) sees the states."""
    settings = Settings(data_dir=tmp_path, api_key="s3cret", retrain={"child_process": False})
    with TestClient(create_app(settings, engine=Engine(settings, embedder=HashEmbedder()))) as c:
        c.post("/products", json={"items": _catalog(10)}, headers=KEY)
        sid = _upload(c, _file(_catalog(2, start=30))).json()["id"]
        _ready(c, sid)
        assert c.post(f"/reviews/{sid}/accept", json={"positions": [0, 1]}, headers=KEY).json()["accepted"] == 2
    engine = Engine(settings, embedder=HashEmbedder())
    with TestClient(create_app(settings, engine=engine)) as c:
        summary = c.get(f"/reviews/{sid}").json()
        assert summary["states"]["accepted"] == 2 and summary["status"] == "ready"
        assert len(label_history(engine, _items(c, sid)[0]["id"])) == 1


def test_two_tabs_acting_at_once_leave_the_store_as_the_session_says(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tabs act on one item at the same version at the same time: one wins, the other
    gets 409 and writes nothing (before, both passed the version check, both wrote the
    label, and the store kept the loser's)."""
    import threading

    from semcat import workbench
    from semcat.errors import ConflictError

    sid = _upload(client, _file([{"id": "x9", "title": "ceramic vase for dried flowers"}])).json()["id"]
    _ready(client, sid)
    (item,) = _items(client, sid)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    write = engine.upsert_products

    def slow_for_the_accept(products: Any, **kwargs: Any) -> Any:
        if products[0].category_path == item["prediction"]["category"]:
            time.sleep(0.6)  # the accept's write lands after the correction's
        return write(products, **kwargs)

    monkeypatch.setattr(engine, "upsert_products", slow_for_the_accept)
    outcomes: dict[str, Any] = {}

    def run(name: str, action: str, category: str | None) -> None:
        try:
            outcomes[name] = workbench.act(engine, sid, 0, action, category, item["version"])
        except ConflictError as exc:
            outcomes[name] = exc

    accept = threading.Thread(target=run, args=("accept", "accept", None))
    accept.start()
    time.sleep(0.2)
    run("correct", "correct", "Toys > Cars")
    accept.join()
    won = [o for o in outcomes.values() if not isinstance(o, ConflictError)]
    assert len(won) == 1 and sum(isinstance(o, ConflictError) for o in outcomes.values()) == 1
    assert engine.get_product("x9")["category"] == won[0].final
    assert [c.new for c in label_history(engine, "x9")] == [won[0].final]
