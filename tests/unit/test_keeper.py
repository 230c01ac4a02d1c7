"""Keeping the head current: background and child-process retrains, the saved head, workers sharing it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.unit.test_lexical import CATALOG

from semcat.catalog import Product
from semcat.config import Settings
from semcat.engine import Engine
from semcat.spaces import LEXICAL_SPACE


def test_a_head_is_retrained_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a write the previous head keeps answering while the new one trains: a read
    never waits for a retrain, however slow."""
    import threading

    from tests.conftest import HashEmbedder

    from semcat.categorize import LinearHead

    # in a thread (the child-process retrain is tested below): this test holds it up in process
    settings = Settings(data_dir=tmp_path / "bg", head_quiet_seconds=0, head_retrain_process=False)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        first = engine.head()
        release, started = threading.Event(), threading.Event()
        real_init = LinearHead.__init__

        def slow_init(self: LinearHead, *args: Any, **kwargs: Any) -> None:
            started.set()
            assert release.wait(timeout=30)  # a retrain that does not end until the test says so
            real_init(self, *args, **kwargs)

        monkeypatch.setattr(LinearHead, "__init__", slow_init)
        engine.upsert_products([Product.build(id="k1", title="Espresso machine", category="Kitchen")])
        assert engine.head() is first  # served at once, retraining behind
        assert started.wait(timeout=30)
        for _ in range(3):  # reads go on while the retrain is stuck
            assert engine.categorize(["toner cartridge"])[0].main_category == "Office"
        assert engine.head() is first and engine.stats(categories=False).head_training  # /ready says so
        release.set()
        retrained = engine.head(wait=True)
        assert not engine.stats(categories=False).head_training
        assert retrained is not first and {p[0] for p in retrained.paths} == {"Office", "Garden", "Kitchen"}


