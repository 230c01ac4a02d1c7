"""Keeps the linear head of one store current without making reads wait for it.

The head is derived data: trained from the store's labeled products, saved in
``<data-dir>/heads/`` with a fingerprint of what it learned from, and loaded instead of
retrained by the next process over an unchanged store. After a write the store no
longer matches the head; every request until the new head is swapped in is answered by
the previous one (the vote sees the write at once: a relabeled product decides for its
copies through its near-duplicate rule, and a category the head does not know yet is
left to the vote). The retrain is debounced (:class:`~semcat.options.RetrainOptions`):
it starts on a request once no write came for ``quiet_seconds``, or once the head has
missed writes for ``max_stale_seconds``, in a background thread (which has a child
process read the store and train by default: :mod:`semcat.categorize.retrain`), one at a time, so a
stream of writes does not keep a core retraining. Writes during a retrain are picked up
by the next one. Processes over one store (API workers) train a given head once: one
holds a lock beside the head file while it trains, the others then load what it saved.

Whether the store changed is read cheaply on every request: the store's generation
(FAISS counts every process's writes there); a store whose generation sees only its own
client's writes (a Qdrant server shared by several API replicas) is also compared by its
counts, at most once per ``FOREIGN_CHECK_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from semcat.categorize.head import LinearHead
from semcat.categorize.head_data import LabeledProducts
from semcat.categorize.retrain import CALIBRATION_KEY, train, train_from_store, train_in_child
from semcat.errors import EmptyIndexError
from semcat.locks import file_lock
from semcat.options import RETRAIN_DEFAULTS, HeadOptions, RetrainOptions
from semcat.search.base import SearchFilter, VectorStore
from semcat.threads import run_in_background

log = logging.getLogger(__name__)


RETRAIN_NICE = 10  # the background retrain's niceness: requests first
FOREIGN_CHECK_SECONDS = 5.0  # how often counts are compared where the generation misses other clients' writes


class HeadKeeper:
    """The current :class:`LinearHead` of a store (None while it has < 2 categories)."""

    def __init__(
        self,
        path: Path,
        fields: Sequence[str],
        options: HeadOptions,
        retrain: RetrainOptions = RETRAIN_DEFAULTS,
        calibration: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.fields = tuple(fields)
        self.options = options
        self.calibration = calibration  # what the path confidence is learned for (trainer.calibration_spec)
        self.retrain = retrain
        self._head: tuple[Any, LinearHead | None] | None = None
        self._lock = threading.Lock()
        self._train_lock = threading.Lock()
        self._training: threading.Thread | None = None
        self._counts: tuple[float, tuple[Any, ...], tuple[int, int]] | None = None
        self._seen: tuple[Any, ...] | None = None  # the last store state a request saw
        self._changed_at = 0.0  # when it last changed (the last write seen)
        self._stale_since: float | None = None  # when the head first missed a write

    def state(self, store: VectorStore, writes: int) -> tuple[Any, ...]:
        """What the head depends on, cheaply: a change means it may be stale."""
        key = (id(store), writes, store.generation())
        if store.generation_is_global:
            return key
        now = time.monotonic()
        if self._counts is None or self._counts[1] != key or now - self._counts[0] > FOREIGN_CHECK_SECONDS:
            self._counts = (now, key, (store.count(), store.count(SearchFilter(labeled=True))))
        return key + self._counts[2]

    def _due(self, key: tuple[Any, ...]) -> bool:
        """Whether a stale head should start retraining now (called under ``_lock``)."""
        now = time.monotonic()
        if key != self._seen:
            self._seen, self._changed_at = key, now
        if self._stale_since is None:
            self._stale_since = now
        quiet = now - self._changed_at >= self.retrain.quiet_seconds
        return quiet or now - self._stale_since >= self.retrain.max_stale_seconds

    def current(
        self, store: VectorStore, writes: int, check: Callable[[], None], wait: bool = False
    ) -> LinearHead | None:
        """The head to answer with. ``check`` runs before any training (the engine's model
        check). The first head is loaded or trained now; after that a stale head keeps
        answering while its successor trains in the background, once due. ``wait``: the
        head of the store as it is now, waiting for (or doing) the retrain."""
        key = self.state(store, writes)
        with self._lock:
            current, running = self._head, self._training
            if current is not None and current[0] == key:
                self._stale_since = None
                return current[1]
            if not wait and current is not None and current[1] is not None:
                if running is None and self._due(key):  # one at a time; later writes go to the next
                    self._stale_since = None
                    self._training = threading.Thread(
                        target=self._retrain, args=(store, key, check), name="semcat-head-retrain", daemon=True
                    )
                    self._training.start()
                return current[1]
        if running is not None:
            running.join()
        return self._train(store, self.state(store, writes), check)

    def _retrain(self, store: VectorStore, key: tuple[Any, ...], check: Callable[[], None]) -> None:
        """The background retrain, at a lower CPU priority than the requests it runs beside,
        in a child process unless told otherwise (:mod:`semcat.categorize.retrain`)."""
        run_in_background(RETRAIN_NICE)
        try:
            self._train(store, key, check, child=self.retrain.child_process)
        except Exception as exc:  # the store closed under it, a disk full, ...: requests never see this
            log.warning("linear head: the background retrain failed (%s); the previous head keeps serving", exc)

    def saved(self, store: VectorStore) -> LinearHead | None:
        """The head saved for the store as it is now, loaded without training one (None:
        none is saved, or it is stale)."""
        try:
            data = self._labeled(store)
        except EmptyIndexError:
            return None
        return LinearHead.load(self.path, self._digest(store, data))

    @property
    def latest(self) -> LinearHead | None:
        """The head requests are answered with now, if one is loaded (never trains)."""
        current = self._head
        return None if current is None else current[1]

    @property
    def training(self) -> threading.Thread | None:
        """The background retrain in progress, if any."""
        return self._training

    def _train(
        self,
        store: VectorStore,
        key: tuple[Any, ...],
        check: Callable[[], None],
        data: LabeledProducts | None = None,
        child: bool = False,
    ) -> LinearHead | None:
        with self._train_lock:  # concurrent requests after a write train it once
            if self._head is not None and self._head[0] == key:
                return self._head[1]
            try:
                check()
                head = self._saved_or_new(store, data, child)
            except EmptyIndexError:
                head = None
            except Exception:
                self._training = None
                raise
            self._head = (key, head)
            self._training = None
            return head

    def ensure_saved(self, store: VectorStore, check: Callable[[], None]) -> bool:
        """Make sure a head for the store as it is now is saved for the next process,
        without loading one when it already is (``semcat index``: a re-run with nothing new
        reads the file's header only). Returns whether a head exists (>= 2 categories)."""
        try:
            data = self._labeled(store)
        except EmptyIndexError:
            return False
        if LinearHead.saved(self.path, self._digest(store, data)):
            return True
        # trained now (synchronously: saved when this returns) on the labeled products just read
        return self._train(store, self.state(store, -1), check, data) is not None

    def _labeled(self, store: VectorStore) -> LabeledProducts:
        return LabeledProducts(store, self.fields, self.options.max_products)

    def _training_options(self) -> dict[str, Any]:
        """What :func:`semcat.categorize.retrain.train` is given besides the training set."""
        return {
            "chars": self.options.chars,
            "c": self.options.c,
            "levels": self.options.levels,
            "max_products": self.options.max_products,
            CALIBRATION_KEY: self.calibration,
        }

    def _digest(self, store: VectorStore, data: LabeledProducts) -> str:
        return data.fingerprint(store.meta.model, **self._training_options())

    def _saved_or_new(self, store: VectorStore, data: LabeledProducts | None = None, child: bool = False) -> LinearHead:
        """The head saved for exactly the store's labeled products and these options, else a
        newly trained one (then saved: the next process loads it in a second). ``data``: the
        store's labeled products when the caller has just read them; ``child``: trained in a
        child process (which reads the store itself where it can)."""
        if child and data is None and (spec := store.reader_spec()) is not None:
            with file_lock(self._lock_path, best_effort=True):  # see below
                digest = train_from_store(spec, self.fields, self._training_options(), self.path)
            head = None if digest is None else LinearHead.load(self.path, digest)
            if head is not None:
                return head
        data = data if data is not None else self._labeled(store)
        digest = self._digest(store, data)
        head = LinearHead.load(self.path, digest)
        if head is not None:
            return head
        # one process trains a given head: API workers over one store see the same writes
        # and would each train it; the others wait here (serving their previous head) and
        # load what it saved
        with file_lock(self._lock_path, best_effort=True):
            return self._load_or_train(data, digest, child)

    @property
    def _lock_path(self) -> Path:
        """The lock the process training this head holds (beside the head file)."""
        return self.path.with_name(f".{self.path.name}.lock")

    def _load_or_train(self, data: LabeledProducts, digest: str, child: bool) -> LinearHead:
        head = LinearHead.load(self.path, digest)
        if head is not None:
            return head
        options = self._training_options()
        training = data.training_set()
        head = train_in_child(training, options, self.path, digest, data.labels) if child else None
        if head is None:
            head = train(training, options, data.labels)
            try:
                head.save(self.path, digest)
            except OSError as exc:  # a read-only data folder: the head still serves this process
                log.warning("could not save the linear head to %s: %s", self.path, exc)
        return head
