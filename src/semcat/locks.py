"""Locks between processes that share a data folder (several API workers, or `semcat
index` beside a running server): an advisory ``flock`` on a file next to what it guards."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path, exclusive: bool = True, best_effort: bool = False) -> Iterator[None]:
    """Hold ``path`` (created if needed) locked: one exclusive holder, or any number of
    shared ones. Released when the block ends or the process dies. ``best_effort``: where
    the file cannot be created (a read-only data folder), run unlocked."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a")  # noqa: SIM115 - closed below
    except OSError:
        if not best_effort:
            raise
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
