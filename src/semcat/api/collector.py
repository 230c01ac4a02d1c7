"""Python's cyclic garbage collector in a serving process.

By default the collector runs a young collection every 700 net allocations of container
objects, and now and then a full one that walks every object the process holds: the
model's and the store's Python objects, the linear head, the request handlers. A
request allocates thousands (parsed JSON, payload dicts, hits), so under load the server
collected ~44 times a second, 4.6 s in a 90 s run of `benchmarks/performance/write_load.py`,
one pause 131 ms long, all of it holding the interpreter lock every request needs. After
start-up the server's long-lived objects are frozen (left out of every later collection)
and young collections wait for 20,000 net allocations: 11 collections, 47 ms in all, the
longest 8 ms in the same run, and the read p99 under 16 writers 220 -> 134 ms. Garbage
is still freed at once by reference counting; only cycles wait longer, and objects that
were frozen and later become cyclic garbage are not reclaimed (the server's long-lived
state is not thrown away while it runs).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# net container allocations between young collections, then young collections per
# middle one and middle per full one (Python's defaults: 700, 10, 10)
SERVING_THRESHOLDS = (20_000, 20, 20)


@contextmanager
def serving_collector() -> Iterator[None]:
    """While the block runs (the server's lifetime): what is loaded now is frozen and the
    collector runs at :data:`SERVING_THRESHOLDS`; both undone after."""
    before = gc.get_threshold()
    gc.set_threshold(*SERVING_THRESHOLDS)
    freeze_loaded()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def freeze_loaded() -> None:
    """Leave every object alive now out of later collections (after loading what lives as
    long as the server: the model and store at start-up, the linear head once warm)."""
    gc.collect()  # what is garbage already goes now, not into the permanent generation
    gc.freeze()
