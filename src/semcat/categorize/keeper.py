"""Keeps the linear head of one store current without making reads wait for it.

The head is derived data: trained from the store's labeled products, saved in
``<data-dir>/heads/`` with a fingerprint of what it learned from, and loaded instead of
retrained by the next process over an unchanged store. After a write the store no
longer matches the head: the next request starts a retrain in a background thread and
is answered, like every request until the new head is swapped in, by the previous head
(the vote sees the write at once: a relabeled product decides for its copies through its
near-duplicate rule, and a category the head does not know yet is left to the vote).
Writes during a retrain are picked up by the next one: one retrain at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from semcat.categorize.head import LinearHead, TrainingSet, fingerprint, training_set
from semcat.errors import EmptyIndexError
from semcat.options import HeadOptions
from semcat.search.base import SearchFilter, VectorStore

log = logging.getLogger(__name__)


class HeadKeeper:
    """The current :class:`LinearHead` of a store (None while it has < 2 categories)."""

    def __init__(self, path: Path, fields: Sequence[str], options: HeadOptions) -> None:
        self.path = path
        self.fields = tuple(fields)
        self.options = options
        self._head: tuple[Any, LinearHead | None] | None = None
        self._lock = threading.Lock()
        self._train_lock = threading.Lock()
        self._training: threading.Thread | None = None

    @staticmethod
    def state(store: VectorStore, writes: int) -> tuple[Any, ...]:
        """What the head depends on, cheaply: a change means it may be stale."""
        return (id(store), writes, store.count(), store.count(SearchFilter(labeled=True)), store.generation())

    def current(
        self, store: VectorStore, writes: int, check: Callable[[], None], wait: bool = False
    ) -> LinearHead | None:
        """The head to answer with. ``check`` runs before any training (the engine's model
        check). The first head is loaded or trained now; after that a stale head keeps
        answering while its successor trains in the background. ``wait``: the head of the
        store as it is now, waiting for (or doing) the retrain."""
        key = self.state(store, writes)
        with self._lock:
            current, running = self._head, self._training
            if current is not None and current[0] == key:
                return current[1]
            if not wait and current is not None and current[1] is not None:
                if running is None:  # one retrain at a time; writes meanwhile are caught by the next
                    self._training = threading.Thread(
                        target=self._train, args=(store, key, check), name="semcat-head-retrain", daemon=True
                    )
                    self._training.start()
                return current[1]
        if running is not None:
            running.join()
        return self._train(store, self.state(store, writes), check)

    @property
    def training(self) -> threading.Thread | None:
        """The background retrain in progress, if any."""
        return self._training

    def _train(
        self, store: VectorStore, key: tuple[Any, ...], check: Callable[[], None], data: TrainingSet | None = None
    ) -> LinearHead | None:
        with self._train_lock:  # concurrent requests after a write train it once
            if self._head is not None and self._head[0] == key:
                return self._head[1]
            try:
                check()
                head = self._saved_or_new(store, data)
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
            data = training_set(store, self.fields)
        except EmptyIndexError:
            return False
        if LinearHead.saved(self.path, self._digest(store, data)):
            return True
        # trained now (synchronously: saved when this returns) on the training set just read
        return self._train(store, self.state(store, -1), check, data) is not None

    def _digest(self, store: VectorStore, data: TrainingSet) -> str:
        options = {
            "fields": self.fields,
            "chars": self.options.chars,
            "c": self.options.c,
            "levels": self.options.levels,
        }
        return fingerprint(data, store.meta.model, **options)

    def _saved_or_new(self, store: VectorStore, data: TrainingSet | None = None) -> LinearHead:
        """The head saved for exactly the store's labeled products and these options, else a
        newly trained one (then saved: the next process loads it in a second). ``data``: the
        store's training set when the caller has just read it."""
        data = data if data is not None else training_set(store, self.fields)
        digest = self._digest(store, data)
        head = LinearHead.load(self.path, digest)
        if head is None:
            head = LinearHead.from_training_set(
                data, chars=self.options.chars, c=self.options.c, levels=self.options.levels
            )
            try:
                head.save(self.path, digest)
            except OSError as exc:  # a read-only data folder: the head still serves this process
                log.warning("could not save the linear head to %s: %s", self.path, exc)
        return head
