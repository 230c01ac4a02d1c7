"""Micro-batching merges concurrent calls and routes each request its own rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from semcat.api.batcher import MicroBatcher


def fake_encode(calls: list[list[str]]):
    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        if "boom" in texts:
            raise RuntimeError("model failed")
        return np.array([[float(len(t)), float(i)] for i, t in enumerate(texts)], dtype=np.float32)

    return encode


def run_concurrently(batcher: MicroBatcher, requests: list[list[str]]) -> list[np.ndarray]:
    async def main() -> list[np.ndarray]:
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.encode(r) for r in requests))
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_concurrent_requests_share_model_calls() -> None:
    calls: list[list[str]] = []
    batcher = MicroBatcher(fake_encode(calls), max_texts=64, wait_ms=20)
    requests = [["a" * (i + 1)] * (1 + i % 3) for i in range(20)]
    results = run_concurrently(batcher, requests)
    assert len(calls) < len(requests)
    assert sum(len(c) for c in calls) == sum(len(r) for r in requests)
    for request, result in zip(requests, results, strict=True):
        assert result.shape == (len(request), 2)
        assert (result[:, 0] == len(request[0])).all()  # each request got its own rows


def test_disabled_means_one_call_per_request() -> None:
    calls: list[list[str]] = []
    batcher = MicroBatcher(fake_encode(calls), enabled=False)
    run_concurrently(batcher, [["x"], ["yy"], ["zzz"]])
    assert sorted(map(len, calls)) == [1, 1, 1]


def test_max_texts_caps_a_batch() -> None:
    calls: list[list[str]] = []
    batcher = MicroBatcher(fake_encode(calls), max_texts=4, wait_ms=20)
    run_concurrently(batcher, [["t"]] * 12)
    assert max(map(len, calls)) <= 4


def test_a_failure_reaches_its_batch_and_the_worker_survives() -> None:
    calls: list[list[str]] = []
    batcher = MicroBatcher(fake_encode(calls), wait_ms=0)

    async def main() -> None:
        await batcher.start()
        with pytest.raises(RuntimeError, match="model failed"):
            await batcher.encode(["boom"])
        assert (await batcher.encode(["fine"])).shape == (1, 2)
        await batcher.stop()

    asyncio.run(main())


def test_one_product_calls_with_the_same_options_merge_and_each_gets_its_own_answer() -> None:
    """/categorize of one product: concurrent requests with the same options become one
    engine call, requests with other options another; a bad item fails alone."""
    import threading

    from semcat.api.batcher import CallBatcher

    calls: list[tuple[object, list[str]]] = []
    gate = threading.Event()

    def run(key: object, items: list[str]) -> list[str]:
        calls.append((key, list(items)))
        gate.wait(timeout=5)  # the first call holds its worker while the others queue
        if "boom" in items:
            raise ValueError(f"bad item among {len(items)}")
        return [f"{key}:{item}" for item in items]

    async def main() -> list[object]:
        batcher = CallBatcher(run, max_items=64, workers=1)
        await batcher.start()
        try:
            first = asyncio.create_task(batcher.submit("k", "first"))
            await asyncio.sleep(0.05)  # the worker is busy with "first" now
            rest = [
                asyncio.create_task(batcher.submit(key, item))
                for key, item in [("k", "a"), ("k", "b"), ("other", "c"), ("k", "boom"), ("k", "d")]
            ]
            await asyncio.sleep(0.05)
            gate.set()
            return await asyncio.gather(first, *rest, return_exceptions=True)
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    assert results[:4] == ["k:first", "k:a", "k:b", "other:c"] and results[5] == "k:d"
    assert isinstance(results[4], ValueError) and str(results[4]) == "bad item among 1"
    merged = [items for key, items in calls if key == "k" and len(items) > 1]
    assert merged == [["a", "b", "boom", "d"]]  # queued together, one call (then one by one after the error)
    assert ("other", ["c"]) in calls


def test_merged_writes_apply_in_arrival_order(tmp_path) -> None:
    """Concurrent PUTs merged into one upsert: an id written twice keeps its last version,
    and every write is answered with what happened to its id."""
    from tests.conftest import HashEmbedder

    from semcat.api.routes.products import upsert_in_order
    from semcat.catalog import Product
    from semcat.config import Settings
    from semcat.engine import Engine

    with Engine(Settings(data_dir=tmp_path), embedder=HashEmbedder()) as engine:
        engine.upsert_products([Product(id="a", title="red mug", category=("Kitchen",))])
        answers = upsert_in_order(
            engine,
            [
                Product(id="a", title="red mug", category=("Office",)),  # relabeled...
                Product(id="b", title="desk lamp", category=("Office",)),
                Product(id="a", title="red mug, large", category=("Kitchen",)),  # ...then replaced
            ],
        )
        assert answers == ["updated", "created", "updated"]
        stored = engine.get_product("a")
        assert stored["title"] == "red mug, large" and engine.store().count() == 2


def test_writes_yield_to_reads_but_are_not_starved() -> None:
    """A write waits while reads are queued or running (up to max_yield_ms), then runs anyway."""
    import threading

    from semcat.api.batcher import CallBatcher

    order: list[str] = []
    release = threading.Event()

    def read(key: object, items: list[str]) -> list[str]:
        release.wait(timeout=5)
        order.append("read")
        return items

    def write(key: object, items: list[str]) -> list[str]:
        order.append("write")
        return items

    async def main(max_yield_ms: float, release_after: float) -> None:
        reads = CallBatcher(read, workers=1)
        writes = CallBatcher(write, workers=1, yield_to=reads, max_yield_ms=max_yield_ms)
        await reads.start()
        await writes.start()
        try:
            pending_read = asyncio.create_task(reads.submit("k", "r"))
            await asyncio.sleep(0.02)
            pending_write = asyncio.create_task(writes.submit(None, "w"))
            await asyncio.sleep(release_after)
            release.set()
            await asyncio.gather(pending_read, pending_write)
        finally:
            await reads.stop()
            await writes.stop()

    asyncio.run(main(max_yield_ms=2000, release_after=0.1))
    assert order == ["read", "write"]  # the write waited for the read in flight
    order.clear()
    release.clear()
    asyncio.run(main(max_yield_ms=20, release_after=0.5))
    assert order == ["write", "read"]  # a read that never ends does not hold writes back for long