def test_a_stream_of_writes_does_not_keep_the_head_retraining(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The retrain waits until writes pause (quiet_seconds), or until the head has missed
    writes for max_stale_seconds; meanwhile the previous head answers every read."""
    import time

    from tests.conftest import HashEmbedder

    from semcat.categorize import LinearHead

    trained: list[int] = []
    real_init = LinearHead.__init__

    def counted(self: LinearHead, *args: Any, **kwargs: Any) -> None:
        trained.append(1)
        real_init(self, *args, **kwargs)

    settings = Settings(
        data_dir=tmp_path / "d", head_quiet_seconds=1.5, head_max_stale_seconds=60, head_retrain_process=False
    )
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        first = engine.head()
        monkeypatch.setattr(LinearHead, "__init__", counted)
        for n in range(8):  # a write every 0.1 s, a read after each
            engine.upsert_products([Product.build(id=f"w{n}", title=f"Espresso machine {n}", category="Kitchen")])
            assert engine.head() is first
            time.sleep(0.1)
        assert trained == [] and engine._heads.training is None  # never quiet long enough
        time.sleep(1.6)
        assert engine.head() is first  # quiet now: this read starts the retrain, and is not held by it
        engine._heads.training.join(timeout=30)
        assert trained == [1] and engine.head() is not first
        assert {p[0] for p in engine.head().paths} == {"Office", "Garden", "Kitchen"}

    stale = Settings(data_dir=tmp_path / "s", head_quiet_seconds=60, head_max_stale_seconds=0.3)
    with Engine(stale, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        first = engine.head()
        for n in range(6):  # writes never pause, but the head may not fall further behind than 0.3 s
            engine.upsert_products([Product.build(id=f"w{n}", title=f"Espresso machine {n}", category="Kitchen")])
            engine.head()
            time.sleep(0.1)
        assert engine._heads.training is not None or engine.head() is not first


def test_the_background_retrain_runs_in_a_child_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the retrain after writes happens in another process (this one's interpreter
    lock stays with the requests): over a FAISS store the child reads the labeled products
    itself, so the server neither reads nor trains, it loads the head the child saved; over
    a store no other process may open, the server reads the products and hands them to the
    child in a job file; where the child cannot train, the retrain still happens, here."""
    from tests.conftest import HashEmbedder

    import semcat.categorize.keeper as keeper
    import semcat.categorize.retrain as trainer

    settings = Settings(data_dir=tmp_path / "child", head_quiet_seconds=0)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        first = engine.head()
        trained = count_trainings(monkeypatch)  # in this process only
        reads: list[int] = []
        real_labeled = keeper.LabeledProducts

        def counted_read(*args: Any, **kwargs: Any) -> Any:
            reads.append(1)
            return real_labeled(*args, **kwargs)

        monkeypatch.setattr(keeper, "LabeledProducts", counted_read)
        engine.upsert_products([Product.build(id="k1", title="Espresso machine", category="Kitchen")])
        assert engine.head() is first  # served at once, the retrain starts behind
        engine._heads.training.join(timeout=120)
        retrained = engine.head()
        assert retrained is not first and {p[0] for p in retrained.paths} == {"Office", "Garden", "Kitchen"}
        assert retrained.products == len(CATALOG) + 1
        assert trained == [] and reads == []  # neither read nor trained here: loaded from what the child saved

        monkeypatch.setattr(type(engine.store()), "reader_spec", lambda self: None)  # a store only this process opens
        engine.upsert_products([Product.build(id="k2", title="Milk frother", category="Kitchen")])
        engine.head()
        engine._heads.training.join(timeout=120)
        assert engine.head().products == len(CATALOG) + 2
        assert trained == [] and reads == [1]  # read here, trained in the child
        assert not list(engine.stats(categories=False).head_path.parent.glob("*.job"))  # the job file is gone

        monkeypatch.setattr(trainer.sys, "executable", str(tmp_path / "no-python"))  # the child cannot start
        engine.upsert_products([Product.build(id="k3", title="Coffee grinder", category="Kitchen")])
        engine.head()
        engine._heads.training.join(timeout=120)
        assert trained == [1] and engine.head().products == len(CATALOG) + 3


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failed_background_retrain_keeps_the_previous_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A retrain that fails (here: training raises; in practice a store closed under it at
    shutdown, a full disk) is a log line: the previous head keeps answering, and the next
    write's retrain tries again."""
    from tests.conftest import HashEmbedder

    from semcat.categorize.head import LinearHead

    settings = Settings(data_dir=tmp_path / "d", head_quiet_seconds=0, head_retrain_process=False)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        first = engine.head()

        def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("no room left on the device")

        real = LinearHead.from_training_set
        monkeypatch.setattr(LinearHead, "from_training_set", broken)
        engine.upsert_products([Product.build(id="k1", title="Espresso machine", category="Kitchen")])
        with caplog.at_level("WARNING", logger="semcat.categorize.keeper"):
            assert engine.head() is first
            engine._heads.training.join(timeout=60)
        assert "background retrain failed (no room left on the device)" in caplog.text
        assert engine.head() is first  # still answering
        monkeypatch.setattr(LinearHead, "from_training_set", real)
        engine.upsert_products([Product.build(id="k2", title="Milk frother", category="Kitchen")])
        # the next retrain succeeds: wait for it (on a busy machine a retrain of the state
        # before k2 may finish first; the head of every product follows it)
        deadline = time.monotonic() + 60
        while engine.head().products != len(CATALOG) + 2 and time.monotonic() < deadline:
            training = engine._heads.training
            if training is not None:
                training.join(timeout=1)
            else:
                time.sleep(0.05)
        assert engine.head().products == len(CATALOG) + 2


def test_the_retrain_child_takes_only_idle_cpu_time() -> None:
    """The child that retrains the head runs in Linux's idle scheduling class at the lowest
    niceness, so the server's requests always get the cores first."""
    import subprocess
    import sys

    script = (
        "import os; from semcat.categorize.retrain import lower_priority; lower_priority(); "
        "print(os.sched_getscheduler(0) == os.SCHED_IDLE, os.nice(0))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "19"]


def test_the_retrain_child_reads_the_store_it_is_given(tmp_path: Path) -> None:
    """The child that reads the store itself trains on its labeled products, leaves a head
    already saved for them alone, and says so when the store has none labeled."""
    from tests.conftest import HashEmbedder

    from semcat.categorize.head import LinearHead
    from semcat.categorize.retrain import train_from_store
    from semcat.errors import EmptyIndexError

    settings = Settings(data_dir=tmp_path / "d")
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        engine.index([Product.build(id="u1", title="Unlabeled thing")], progress=False)
        spec = engine.store().reader_spec()
        options = engine._heads._training_options()
        head_file = tmp_path / "heads" / "h.pkl"
        digest = train_from_store(spec, settings.text_fields, options, head_file)
        head = LinearHead.load(head_file, digest)
        assert head is not None and head.products == len(CATALOG)  # the unlabeled product is left out
        assert digest == engine._heads._digest(engine.store(), engine._heads._labeled(engine.store()))
        saved_at = head_file.stat().st_mtime_ns
        assert train_from_store(spec, settings.text_fields, options, head_file) == digest
        assert head_file.stat().st_mtime_ns == saved_at  # found saved: not trained again

    with Engine(Settings(data_dir=tmp_path / "u"), embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id="u1", title="Unlabeled thing")], progress=False)
        with pytest.raises(EmptyIndexError):
            train_from_store(engine.store().reader_spec(), settings.text_fields, options, tmp_path / "u.pkl")


