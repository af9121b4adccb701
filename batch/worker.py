"""`vbs worker`: an RQ worker with the matcher index built once, plus the periodic jobs.

Why a :class:`rq.SimpleWorker` (jobs run in the worker process) rather than RQ's default
fork-per-job ``Worker``: the matcher holder keeps the list index in memory and follows the
list version by applying changes (never rebuilding). In a forked child those changes
would be lost when the child exits, so every job would re-apply everything since the
parent's version (and a plain ``rq worker`` would build the whole index in each child); a
database pool does not survive a fork either. With ``SimpleWorker`` the index, the pool
and the Redis connection are built once and kept across jobs. Isolation comes from
elsewhere: jobs are idempotent, a job that crashes the process is re-run by the reconciler
(another worker, or this one restarted), and a job timeout still applies (RQ's SIGALRM
death penalty works in the main thread). Scale out by running more ``vbs worker``
processes, on this machine or others, against the same PostgreSQL and Redis.

SIGTERM (or Ctrl-C): RQ's warm shutdown: a job in progress finishes (its chunk commits),
then the worker stops; a second signal stops at once (the chunk's transaction rolls back
and the reconciler re-enqueues it).

A maintenance thread runs on timers: the reconciler, continuous screening
(:func:`vbs.services.screening.screen_pending`), the retry of ``incomplete`` checks and
the barring cases' deadline job (``vbs.services.cases.advance_overdue``).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import SimpleWorker
from rq.serializers import JSONSerializer

from batch import jobs
from batch import queue as q
from batch.reconcile import reconcile
from vbs.config import Settings
from vbs.db import transaction

log = logging.getLogger(__name__)


class BatchWorker(SimpleWorker):
    """Runs each job in this process, with the worker context (index, pool) preloaded."""


@dataclass(frozen=True, slots=True)
class Timers:
    reconcile_every: float = 30.0
    stale_after: float = 120.0
    screen_every: float = 60.0
    deadlines_every: float = 300.0


class Maintenance:
    """The worker's timed tasks, in one background thread; a failure is logged, never fatal."""

    def __init__(self, ctx: jobs.WorkerContext, timers: Timers) -> None:
        self.ctx = ctx
        self.timers = timers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vbs-maintenance", daemon=True)
        self._due: dict[str, float] = {}

    def start(self) -> None:
        now = time.monotonic()
        self._due = {
            "reconcile": now + self.timers.reconcile_every,
            "screen": now,
            "deadlines": now,
        }
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        tasks: dict[str, tuple[float, Callable[[], None]]] = {
            "reconcile": (self.timers.reconcile_every, self.run_reconcile),
            "screen": (self.timers.screen_every, self.run_screening),
            "deadlines": (self.timers.deadlines_every, self.run_deadlines),
        }
        while not self._stop.is_set():
            now = time.monotonic()
            for name, (every, task) in tasks.items():
                if every > 0 and now >= self._due[name]:
                    self._safely(name, task)
                    self._due[name] = time.monotonic() + every
            self._stop.wait(0.5)

    @staticmethod
    def _safely(name: str, task: Callable[[], None]) -> None:
        try:
            task()
        except Exception as exc:
            # The type only: an exception's text could carry data from a row.
            log.warning("maintenance task %s failed: %s", name, type(exc).__name__)

    def run_reconcile(self) -> None:
        reconcile(
            self.ctx.pool,
            self.ctx.queue,
            self.ctx.audit,
            stale_after=timedelta(seconds=self.timers.stale_after),
        )

    def run_screening(self) -> None:
        from vbs.services import checks, screening

        with self.ctx.pool.connection() as conn:
            screening.screen_pending(conn, self.ctx.holder, self.ctx.audit)
            conn.commit()
            checks.retry_incomplete(conn, self.ctx.holder, self.ctx.audit)
            conn.commit()

    def run_deadlines(self) -> None:
        advance = _optional("vbs.services.cases", "advance_overdue")
        if advance is None:
            return
        with transaction(self.ctx.pool) as conn:
            _call_advance_overdue(advance, conn, self.ctx)


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    func = getattr(mod, name, None)
    return func if callable(func) else None


def _call_advance_overdue(advance: Callable[..., Any], conn: Any, ctx: jobs.WorkerContext) -> None:
    import inspect

    params = inspect.signature(advance).parameters
    kwargs: dict[str, Any] = {}
    if "audit" in params:
        kwargs["audit"] = ctx.audit
    if "now" in params:
        kwargs["now"] = datetime.now(UTC)
    advance(conn, **kwargs)


def worker_name() -> str:
    return f"vbs-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_worker(settings: Settings, *, burst: bool = False, timers: Timers | None = None) -> int:
    """Run a worker until SIGTERM/SIGINT (or, with ``burst``, until the queue is empty)."""
    timers = timers or Timers()
    connection = q.connect(settings, for_worker=True)
    ctx = jobs.build_context(settings, connection=connection)
    jobs.install(ctx)
    log.info(
        "worker ready: matcher index of %d entries at list version %s",
        ctx.holder.size,
        ctx.holder.version,
    )
    maintenance = Maintenance(ctx, timers)
    try:
        # Reconcile first: a worker started after a crash picks up what was lost.
        Maintenance._safely("reconcile", maintenance.run_reconcile)
        maintenance.start()
        worker = BatchWorker(
            [ctx.queue], connection=connection, serializer=JSONSerializer, name=worker_name()
        )
        worker.work(burst=burst, logging_level="INFO")
    finally:
        maintenance.stop()
        jobs.install(None)
        ctx.pool.close()
        connection.close()
    return 0
