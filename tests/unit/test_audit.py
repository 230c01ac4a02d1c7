"""The label audit: wrong labels found first, with the evidence; copies filed under two
labels listed once; a kept label remembered; single-product categories reported as such;
the same results through `semcat audit`, the API and `semcat info`."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.conftest import HashEmbedder
from typer.testing import CliRunner

from semcat import auditing
from semcat.api import create_app
from semcat.catalog import Product
from semcat.categorize.label_evidence import LabelScores
from semcat.categorize.likeness import label_support, nearest_cosine
from semcat.cli import app as cli
from semcat.config import Settings
from semcat.engine import Engine
from semcat.errors import EmptyIndexError

KEY = {"X-API-Key": "s3cret"}
WORDS = {
    "Kitchen > Cookware": ["pan", "pot", "wok", "skillet", "casserole", "saucepan", "griddle", "steamer"],
    "Kitchen > Tableware": ["plate", "bowl", "mug", "saucer", "platter", "teacup", "tumbler", "ramekin"],
    "Toys > Dolls": ["doll", "dollhouse", "princess", "barbie", "figurine", "puppet", "ragdoll", "babydoll"],
    "Toys > Cars": ["car", "truck", "racer", "tractor", "bulldozer", "van", "jeep", "lorry"],
}
WRONG = {"p-Kitchen > Cookware-3": "Toys > Cars", "p-Toys > Dolls-5": "Kitchen > Tableware"}


def catalog() -> list[Product]:
    """Four categories of 25 products each (two words of their own per title), two filed
    under a wrong category, two copies of one product under two labels, and a category
    with a single product: 103 labeled products, enough to calibrate."""
    out = []
    for category, words in WORDS.items():
        for i in range(25):
            title = f"{words[i % 8]} {words[(i + 3) % 8]} {words[(i + 5) % 8]} item {i}"
            pid = f"p-{category}-{i}"
            out.append(Product(id=pid, title=title, category=tuple(WRONG.get(pid, category).split(" > "))))
    out.append(Product(id="copy-a", title="enamel saucepan steamer griddle", category=("Kitchen", "Cookware")))
    out.append(Product(id="copy-b", title="enamel saucepan steamer griddle", category=("Kitchen", "Tableware")))
    out.append(Product(id="lonely", title="garden hose reel", category=("Garden", "Hoses")))
    return out


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = Settings(data_dir=tmp_path, api_key="s3cret", retrain={"child_process": False})
    with Engine(settings, embedder=HashEmbedder()) as e:
        e.upsert_products(catalog())
        yield e


def test_the_wrong_labels_come_first_with_their_evidence(engine: Engine) -> None:
    report = auditing.run(engine)
    first = {s.id: s for s in report.suspects[:3]}
    # the two misfiled products, and the copy whose cookware words are filed as tableware
    assert set(first) == {*WRONG, "copy-b"}, [(s.id, s.label, s.label_score) for s in report.suspects[:6]]
    cooking = first["p-Kitchen > Cookware-3"]
    assert cooking.label == "Toys > Cars" and cooking.suggested == "Kitchen > Cookware" and cooking.level == 1
    assert cooking.neighbors and all(n.category for n in cooking.neighbors)
    assert sum(n.category == "Kitchen > Cookware" for n in cooking.neighbors) >= 3
    # nothing filed under "Toys > Cars" is like it: the closest such product's cosine says so
    embed = HashEmbedder()  # the engine's
    cars = [embed.encode_texts([p.title])[0] for p in catalog() if p.category == ("Toys", "Cars")]
    own = embed.encode_texts([engine.get_product("p-Kitchen > Cookware-3")["title"]])[0]
    others = [float(v @ own) for v in cars if not np.allclose(v, own)]
    assert cooking.nearest_same_label == pytest.approx(max(others), abs=1e-3)
    # calibrated: the label is probably wrong, the suggestion probably right
    assert cooking.label_confidence is not None and cooking.label_confidence < 0.5
    assert cooking.suggested_confidence == pytest.approx(1 - cooking.label_confidence)
    # the two copies: one group, both labels; the single-product category is not a suspect
    (group,) = [g for g in report.conflicts if {"copy-a", "copy-b"} <= {pid for pid, _ in g.members}]
    assert group.labels == 2 and group.size == 2 and group.cosine >= 0.95
    assert report.singletons.get("Garden") == 1 and "lonely" not in {s.id for s in report.suspects}
    assert engine.audits.per_main(auditing.latest_run(engine))  # the summary counts them


def test_a_label_no_similar_product_shares_ranks_above_one_a_near_copy_shares() -> None:
    """Two labels the predictions contradict alike: the one no similar product carries is
    the likelier mistake (the other may be how the catalog files such products)."""
    vectors = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    labels = ["A", "A", "A", "B"]
    support = label_support(vectors, labels)
    assert support[0] == pytest.approx(0.99) and support[2] == pytest.approx(0.141, abs=1e-3)
    assert np.isnan(support[3])  # no other product is filed under B
    shares = np.array([[0.9], [0.01], [0.01], [0.9]])
    scores = LabelScores(shares, np.array([0, 1, 1, 0]), {}, sure=np.ones(4), support=support)
    trust = scores.trust("evidence")
    assert trust[2] < trust[1]  # same share, but product 2 has no near copy under A
    assert scores.trust("conditional")[1] == scores.trust("conditional")[2]
    # a contradiction by a sure prediction weighs more than one by a guess
    unsure = LabelScores(shares, np.array([0, 1, 1, 0]), {}, sure=np.array([1, 0.2, 1, 1]), support=np.ones(4))
    assert unsure.trust("evidence")[2] < unsure.trust("evidence")[1]


def test_the_same_label_cosine_counts_against_how_close_anything_is() -> None:
    """A label whose nearest holder is at 0.5 is no evidence against it where nothing is
    closer (a sparse region); where the product's closest neighbor is at 0.95, it is."""
    shares = np.array([[0.01], [0.01], [0.9], [0.9]])
    support = np.array([0.5, 0.5, 0.9, 0.9])
    nearest = np.array([0.5, 0.95, 0.9, 0.9])
    scores = LabelScores(shares, np.array([1, 1, 0, 0]), {}, sure=np.ones(4), support=support, nearest=nearest)
    trust = scores.trust("evidence")
    assert trust[1] < trust[0]
    # the calibrated probability that the label is right weighs in too
    right = np.array([0.02, 0.3, 0.95, 0.95])
    calibrated = LabelScores(shares, np.array([1, 1, 0, 0]), {}, np.ones(4), support, np.full(4, 0.9), right)
    assert calibrated.trust("evidence")[0] < calibrated.trust("evidence")[1]
    # a product judged at no level has no trust to rank
    unjudged = LabelScores(np.array([[np.nan], [0.5]]), np.array([0, 1]), {}, sure=np.ones(2))
    assert np.isnan(unjudged.trust("evidence")[0]) and not np.isnan(unjudged.trust("evidence")[1])


