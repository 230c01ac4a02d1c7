"""The linear head's background retrain, in a child process.

A retrain in a thread of the serving process shares its interpreter lock with the
requests: hashing every training text into word and character n-grams and fitting the
node classifiers hold it for seconds (at flipkart-1050 + 4,000 written products, the
retrains of two API workers took 7-11% of all the time the lock was held during a stream
of writes, and with them the slowest reads: `benchmarks/performance/write_load.py`).
Reading the labeled products holds it too (at flipkart-1050 + 4,000 written products,
half of the reads slower than the p99 under a stream of writes fell inside a retrain, most
at its start, while the server read, parsed and fingerprinted every labeled product): so where
another process can open the store (FAISS, a Qdrant server: :meth:`reader_spec`), the
child reads it itself (:func:`train_from_store`), computes the fingerprint, trains unless
a head for exactly those products is saved already, and answers the fingerprint; the
server only loads the saved head. Where it cannot (an embedded Qdrant), the server reads
the products and writes them to a job file for the child (:func:`train_in_child`). The
child runs only on CPU time the server leaves idle (:func:`lower_priority`).

    python -m semcat.categorize.retrain JOB HEAD   # JOB: a pickle this module wrote
    python -m semcat.categorize.retrain --store HEAD   # the store and options in $SEMCAT_TRAIN_STORE
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semcat.categorize.head import LinearHead
from semcat.categorize.head_data import LabeledProducts, TrainingSet
from semcat.errors import EmptyIndexError
from semcat.options import CALIBRATION_RECIPE, HeadOptions, QueryOptions

log = logging.getLogger(__name__)


STORE_JOB_ENV = "SEMCAT_TRAIN_STORE"  # where --store finds its job (JSON: it holds the store's secrets)
NOTHING_LABELED = 3  # the --store child's exit status when the store has no labeled product


CALIBRATION_KEY = "calibration"  # the training options' entry for the path confidence (None: off)


def calibration_spec(options: QueryOptions, depth: int | None, folds: int | None) -> dict[str, Any]:
    """What the path confidence is learned for, as the training options carry it (JSON):
    the serving options' recipe and depth (None: detected from the labels)."""
    from dataclasses import asdict

    recipe = asdict(options)
    for name in ("top_n", "method", "modality", "category", "auto_precision", "depth", "uncertain_threshold"):
        recipe.pop(name)  # what a request changes, or what only reads the confidence
    return {"recipe": recipe, "depth": depth, "folds": folds}


def train(data: TrainingSet, options: dict[str, Any], labels: Sequence[str] | None = None) -> LinearHead:
    """A head trained on ``data`` with ``options`` (the head's own, and under
    :data:`CALIBRATION_KEY` the calibration spec), with its path confidence learned from
    out-of-fold predictions (:mod:`semcat.categorize.calibration`) when asked. ``labels``:
    every labeled product's path, when ``data`` is a sample (the default depth is read
    from all of them)."""
    from semcat.categorize.calibration import calibrate
    from semcat.categorize.depth import category_depth

    head_options = {k: v for k, v in options.items() if k != CALIBRATION_KEY}
    head = LinearHead.from_training_set(data, **head_options)
    spec = options.get(CALIBRATION_KEY)
    if not spec:
        head.calibration_note = "calibration is off (SEMCAT_CALIBRATION__ENABLED=false)"
        return head
    dense, texts, paths = data
    depth = spec["depth"] or category_depth(labels if labels is not None else paths)
    if len(paths) < CALIBRATION_RECIPE.min_products:
        head.calibration_note = (
            f"too few labeled products to calibrate the confidence: {len(paths)}, at least "
            f"{CALIBRATION_RECIPE.min_products} needed; every prediction goes to review"
        )
        return head
    query = QueryOptions(**spec["recipe"], depth=depth)
    head_opts = HeadOptions(**{k: head_options[k] for k in ("c", "chars", "levels", "max_products")})
    head.calibration = calibrate(dense, texts, paths, query, head_opts, folds=spec["folds"])
    head.calibration_note = None
    return head


