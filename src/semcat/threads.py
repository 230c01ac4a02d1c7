"""CPU threads: how many this process may use, one place for every native pool that asks."""

from __future__ import annotations

import contextlib
import os
import threading

# Below this many queries a FAISS search runs on the calling thread alone: FAISS's OpenMP
# workers spin for a while after each parallel region, and on a 2-core server they took
# the cores from the encoders of concurrent requests (measured in docs/design-notes.md,
# "Reads never wait for writes"). A single query gains nothing from them anyway (FAISS
# parallelizes over queries).
PARALLEL_QUERIES = 64


def cpu_threads() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def search_threads(queries: int) -> int:
    """OpenMP threads for a vector search of ``queries`` queries."""
    return 1 if queries < PARALLEL_QUERIES else cpu_threads()


_local = threading.local()


def run_in_background(nice: int) -> None:
    """Make the calling thread background work, for the rest of its life: a lower CPU
    priority (``nice``, Linux nices threads one by one; elsewhere nothing changes), and
    its embedding kept on it (:func:`in_background`) instead of spread over the encoder's
    worker threads, which serve requests at normal priority. For threads that exist only
    for such work (the head's retrain, the API's write worker): niceness cannot be undone
    without privileges."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    _local.background = True


def in_background() -> bool:
    """Whether the calling thread was made background work by :func:`run_in_background`."""
    return bool(getattr(_local, "background", False))