def test_the_closest_product_is_another_one_even_for_an_exact_copy() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    assert nearest_cosine(vectors) == pytest.approx([1.0, 1.0, 0.6])


def test_a_kept_label_stays_kept_until_its_neighbors_change(engine: Engine) -> None:
    auditing.run(engine)
    run = auditing.latest_run(engine)
    total, _ = engine.audits.suspects(run)
    auditing.keep(engine, "p-Toys > Dolls-5")
    after, page = engine.audits.suspects(run)
    assert after == total - 1 and "p-Toys > Dolls-5" not in {s.id for s, _ in page}
    _, everything = engine.audits.suspects(run, include_kept=True)
    assert ("p-Toys > Dolls-5", True) in {(s.id, kept) for s, kept in everything}
    auditing.run(engine)  # same label, same neighbors: still kept
    _, page = engine.audits.suspects(auditing.latest_run(engine))
    assert "p-Toys > Dolls-5" not in {s.id for s, _ in page}
    # new neighbors (near copies filed as tableware) change what made it suspect: listed again
    doll = engine.get_product("p-Toys > Dolls-5")["title"]
    engine.upsert_products(
        [Product(id=f"twin-{i}", title=f"{doll} v{i}", category=("Kitchen", "Tableware")) for i in range(3)]
    )
    auditing.run(engine)
    _, everything = engine.audits.suspects(auditing.latest_run(engine), include_kept=True)
    assert [kept for s, kept in everything if s.id == "p-Toys > Dolls-5"] in ([False], [])  # the keep no longer holds