def _run_child(args: list[str], instead: str, env: dict[str, str] | None = None) -> str | None:
    """Run this module in a child process with ``args``; its standard output, or None when
    it could not start or failed (logged, with what the caller does ``instead``). Raises
    :class:`EmptyIndexError` when the child found no labeled product in the store."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "semcat.categorize.retrain", *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    except OSError as exc:  # no way to start a process
        log.warning("linear head: could not retrain in a child process (%s); %s", exc, instead)
        return None
    if done.returncode == NOTHING_LABELED:
        raise EmptyIndexError("the store holds no labeled product to train the linear head on")
    if done.returncode != 0:
        log.warning("linear head: the retrain process failed (%s); %s", done.stderr.strip()[-500:], instead)
        return None
    return done.stdout


def train_in_child(
    data: TrainingSet, options: dict[str, Any], path: Path, digest: str, labels: Sequence[str] | None = None
) -> LinearHead | None:
    """Train a head on ``data`` with ``options`` (see :func:`train`) in a child process that saves it at
    ``path`` under ``digest``; the head loaded from there, or None when the child failed
    (the caller then trains in this process and says why in the log)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    job = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.job")
    try:
        with job.open("wb") as fh:
            pickle.dump((data, options, digest, None if labels is None else list(labels)), fh, protocol=5)
        done = _run_child([str(job), str(path)], instead="retraining here")
    except OSError as exc:  # no room for the job file
        log.warning("linear head: could not write the retrain job (%s); retraining here", exc)
        return None
    finally:
        job.unlink(missing_ok=True)
    return None if done is None else LinearHead.load(path, digest)


def train_from_store(spec: dict[str, Any], fields: Sequence[str], options: dict[str, Any], path: Path) -> str | None:
    """Have a child process read the store ``spec`` describes, train a head with
    ``options`` on its labeled products (unless one trained on exactly them is saved at
    ``path``) and save it there; the fingerprint it saved it under, or None when the child
    failed (the caller then reads the store itself; the log says why). Raises
    :class:`EmptyIndexError` when the store holds no labeled product."""
    job = json.dumps({"store": spec, "fields": list(fields), "options": options})
    out = _run_child(["--store", str(path)], instead="reading the store here", env={**os.environ, STORE_JOB_ENV: job})
    lines = (out or "").split()
    if out is not None and not lines:
        log.warning("linear head: the retrain process answered no fingerprint; reading the store here")
    return lines[-1] if lines else None


def _train_store_job(job: dict[str, Any], path: Path) -> str:
    """The child's side of :func:`train_from_store`: the fingerprint of the head saved at ``path``."""
    from semcat.search.factory import open_reader

    source = open_reader(job["store"])
    try:
        options = job["options"]
        data = LabeledProducts(source, job["fields"], options.get("max_products"))
        digest = data.fingerprint(source.meta.model, **options)
        if not LinearHead.saved(path, digest):
            train(data.training_set(), options, data.labels).save(path, digest)
        return digest
    finally:
        source.close()


# the child's CPU priority: the lowest, below the server's write worker and retrain thread
# (niceness 10, which it inherits): on a busy server it trains on the cores requests leave
CHILD_NICE = 19


def lower_priority() -> None:
    """Make this process (the retrain child) run only on CPU time nothing else wants:
    Linux's idle scheduling class where there is one, else the lowest niceness. At niceness
    19 the child still slowed the server's requests while it trained (one worker, 16
    writers: 119 of the 137 reads at or over the p99 fell in the 15 s of the one retrain);
    in the idle class, 40 of 139, what a quarter of the run gets by chance, and the retrain
    took as long."""
    with contextlib.suppress(OSError):
        os.nice(max(0, CHILD_NICE - os.nice(0)))
    with contextlib.suppress(OSError, AttributeError):  # not Linux
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def main(argv: list[str]) -> int:
    lower_priority()
    if argv[0] == "--store":
        try:
            print(_train_store_job(json.loads(os.environ[STORE_JOB_ENV]), Path(argv[1])))
        except EmptyIndexError:
            return NOTHING_LABELED
        return 0
    job, path = Path(argv[0]), Path(argv[1])
    with job.open("rb") as fh:
        data, options, digest, labels = pickle.load(fh)  # written by this module, beside the head
    train(data, options, labels).save(path, digest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
