"""RQ job functions. They take ids only, and each is idempotent and safe to run twice.

* :func:`ingest` parses the stored file: good rows go to ``batch_row`` in chunks of
  ``settings.batch_chunk_size``, bad rows to ``batch_error`` with their line numbers, all in
  one transaction; after the commit it enqueues one :func:`match_chunk` per chunk.
* :func:`match_chunk` locks its chunk row, matches the chunk's rows with the process's
  matcher holder and records them through
  :func:`vbs.services.checks.record_batch_rows` (``INSERT ... ON CONFLICT (batch_id,
  batch_row) DO NOTHING``), marks the chunk done and, when no chunk is left pending,
  the batch complete, all in the same transaction. A second run of the same chunk (at
  once or later) waits on the chunk lock, then finds it done and changes nothing.

A database outage inside a job is retried in place with backoff (about 30 s); past that
the job fails, RQ retries it (``Retry``), and the reconciler is the last safety net.

The worker context (pool, matcher holder, audit log, queue) is built once per worker
process by :mod:`batch.worker` and installed here; jobs never rebuild the index.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import redis
from psycopg_pool import ConnectionPool, PoolTimeout
from rq import Queue

from batch import queue as q
from batch.ingest import FileProblem, ParsedRow, RowError, UploadScanner, parse_rows
from batch.metrics import count_batch_checks
from vbs.audit import AuditLog, audit_log_from_settings
from vbs.config import Settings, get_settings
from vbs.db import app_conninfo, open_pool, transaction
from vbs.errors import ValidationFailed, VbsError
from vbs.principal import Principal
from vbs.repo import batches as repo
from vbs.services import checks
from vbs.services.matcher_holder import MatcherHolder

log = logging.getLogger(__name__)

T = TypeVar("T")

SEGMENT_CHUNKS = 8  # parse commits (and enqueues) every this many chunks
DB_RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


@dataclass(slots=True)
class WorkerContext:
    settings: Settings
    pool: ConnectionPool
    holder: MatcherHolder
    audit: AuditLog
    queue: Queue


_context: WorkerContext | None = None
_context_lock = threading.Lock()


def build_context(
    settings: Settings, *, connection: redis.Redis | None = None, pool_size: int = 4
) -> WorkerContext:
    """Open the pool, build the matcher index (once), and connect the queue."""
    pool = open_pool(app_conninfo(settings), min_size=1, max_size=pool_size)
    holder = MatcherHolder.from_settings(settings)
    with pool.connection() as conn:
        holder.load(conn)
        conn.commit()
    return WorkerContext(
        settings=settings,
        pool=pool,
        holder=holder,
        audit=audit_log_from_settings(settings),
        queue=q.get_queue(connection or q.connect(settings, for_worker=True)),
    )


def install(ctx: WorkerContext | None) -> None:
    """Make ``ctx`` the context jobs in this process use (None to forget it)."""
    global _context
    with _context_lock:
        _context = ctx


def context() -> WorkerContext:
    """The installed context, or one built from the environment's settings (a process
    started by a plain ``rq worker``: it then keeps it for the jobs that follow)."""
    global _context
    with _context_lock:
        if _context is None:
            log.warning("no worker context installed; building one (use `vbs worker`)")
            _context = build_context(get_settings())
        return _context


def with_db_retries(fn: Callable[[], T], what: str) -> T:
    """Run ``fn``; on a database outage wait and run it again (its transaction rolled back)."""
    for delay in (*DB_RETRY_DELAYS_S, None):
        try:
            return fn()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if delay is None:
                raise
            name = type(exc).__name__
            log.warning("%s: database unavailable (%s); retry in %.1f s", what, name, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


class JobFailed(Exception):
    """A job's failure as RQ records it (in Redis and the worker log): the job, the kind of
    error, never its message, which could quote a row (e.g. a constraint's DETAIL)."""


def sanitized(fn: Callable[[], T], what: str) -> T:
    try:
        return fn()
    except Exception as exc:
        log.error("%s failed: %s", what, type(exc).__name__)
        raise JobFailed(f"{what} failed: {type(exc).__name__}") from None


# --- ingest ---------------------------------------------------------------------------


def ingest(batch_id: str) -> dict[str, Any]:
    """Parse a received batch's stored file into rows, errors and chunks (job).

    Parsing commits in segments of ``SEGMENT_CHUNKS`` chunks and enqueues each segment's
    chunks after its commit, so the other workers match while a big file is still being
    read. An interrupted ingest, run again, parses the file again and writes only what
    comes after the last committed line (``batch.lines_parsed``). A session advisory lock
    per batch keeps a second copy of the job (say, one the reconciler enqueued) out.
    """
    ctx = context()
    bid = UUID(batch_id)
    what = f"ingest {bid}"
    return sanitized(lambda: with_db_retries(lambda: _ingest(ctx, bid), what), what)


def _lock_key(bid: UUID) -> int:
    return int.from_bytes(bid.bytes[:8], "big", signed=True)


def _ingest(ctx: WorkerContext, bid: UUID) -> dict[str, Any]:
    with ctx.pool.connection() as guard:
        guard.autocommit = True
        try:
            if not repo.try_session_lock(guard, _lock_key(bid)):
                return {"status": "busy"}  # this batch is being parsed by another job
            try:
                return _ingest_locked(ctx, guard, bid)
            finally:
                repo.session_unlock(guard, _lock_key(bid))
        finally:
            if not guard.closed:
                guard.autocommit = False


def _ingest_locked(
    ctx: WorkerContext, reader: psycopg.Connection[Any], bid: UUID
) -> dict[str, Any]:
    with transaction(ctx.pool) as conn:
        batch = repo.lock_batch(conn, bid)
        if batch is None:
            return {"status": "missing"}
        if batch.status not in ("received", "parsing"):
            return {"status": batch.status}
        repo.start_parsing(conn, bid)
    try:
        if batch.file_purged_at is not None:
            raise FileProblem("the stored file was purged before it was parsed")
        _check_file(ctx, reader, bid)
        return _parse_in_segments(ctx, reader, batch)
    except FileProblem as exc:
        reason = str(exc)
        with transaction(ctx.pool) as conn:
            batch_now = repo.lock_batch(conn, bid)
            if batch_now is None or batch_now.status not in ("received", "parsing"):
                return {"status": batch_now.status if batch_now else "missing"}
            repo.fail_batch(conn, bid, reason)
            ctx.audit.record(
                conn, _system(batch.org_id), "batch.failed", "batch", str(bid), {"reason": reason}
            )
        log.info("batch %s failed: %s", bid, reason)
        return {"status": "failed"}


def _check_file(ctx: WorkerContext, reader: psycopg.Connection[Any], bid: UUID) -> None:
    """The upload's file-level checks again, over the stored bytes, before anything is
    written (so a file refused as a whole never leaves rows or checks behind)."""
    scanner = UploadScanner(ctx.settings.batch_max_bytes, ctx.settings.batch_max_rows)
    try:
        for part in repo.iter_file(reader, bid):
            scanner.feed(part)
        scanner.finish()
    except ValidationFailed as exc:
        raise FileProblem(exc.errors[0].message) from None
    except VbsError as exc:
        raise FileProblem(exc.detail.removeprefix("file: ")) from None


@dataclass(slots=True)
class _Segment:
    rows: list[repo.NewRow]
    errors: list[tuple[int, str | None, str]]
    first_row: int  # the first accepted row not yet in a chunk


def _parse_in_segments(
    ctx: WorkerContext, reader: psycopg.Connection[Any], batch: repo.BatchRecord
) -> dict[str, Any]:
    bid = batch.id
    size = max(ctx.settings.batch_chunk_size, 1)
    segment_rows = size * SEGMENT_CHUNKS
    resume_after = batch.lines_parsed  # lines already committed by an earlier run
    seg = _Segment([], [], 0)
    accepted = total = failed = 0
    enqueued = 0
    for item in parse_rows(repo.iter_file(reader, bid), ctx.settings.batch_max_rows):
        total += 1
        fresh = item.line_no > resume_after
        if isinstance(item, RowError):
            failed += 1
            if fresh:
                seg.errors.append((item.line_no, item.reference, item.reason))
            continue
        if fresh:
            seg.rows.append(_new_row(item, accepted, accepted // size))
        accepted += 1
        if accepted % segment_rows == 0:
            if fresh or seg.errors:
                jobs = _commit_segment(ctx, bid, seg, accepted, size, item.line_no, total, failed)
                enqueued += _enqueue(ctx, bid, jobs)
            seg = _Segment([], [], accepted)
    with transaction(ctx.pool) as conn:
        repo.lock_batch(conn, bid)
        jobs = _write_segment(conn, bid, seg, accepted, size)
        chunks = -(-accepted // size)
        status = repo.finish_parsing(conn, bid, rows_total=total, rows_failed=failed, chunks=chunks)
        if status == "matching" and repo.complete_if_done(conn, bid):
            status = "complete"
        if status == "complete":
            _audit_complete(ctx, conn, batch.org_id, bid)
    enqueued += _enqueue(ctx, bid, jobs)
    log.info("batch %s parsed: %d rows, %d refused, %d chunks", bid, total, failed, chunks)
    return {"status": status, "rows": total, "refused": failed, "chunks": chunks}


def _write_segment(
    conn: psycopg.Connection[Any], bid: UUID, seg: _Segment, accepted: int, size: int
) -> list[tuple[int, str]]:
    """Write a segment's rows and errors and create its chunks; return (chunk, job id)."""
    if seg.rows:
        repo.copy_rows(conn, bid, seg.rows)
    if seg.errors:
        repo.copy_errors(conn, bid, seg.errors)
    chunks = []
    for first in range(seg.first_row, accepted, size):
        chunk_no = first // size
        job_id = q.new_job_id("chunk", bid, chunk_no)
        chunks.append((chunk_no, first, min(size, accepted - first), job_id))
    repo.insert_chunks(conn, bid, chunks)
    return [(c[0], c[3]) for c in chunks]


def _commit_segment(
    ctx: WorkerContext,
    bid: UUID,
    seg: _Segment,
    accepted: int,
    size: int,
    line_no: int,
    total: int,
    failed: int,
) -> list[tuple[int, str]]:
    with transaction(ctx.pool) as conn:
        jobs = _write_segment(conn, bid, seg, accepted, size)
        repo.record_parse_progress(
            conn,
            bid,
            lines_parsed=line_no,
            rows_total=total,
            rows_failed=failed,
            chunks=accepted // size,
        )
    return jobs


def _enqueue(ctx: WorkerContext, bid: UUID, jobs: list[tuple[int, str]]) -> int:
    """Enqueue chunk jobs after their commit; a failure is left to the reconciler."""
    done = 0
    for chunk_no, job_id in jobs:
        try:
            q.enqueue_chunk(ctx.queue, bid, chunk_no, job_id)
            done += 1
        except redis.RedisError as exc:
            # The chunk stays pending in PostgreSQL; the reconciler enqueues it again.
            log.warning("batch %s chunk %d: enqueue failed (%s)", bid, chunk_no, type(exc).__name__)
    return done


def _new_row(row: ParsedRow, row_no: int, chunk_no: int) -> repo.NewRow:
    return repo.NewRow(
        row_no=row_no,
        chunk_no=chunk_no,
        line_no=row.line_no,
        reference=row.reference,
        forenames=row.forenames,
        surname=row.surname,
        date_of_birth=row.date_of_birth,
        previous_names=row.previous_names,
        gender=row.gender,
        workforce=row.workforce,
    )


# --- matching -------------------------------------------------------------------------


def match_chunk(batch_id: str, chunk_no: int) -> dict[str, Any]:
    """Match and record one chunk of a batch (job)."""
    ctx = context()
    bid = UUID(batch_id)
    what = f"batch {bid} chunk {chunk_no}"
    return sanitized(lambda: with_db_retries(lambda: _match_chunk(ctx, bid, chunk_no), what), what)


def _match_chunk(ctx: WorkerContext, bid: UUID, chunk_no: int) -> dict[str, Any]:
    with transaction(ctx.pool) as conn:
        chunk = repo.lock_chunk(conn, bid, chunk_no)
        if chunk is None:
            return {"status": "missing"}
        if chunk.status == "done":
            return {"status": "done", "recorded": 0}
        batch = repo.get_batch(conn, bid)
        assert batch is not None
        rows = repo.chunk_rows(conn, bid, chunk_no)
        inputs = [
            checks.BatchRowInput(
                row=r.row_no,
                request=checks.CheckRequest(
                    reference=r.reference,
                    forenames=r.forenames,
                    surname=r.surname,
                    date_of_birth=r.date_of_birth,
                    workforce=r.workforce,
                    previous_names=tuple(r.previous_names),
                    gender=r.gender,
                ),
            )
            for r in rows
        ]
        result = checks.record_batch_rows(conn, ctx.holder, bid, batch.org_id, inputs)
        repo.finish_chunk(conn, bid, chunk_no)
        repo.lock_batch(conn, bid)
        completed = repo.complete_if_done(conn, bid)
        if completed:
            _audit_complete(ctx, conn, batch.org_id, bid)
    # Committed: count the rows for vbs_checks_total{source="batch"} (see batch.metrics).
    count_batch_checks(ctx.queue.connection, result.outcomes)
    if completed:
        log.info("batch %s complete", bid)
    return {
        "status": "done",
        "recorded": len(result.inserted),
        "skipped": result.skipped,
        "batch_complete": completed,
    }


def _system(org_id: UUID) -> Principal:
    return Principal(role="system", org_id=org_id)


def _audit_complete(
    ctx: WorkerContext, conn: psycopg.Connection[Any], org_id: UUID, bid: UUID
) -> None:
    """The one audit event of a batch's processing (never one per row)."""
    batch = repo.get_batch(conn, bid)
    assert batch is not None
    counts = repo.progress(conn, bid)
    ctx.audit.record(
        conn,
        _system(org_id),
        "batch.complete",
        "batch",
        str(bid),
        {
            "rows_total": batch.rows_total,
            "rows_failed": batch.rows_failed,
            "outcomes": counts.outcomes,
        },
    )