def test_a_store_with_one_category_says_so(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, retrain={"child_process": False})
    with Engine(settings, embedder=HashEmbedder()) as e:
        e.upsert_products([Product(id=f"m{i}", title=f"mug {i}", category=("Mugs",)) for i in range(5)])
        with pytest.raises(EmptyIndexError, match="all in one category"):
            auditing.run(e)
        assert auditing.status(e)["state"] == "failed"
    with Engine(Settings(data_dir=tmp_path / "unlabeled"), embedder=HashEmbedder()) as e:
        e.upsert_products([Product(id="u1", title="a mug")])
        with pytest.raises(EmptyIndexError, match="no labeled product"):
            auditing.run(e)
    with Engine(Settings(data_dir=tmp_path / "tiny", retrain={"child_process": False}), embedder=HashEmbedder()) as e:
        e.upsert_products([Product(id=f"t{i}", title=f"item {i}", category=(f"C{i % 2}",)) for i in range(4)])
        # was "Cannot have number of splits n_splits=5 greater than the number of samples" (the
        # schemathesis study's POST /audit on a 4-product store)
        with pytest.raises(EmptyIndexError, match=r"too few labeled products to audit: 4; .* at least 10"):
            auditing.run(e)


def _wait(client: TestClient) -> dict[str, Any]:
    for _ in range(600):
        body = client.get("/audit").json()
        if body["audit"]["state"] != "running":
            return body
        time.sleep(0.05)
    raise AssertionError("the audit never finished")


def test_the_api_runs_the_audit_in_the_background_and_lists_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_key="s3cret", retrain={"child_process": False})
    engine = Engine(settings, embedder=HashEmbedder())
    with TestClient(create_app(settings, engine=engine)) as client:
        engine.upsert_products(catalog())
        empty = client.get("/audit").json()
        assert empty["audit"]["state"] == "never run" and empty["items"] == []
        assert client.post("/audit").status_code == 401
        started = client.post("/audit", headers=KEY)
        assert started.status_code == 202
        body = _wait(client)
        assert body["audit"]["state"] == "done" and body["audit"]["stale"] is False
        assert {item["id"] for item in body["items"][:3]} == {*WRONG, "copy-b"}
        item = next(i for i in body["items"] if i["id"] == "p-Kitchen > Cookware-3")
        assert item["title"].startswith("wok") or item["title"]
        assert item["current"] == "Toys > Cars" and item["neighbors"][0]["title"]
        assert 0 < item["nearest_same_label"] < 0.6  # no car-like product is like it
        assert item["label_confidence"] < 0.5 < item["suggested_confidence"]
        toys = client.get("/audit", params={"category": "Toys"}).json()
        assert all(i["label"].startswith("Toys") for i in toys["items"]) and toys["total"] >= 1
        assert client.get("/audit", params={"level": 1, "limit": 1}).json()["items"][0]["level"] == 1
        # correct one, keep the other
        pid = "p-Kitchen > Cookware-3"
        fixed = client.patch(f"/products/{pid}", json={"category": "Kitchen > Cookware"}, headers=KEY)
        assert fixed.status_code == 200
        kept = client.post("/audit/p-Toys > Dolls-5/keep", headers=KEY)
        assert kept.status_code == 200 and kept.json()["kept"] is True
        after = client.get("/audit").json()
        assert "p-Toys > Dolls-5" not in {i["id"] for i in after["items"]}
        moved = next(i for i in after["items"] if i["id"] == pid)
        assert moved["current"] == "Kitchen > Cookware" and after["audit"]["stale"] is True
        assert client.post("/audit/nope/keep", headers=KEY).status_code == 404
        conflicts = client.get("/audit/conflicts").json()
        assert conflicts["total"] >= 1 and conflicts["groups"][0]["labels"] == 2
        ready = client.get("/ready").json()
        assert ready["audit"]["suspects"] == after["audit"]["suspects"]


