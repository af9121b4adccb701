"""The reconciler: every accepted batch completes, whatever happened to Redis or a worker.

PostgreSQL says what is left to do; Redis only says whether a job for it still exists.
For each batch still ``received``/``parsing`` and each ``pending`` chunk that was enqueued
more than ``stale_after`` ago, it looks the recorded job up in Redis:

* queued / scheduled / deferred: the job will run; leave it;
* missing (Redis restarted or the job expired), failed, stopped, canceled, finished
  without doing the work, or ``started`` while nobody holds the row lock (its worker was
  killed): enqueue a new job and record its id.

A running job holds its row lock (``FOR UPDATE``) until it commits, and the reconciler
takes candidates with ``FOR UPDATE SKIP LOCKED``, so it never touches work in progress.
A job enqueued twice is harmless: jobs are idempotent. Batches left in ``matching`` with
no pending chunk are completed. Only one reconciler runs at a time (an advisory lock);
jobs are enqueued after its transaction commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import redis
from psycopg_pool import ConnectionPool
from rq import Queue
from rq.job import JobStatus

from batch import queue as q
from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.principal import Principal
from vbs.repo import batches as repo

log = logging.getLogger(__name__)

RECONCILE_LOCK_KEY = 0x7B5_0601
DEFAULT_STALE_AFTER = timedelta(seconds=120)
# A job enqueued this many times without finishing is not enqueued again: it keeps failing
# on something a retry will not fix. It is reported (ids only) for an operator.
MAX_ATTEMPTS = 20

WAITING: frozenset[str] = frozenset(
    s.value for s in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
)


@dataclass(slots=True)
class ReconcileReport:
    ran: bool = True
    ingests_enqueued: list[UUID] = field(default_factory=list)
    chunks_enqueued: list[tuple[UUID, int]] = field(default_factory=list)
    batches_completed: list[UUID] = field(default_factory=list)
    left_waiting: int = 0
    enqueue_failures: int = 0
    given_up: int = 0

    def summary(self) -> str:
        if not self.ran:
            return "another reconciler is running"
        return (
            f"{len(self.ingests_enqueued)} ingest(s) and {len(self.chunks_enqueued)} chunk(s) "
            f"enqueued again, {len(self.batches_completed)} batch(es) completed, "
            f"{self.left_waiting} job(s) left waiting in the queue"
            + (f", {self.given_up} given up after {MAX_ATTEMPTS} attempts" if self.given_up else "")
        )


def reconcile(
    pool: ConnectionPool,
    queue: Queue,
    audit: AuditLog | None,
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> ReconcileReport:
    report = ReconcileReport()
    cutoff = datetime.now(UTC) - stale_after
    ingests: list[tuple[UUID, str]] = []
    chunks: list[tuple[UUID, int, str]] = []
    with transaction(pool) as conn:
        if not repo.try_advisory_lock(conn, RECONCILE_LOCK_KEY):
            report.ran = False
            return report
        for bid in repo.unfinished_ingests(conn, cutoff, MAX_ATTEMPTS):
            batch = repo.get_batch(conn, bid)
            if batch is None:
                continue
            if q.job_state(queue, batch.ingest_job_id) in WAITING:
                report.left_waiting += 1
                continue
            job_id = q.new_job_id("ingest", bid)
            repo.set_ingest_job(conn, bid, job_id)
            ingests.append((bid, job_id))
        for chunk in repo.stale_pending_chunks(conn, cutoff, max_attempts=MAX_ATTEMPTS):
            if q.job_state(queue, chunk.job_id) in WAITING:
                report.left_waiting += 1
                continue
            job_id = q.new_job_id("chunk", chunk.batch_id, chunk.chunk_no)
            repo.set_chunk_job(conn, chunk.batch_id, chunk.chunk_no, job_id)
            chunks.append((chunk.batch_id, chunk.chunk_no, job_id))
        report.given_up = repo.exhausted_work(conn, MAX_ATTEMPTS)
        if report.given_up:
            n = report.given_up
            log.error("reconciler: %d batch job(s) failed %d times: not enqueued", n, MAX_ATTEMPTS)
        for bid in repo.matching_batches_without_pending(conn):
            batch = repo.lock_batch(conn, bid, skip_locked=True)
            if batch is not None and repo.complete_if_done(conn, bid):
                report.batches_completed.append(bid)
                if audit is not None:
                    counts = repo.progress(conn, bid)
                    audit.record(
                        conn,
                        Principal(role="system", org_id=batch.org_id),
                        "batch.complete",
                        "batch",
                        str(bid),
                        {
                            "rows_total": batch.rows_total,
                            "rows_failed": batch.rows_failed,
                            "outcomes": counts.outcomes,
                        },
                    )
    for bid, job_id in ingests:
        try:
            q.enqueue_ingest(queue, bid, job_id)
            report.ingests_enqueued.append(bid)
        except redis.RedisError as exc:
            report.enqueue_failures += 1
            log.warning("batch %s: enqueue of ingest failed (%s)", bid, type(exc).__name__)
    for bid, chunk_no, job_id in chunks:
        try:
            q.enqueue_chunk(queue, bid, chunk_no, job_id)
            report.chunks_enqueued.append((bid, chunk_no))
        except redis.RedisError as exc:
            report.enqueue_failures += 1
            log.warning("batch %s chunk %d: enqueue failed (%s)", bid, chunk_no, type(exc).__name__)
    if ingests or chunks or report.batches_completed:
        log.info("reconciler: %s", report.summary())
    return report
