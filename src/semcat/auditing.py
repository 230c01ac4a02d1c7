"""The label audit of a store, run the way the service runs it: in the foreground for
``semcat audit``, in a background thread for ``POST /audit`` (reads keep answering), its
results kept beside the store (:class:`semcat.review.audits.Audits`) for ``GET /audit``,
``/ready``, ``semcat info`` and the web page.

The audit reads the stored vectors and texts of every labeled product (no re-embedding)
and categorizes each without its own fold, with the serving options at the serving
depth (:mod:`semcat.categorize.audit`). A full audit costs about as much as training the
linear head with its confidence calibration; it is run when asked, not after every write,
and says when the store changed since (``stale``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from semcat.catalog import PATH_JOIN
from semcat.categorize.audit import AuditReport, Suspect, audit
from semcat.categorize.head_data import LabeledProducts
from semcat.errors import ConflictError, EmptyIndexError
from semcat.search import SearchFilter
from semcat.threads import run_in_background

if TYPE_CHECKING:
    from collections.abc import Callable

    from semcat.engine import Engine

log = logging.getLogger(__name__)
AUDIT_NICE = 10  # the background audit's CPU priority: requests go first
SUMMARY_MAINS = 10  # main categories /ready and `semcat info` list


def run(engine: Engine, progress: Callable[[str], None] | None = None, run_id: int | None = None) -> AuditReport:
    """Audit every labeled product of the engine's store now; the results are saved as the
    store's latest audit (``run_id``: the run :meth:`Audits.start` already opened). A
    store with no or one labeled category raises :class:`~semcat.errors.EmptyIndexError`
    saying so."""
    audits = engine.audits
    if run_id is None:
        run_id = audits.start()
    try:
        store = engine.store()
        generation = store.generation()
        if not store.exists(SearchFilter(labeled=True)):
            raise EmptyIndexError("nothing to audit: the store holds no labeled product")
        labeled = LabeledProducts(store, engine.settings.text_fields, None)
        dense, texts, labels = labeled.training_set()
        depth = engine.stats(categories=False).depth or max(len(str(label).split(PATH_JOIN)) for label in labels)
        report = audit(
            labeled.ids, dense, texts, labels, engine.options(), engine.settings.head, depth, progress=progress
        )
        report.generation = generation
        audits.finish(run_id, report)
        return report
    except BaseException as exc:
        audits.fail(run_id, str(exc) or type(exc).__name__)
        raise


_running = threading.Lock()  # one audit at a time per process


def start(engine: Engine) -> threading.Thread:
    """Audit in a background thread at a low priority; a second start while one runs, in
    this process or another (an API worker beside it), is refused (409) before the answer."""
    if not _running.acquire(blocking=False):
        raise ConflictError("an audit is already running: read its progress in GET /audit")
    try:
        run_id = engine.audits.start()
    except BaseException:
        _running.release()
        raise

    def work() -> None:
        try:
            run_in_background(AUDIT_NICE)
            run(engine, run_id=run_id)
        except Exception as exc:  # recorded as the run's message; the service goes on
            log.warning("label audit failed: %s", exc)
        finally:
            _running.release()

    thread = threading.Thread(target=work, name="semcat-audit", daemon=True)
    thread.start()
    return thread


def status(engine: Engine) -> dict[str, Any]:
    """What ``/ready`` and ``semcat info`` say of the audit: the latest run's state, the
    latest finished one's counts (suspects per main category, kept ones left out) and
    whether the store changed since it was read."""
    audits = engine.audits
    latest = audits.latest()
    if latest is None:
        return {"state": "never run", "suspects": None, "conflicts": None, "per_main": {}, "stale": None}
    done = latest if latest["status"] == "done" else audits.latest(finished=True)
    out: dict[str, Any] = {
        "state": latest["status"],
        "message": latest["message"],
        "started": latest["started"],
        "suspects": None,
        "conflicts": None,
        "per_main": {},
        "stale": None,
    }
    if done is not None:
        total, per_main = audits.summary(done["run"])
        conflicts, _ = audits.conflicts(done["run"], limit=0)
        out.update(
            run=done["run"],
            finished=done["finished"],
            seconds=done["seconds"],
            products=done["products"],
            suspects=total,
            conflicts=conflicts,
            singletons=len(done["singletons"]),
            per_main=dict(list(per_main.items())[:SUMMARY_MAINS]),
            stale=engine.store().generation() != done["generation"],
        )
    return out


def latest_run(engine: Engine) -> int:
    """The latest finished audit's run number (404 when none finished)."""
    from semcat.errors import NotFoundError

    done = engine.audits.latest(finished=True)
    if done is None:
        raise NotFoundError("no finished label audit: run one (semcat audit, or POST /audit)")
    return int(done["run"])


def keep(engine: Engine, product_id: str, actor: str | None = None) -> Suspect:
    """Keep a suspect's label as it is: it leaves the list until its label or the
    neighbors that made it suspect change."""
    suspect = engine.audits.suspect(latest_run(engine), product_id)
    engine.audits.keep(suspect, actor)
    return suspect