def test_semcat_audit_and_info(tmp_path: Path, cli_hash_model: HashEmbedder) -> None:
    data = tmp_path / "data"
    lines = ["id,title,category"] + [f'"{p.id}","{p.title}","{p.category_path}"' for p in catalog()]
    (tmp_path / "cat.csv").write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    env = {"SEMCAT_DATA_DIR": str(data)}
    assert runner.invoke(cli, ["index", str(tmp_path / "cat.csv"), "-q"], env=env).exit_code == 0
    before = runner.invoke(cli, ["info"], env=env)
    assert "no finished audit" in before.output
    out = tmp_path / "suspects.csv"
    done = runner.invoke(cli, ["audit", "--top", "5", "-o", str(out)], env=env)
    assert done.exit_code == 0, done.output
    assert "4 suspected label issues, 1 groups of near-duplicates" in done.output
    assert "audit fold 5/5" in done.output
    written = out.read_text()
    assert all(pid in written for pid in [*WRONG, "copy-b"])
    rows = {row["id"]: row for row in csv.DictReader(written.splitlines())}
    assert (
        float(rows["p-Toys > Dolls-5"]["label_confidence"])
        < 0.5
        < float(rows["p-Toys > Dolls-5"]["suggested_confidence"])
    )
    info = runner.invoke(cli, ["info"], env=env)
    assert "suspected label issues" in info.output and "suspects per main category: Kitchen" in info.output


def test_an_audit_running_elsewhere_is_not_started_twice_and_a_dead_one_is_failed(engine: Engine) -> None:
    import os

    from semcat.errors import ConflictError

    audits = engine.audits
    elsewhere = audits.start()
    with audits._lock:  # as if another API worker (a live process) ran it
        audits._conn().execute("UPDATE runs SET pid = ? WHERE run = ?", (os.getppid(), elsewhere))
    with pytest.raises(ConflictError, match="still running"):
        auditing.run(engine)
    with pytest.raises(ConflictError, match="still running"):
        auditing.start(engine)  # refused before it answers, not in its thread
    with audits._lock:  # that process died without finishing it
        audits._conn().execute("UPDATE runs SET pid = ? WHERE run = ?", (2**22 + 12345, elsewhere))
    auditing.run(engine)
    assert auditing.status(engine)["state"] == "done"


def test_an_audits_file_from_before_the_added_columns_still_reads(tmp_path: Path) -> None:
    """A store audited by an earlier semcat: its suspects list (no closest same-labeled
    product, no confidences known), and a new audit stores the figures."""
    import sqlite3

    from semcat.categorize.audit import AuditReport, Suspect
    from semcat.review.audits import _SCHEMA, Audits

    path = tmp_path / "old-audit.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            _SCHEMA.replace("    nearest_same_label REAL, label_confidence REAL, suggested_confidence REAL,\n", "")
        )
        db.execute("INSERT INTO runs (run, started, finished, status) VALUES (1, 0, 1, 'done')")
        db.execute("INSERT INTO suspects VALUES (1, 0, 'p1', 'A > B', 'A', 'C > D', 0.9, 1, 0.001, '[]', '[]')")
    audits = Audits(path)
    total, page = audits.suspects(1)
    old = page[0][0]
    assert total == 1 and old.id == "p1" and old.nearest_same_label is None and old.label_confidence is None
    run = audits.start()
    report = AuditReport(
        suspects=[
            Suspect("p2", "A > B", "C > D", 0.8, 1, 0.002, [], 0.31, label_confidence=0.04, suggested_confidence=0.9)
        ],
        conflicts=[],
        singletons={},
        products=10,
        depth=2,
        folds=5,
        threshold=0.95,
    )
    audits.finish(run, report)
    _, page = audits.suspects(run)
    new = page[0][0]
    assert new.nearest_same_label == pytest.approx(0.31) and new.label_confidence == pytest.approx(0.04)
    assert new.suggested_confidence == pytest.approx(0.9)
