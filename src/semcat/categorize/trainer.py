"""The linear head's background retrain, in a child process.

A retrain in a thread of the serving process shares its interpreter lock with the
requests: hashing every training text into word and character n-grams and fitting the
node classifiers hold it for seconds (at flipkart-1050 + 4,000 written products, the
retrains of two API workers took 7-11% of all the time the lock was held during a stream
of writes, and with them the slowest reads: `benchmarks/performance/write_load.py`).
In a child process the server keeps only the cheap ends: writing the training set (the
stored vectors, texts and labels it has read anyway) to a job file, and loading the
saved head. The child runs at the lowest CPU priority (:data:`CHILD_NICE`).

    python -m semcat.categorize.trainer JOB HEAD   # JOB: a pickle this module wrote
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from semcat.categorize.head import LinearHead
from semcat.categorize.training import TrainingSet

log = logging.getLogger(__name__)


def train_in_child(data: TrainingSet, options: dict[str, Any], path: Path, digest: str) -> LinearHead | None:
    """Train a head on ``data`` with ``options`` in a child process that saves it at
    ``path`` under ``digest``; the head loaded from there, or None when the child failed
    (the caller then trains in this process and says why in the log)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    job = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.job")
    try:
        with job.open("wb") as fh:
            pickle.dump((data, options, digest), fh, protocol=5)
        done = subprocess.run(
            [sys.executable, "-m", "semcat.categorize.trainer", str(job), str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:  # no room for the job file, no way to start a process
        log.warning("linear head: could not retrain in a child process (%s); retraining here", exc)
        return None
    finally:
        job.unlink(missing_ok=True)
    if done.returncode != 0:
        log.warning("linear head: the retrain process failed (%s); retraining here", done.stderr.strip()[-500:])
        return None
    return LinearHead.load(path, digest)


# the child's CPU priority: the lowest, below the server's write worker and retrain thread
# (niceness 10, which it inherits): on a busy server it trains on the cores requests leave
CHILD_NICE = 19


def main(argv: list[str]) -> int:
    with contextlib.suppress(OSError):
        os.nice(max(0, CHILD_NICE - os.nice(0)))
    job, path = Path(argv[0]), Path(argv[1])
    with job.open("rb") as fh:
        data, options, digest = pickle.load(fh)  # written by this module, beside the head
    LinearHead.from_training_set(data, **options).save(path, digest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
