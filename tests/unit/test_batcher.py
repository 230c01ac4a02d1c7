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
