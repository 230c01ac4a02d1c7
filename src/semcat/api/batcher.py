"""Micro-batching of concurrent requests: embeddings (:class:`MicroBatcher`) and whole
one-product ``/categorize`` calls (:class:`CallBatcher`).

Requests put their texts on a queue; one worker takes whatever is waiting (up to
``max_texts``, waiting at most ``wait_ms`` for company when the queue is short), embeds
it in one model call on a worker thread, and hands each request its rows. While a call
runs, new requests pile up and form the next batch, so under load the model sees a few
large batches instead of many one-text calls competing for the same cores.

The engine is handed the batcher as its query-text encoder: its synchronous
:meth:`MicroBatcher.encode_texts`, called from the threadpool a route runs the engine
in, queues the texts on the event loop and waits for its rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semcat.threads import run_in_background

EncodeFn = Callable[[list[str]], np.ndarray]


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future[np.ndarray]


@dataclass
class BatchStats:
    calls: int = 0
    texts: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)

    def record(self, n: int) -> None:
        self.calls += 1
        self.texts += n
        self.largest = max(self.largest, n)
        if len(self.sizes) < 10_000:
            self.sizes.append(n)


class MicroBatcher:
    """Merge concurrent ``encode`` calls into batched model calls (or not, if disabled)."""

    def __init__(self, encode: EncodeFn, max_texts: int = 64, wait_ms: float = 2.0, enabled: bool = True) -> None:
        self._encode = encode
        self.max_texts = max_texts
        self.wait = wait_ms / 1000.0
        self.enabled = enabled
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._local = threading.local()

    @contextlib.contextmanager
    def direct(self) -> Iterator[None]:
        """In this thread, encode at once instead of queueing (a caller that batched already)."""
        self._local.direct = True
        try:
            yield
        finally:
            self._local.direct = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.enabled and self._worker is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(), name="semcat-microbatcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        self._loop = None

    def encode_texts(self, texts: Sequence[str], role: str = "query") -> np.ndarray:
        """Query rows for ``texts``, from a thread other than the event loop's (the
        engine's, in a route's threadpool): merged with concurrent calls when enabled."""
        if role != "query":
            raise ValueError("the micro-batcher encodes query texts only")
        loop = self._loop
        if not self.enabled or loop is None or _on_loop(loop) or getattr(self._local, "direct", False):
            self.stats.record(len(texts))
            return self._encode(list(texts))
        return asyncio.run_coroutine_threadsafe(self.encode(texts), loop).result()

    async def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not self.enabled or self._queue is None:
            self.stats.record(len(texts))
            return await asyncio.to_thread(self._encode, texts)
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(texts, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            jobs = [await queue.get()]
            size = len(jobs[0].texts)
            deadline = time.monotonic() + self.wait
            while size < self.max_texts:
                if queue.empty():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    job = queue.get_nowait()
                jobs.append(job)
                size += len(job.texts)
            await self._process(jobs)

    async def _process(self, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        self.stats.record(len(texts))
        try:
            vectors = await asyncio.to_thread(self._encode, texts)
        except Exception as exc:  # each waiting request gets the error, the worker lives on
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        start = 0
        for job in jobs:
            end = start + len(job.texts)
            if not job.future.done():
                job.future.set_result(vectors[start:end])
            start = end


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop runs in this thread
        return False


@dataclass
class _Call:
    key: Hashable
    item: Any
    future: asyncio.Future[Any]


class CallBatcher:
    """Merge concurrent one-item calls that share a key (``/categorize`` of one product with
    the same options) into one ``run(key, items)`` call on a worker thread, which returns
    one result per item.

    A batcher given ``yield_to`` lets that one's requests go first: before each call it
    waits while the other has requests queued or running, at most ``max_yield_ms`` (the
    API's writes yield to its reads, so a stream of writes cannot starve them; the writes
    queued meanwhile join the call). No request waits for company: a worker takes whatever
    is queued when it is free, so one client sees no added latency, and under load the
    requests that arrive while a call runs form the next one. ``workers`` calls may run at once (one per core: the
    embedding releases the GIL). When a merged call fails, its items are run one by one,
    so each request gets its own answer or error, never a neighbor's. With
    ``background_nice``, calls run on the batcher's own threads at that niceness, their
    embedding kept on them (:func:`semcat.threads.run_in_background`): the API's writes
    leave the cores to its reads whenever both want them.
    """

    def __init__(
        self,
        run: Callable[[Hashable, list[Any]], Sequence[Any]],
        max_items: int = 64,
        workers: int = 2,
        yield_to: CallBatcher | None = None,
        max_yield_ms: float = 0.0,
        background_nice: int | None = None,
    ) -> None:
        self._run = run
        self.max_items = max_items
        self.workers = workers
        # lower priority: before each call, wait (up to max_yield_ms) while ``yield_to`` has work
        self.yield_to = yield_to
        self.max_yield = max_yield_ms / 1000.0
        self._queue: asyncio.Queue[_Call] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._active = 0  # items queued or being run
        # background work: calls run on the batcher's own threads, at this niceness
        self._nice = background_nice
        self._executor: ThreadPoolExecutor | None = None

    @property
    def busy(self) -> bool:
        return self._active > 0

    async def start(self) -> None:
        if self._nice is not None and self._executor is None:
            nice = self._nice
            self._executor = ThreadPoolExecutor(
                self.workers, "semcat-background", initializer=lambda: run_in_background(nice)
            )
        if not self._tasks:
            self._queue = asyncio.Queue()
            self._tasks = [
                asyncio.create_task(self._work(), name=f"semcat-call-batcher-{n}") for n in range(self.workers)
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._queue = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _call(self, key: Hashable, items: list[Any]) -> Sequence[Any]:
        if self._executor is None:
            return await asyncio.to_thread(self._run, key, items)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, key, items)

    async def submit(self, key: Hashable, item: Any) -> Any:
        if self._queue is None:
            return (await self._call(key, [item]))[0]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._active += 1
        try:
            self._queue.put_nowait(_Call(key, item, future))
            return await future
        finally:
            self._active -= 1

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            calls = [await queue.get()]
            if self.yield_to is not None:  # let the other batcher's requests go first, for a while
                deadline = time.monotonic() + self.max_yield
                while self.yield_to.busy and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)
            while len(calls) < self.max_items and not queue.empty():
                calls.append(queue.get_nowait())
            groups: dict[Hashable, list[_Call]] = {}
            for call in calls:
                groups.setdefault(call.key, []).append(call)
            for key, group in groups.items():
                await self._process(key, group)

    async def _process(self, key: Hashable, calls: list[_Call]) -> None:
        try:
            results = await self._call(key, [c.item for c in calls])
        except Exception as exc:
            if len(calls) == 1:
                if not calls[0].future.done():
                    calls[0].future.set_exception(exc)
                return
            for call in calls:  # one bad item must not fail the others: each alone
                await self._process(key, [call])
            return
        for call, result in zip(calls, results, strict=True):
            if not call.future.done():
                call.future.set_result(result)