def count_trainings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time a linear head is trained."""
    from semcat.categorize.head import LinearHead

    trained: list[int] = []
    real_init = LinearHead.__init__

    def counting_init(self: LinearHead, *args: object, **kwargs: object) -> None:
        trained.append(1)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LinearHead, "__init__", counting_init)
    return trained


def test_a_trained_head_is_kept_for_the_next_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new engine over an unchanged store (the next `semcat categorize`, an API restart)
    loads the saved head instead of retraining; a write by anyone makes it stale."""
    from tests.conftest import HashEmbedder

    settings = Settings(data_dir=tmp_path / "kept", head_weight=0.7, k=3)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        expected = engine.categorize(["toner cartridge for laser printer"])[0]
        assert engine.stats(categories=False).head_path.exists()
        # the weights cover the features the catalog has, not all 2 x 2^20 hashed ones
        assert engine.stats(categories=False).head_path.stat().st_size < 20_000_000

    trained = count_trainings(monkeypatch)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        again = engine.categorize(["toner cartridge for laser printer"])[0]
        assert not trained  # loaded, not retrained
        assert again.main_category == expected.main_category and np.isclose(again.score, expected.score)
    with Engine(settings, embedder=HashEmbedder()) as writer:  # another process relabels a product
        writer.upsert_products([Product.build(id="g3", title=CATALOG[5][1], category="Office > Misc")])
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.categorize(["toner cartridge for laser printer"])[0]
        assert trained  # the saved head no longer matches the store: retrained
        assert engine.head() is not None and engine.head().products == len(CATALOG)
    with Engine(Settings(data_dir=tmp_path / "kept", head_weight=0.7, head_chars=False), embedder=HashEmbedder()) as e:
        trained.clear()
        assert e.head().spaces == (LEXICAL_SPACE,)  # other head options: not the saved head
        assert trained


def test_an_unreadable_saved_head_is_retrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import HashEmbedder

    settings = Settings(data_dir=tmp_path / "broken", head_weight=0.7, k=3)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
        engine.head()
        path = engine.stats(categories=False).head_path
    path.write_bytes(b"not a pickle")
    with Engine(settings, embedder=HashEmbedder()) as engine:
        assert engine.categorize(["garden hose reel"])[0].main_category == "Garden"
        assert path.stat().st_size > 100  # rewritten with the new head
    saved = path.read_bytes()
    import sklearn

    monkeypatch.setattr(sklearn, "__version__", "0.0-other")  # scikit-learn upgraded since the save
    with Engine(settings, embedder=HashEmbedder()) as engine:
        assert engine.head() is not None
    assert path.read_bytes() != saved  # retrained and saved under the new version


def test_api_workers_over_one_store_train_each_head_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two engines over one store (two API workers) that both need the head of a store one
    of them just wrote to: one trains it, the other waits and loads what it saved."""
    import threading

    from tests.conftest import HashEmbedder

    from semcat.categorize.head import LinearHead

    settings = Settings(data_dir=tmp_path / "shared", head_weight=0.7, k=3)
    with Engine(settings, embedder=HashEmbedder()) as engine:
        engine.index([Product.build(id=i, title=t, category=c) for i, t, c in CATALOG], progress=False)
    trained = count_trainings(monkeypatch)
    with Engine(settings, embedder=HashEmbedder()) as a, Engine(settings, embedder=HashEmbedder()) as b:
        assert a.head() is not None and b.head() is not None and len(trained) == 1  # b loaded a's
        a.upsert_products([Product.build(id="g9", title="garden rake with wooden handle", category="Garden")])
        heads: list[LinearHead | None] = []
        threads = [threading.Thread(target=lambda e=e: heads.append(e.head(wait=True))) for e in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(trained) == 2  # one trained, the other loaded it
        assert [h.products for h in heads if h is not None] == [len(CATALOG) + 1] * 2
