"""The job pipeline on the real PostgreSQL and Redis: ingest -> chunks -> results."""

from __future__ import annotations

import base64
import contextlib
import threading
import zlib
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import redis
from psycopg_pool import ConnectionPool
from rq.job import Job
from rq.serializers import JSONSerializer

from batch import jobs
from batch.reconcile import reconcile
from tests.batch.conftest import Client, burst, rows_file, store_batch
from vbs.db import transaction
from vbs.repo import batches as repo


def batch(pool: ConnectionPool, bid: UUID) -> repo.BatchRecord:
    with transaction(pool) as conn:
        b = repo.get_batch(conn, bid)
    assert b is not None
    return b


def per_row(pool: ConnectionPool, bid: UUID) -> dict[int, int]:
    with transaction(pool) as conn:
        return repo.results_per_row(conn, bid)


def audit_actions(pool: ConnectionPool, bid: UUID) -> list[str]:
    with transaction(pool) as conn:
        rows = conn.execute(
            "SELECT action FROM audit_event WHERE object_id = %s ORDER BY seq", (str(bid),)
        ).fetchall()
    return [r[0] for r in rows]


def redis_text(r: redis.Redis) -> bytes:
    """Everything stored in the Redis database, with RQ's compressed job data and
    (base64) compressed failure tracebacks decompressed."""
    out: list[bytes] = []

    def add(value: Any) -> None:
        if isinstance(value, bytes):
            out.append(value)
            for decode in (lambda v: v, base64.b64decode):
                with contextlib.suppress(zlib.error, ValueError):
                    out.append(zlib.decompress(decode(value)))
        elif value is not None:
            out.append(str(value).encode())

    for key in r.scan_iter(count=1000):
        out.append(key)
        kind = r.type(key)
        if kind == b"hash":
            for field, value in r.hgetall(key).items():
                add(field)
                add(value)
        elif kind == b"string":
            add(r.get(key))
        elif kind == b"list":
            for value in r.lrange(key, 0, -1):
                add(value)
        elif kind == b"set":
            for value in r.smembers(key):
                add(value)
        elif kind == b"zset":
            for value in r.zrange(key, 0, -1):
                add(value)
        elif kind == b"stream":
            for _, fields in r.xrange(key):
                for field, value in fields.items():
                    add(field)
                    add(value)
    return b"\n".join(out)


def test_a_batch_runs_to_completion(
    ctx: jobs.WorkerContext, client_org: Client, redis_conn: redis.Redis
) -> None:
    data = rows_file(10) + b"bad-1,,Nobody,1980-01-01,both\nbad-2,Ann,Body,1980-13-01,both\n"
    bid = store_batch(ctx.pool, client_org, data)
    ctx.queue.enqueue("batch.jobs.ingest", str(bid), job_id=f"ingest-{bid}")
    burst(ctx)

    b = batch(ctx.pool, bid)
    assert b.status == "complete"
    assert (b.rows_total, b.rows_failed, b.chunks_total) == (12, 2, 4)
    assert b.started_at is not None and b.finished_at is not None
    assert per_row(ctx.pool, bid) == {i: 1 for i in range(10)}
    with transaction(ctx.pool) as conn:
        progress = repo.progress(conn, bid)
        results = list(repo.iter_results(conn, bid))
        errors = list(repo.iter_errors(conn, bid))
        left = conn.execute("SELECT count(*) FROM batch_row WHERE batch_id = %s", (bid,))
        assert left.fetchone() == (0,)  # identities now live in the checks only
    assert progress.rows_matched == 10
    assert progress.outcomes["barred"] >= 3
    assert progress.outcomes["clear"] >= 5
    assert [r[0] for r in results] == [f"ref-{i}" for i in range(10)]
    outcome = {ref: out for ref, out, _ in results}
    assert outcome["ref-0"] == "barred"  # Jonathan Smithers, exactly as listed
    assert outcome["ref-9"] == "clear"
    assert errors == [
        (12, "bad-1", "forenames: missing"),
        (13, "bad-2", "date_of_birth: not a real date"),
    ]
    # One audit event for the batch's processing, not one per row.
    assert audit_actions(ctx.pool, bid) == ["batch.complete"]


def test_redis_carries_ids_only(
    ctx: jobs.WorkerContext, client_org: Client, redis_conn: redis.Redis
) -> None:
    bid = store_batch(ctx.pool, client_org, rows_file(5))
    jobs.ingest(str(bid))  # enqueues the chunks, does not run them
    queued = [
        Job.fetch(j, connection=redis_conn, serializer=JSONSerializer)
        for j in ctx.queue.get_job_ids()
    ]
    assert sorted(tuple(j.args) for j in queued) == [(str(bid), 0), (str(bid), 1)]
    assert all(j.timeout == 600 and j.retries_left == 3 for j in queued)
    assert all(j.result_ttl == 3600 and j.failure_ttl == 7 * 24 * 3600 for j in queued)
    everything = redis_text(redis_conn)
    assert str(bid).encode() in everything and b"match_chunk" in everything
    for name in (b"Smithers", b"Ramaswamy", b"Person4x", b"1980-05-17", b"ref-1"):
        assert name not in everything


def test_a_chunk_run_again_changes_nothing(ctx: jobs.WorkerContext, client_org: Client) -> None:
    bid = store_batch(ctx.pool, client_org, rows_file(7))
    jobs.ingest(str(bid))
    burst(ctx)
    before = per_row(ctx.pool, bid)
    assert jobs.match_chunk(str(bid), 0) == {"status": "done", "recorded": 0}
    assert jobs.ingest(str(bid)) == {"status": "complete"}
    assert per_row(ctx.pool, bid) == before == {i: 1 for i in range(7)}
    assert batch(ctx.pool, bid).status == "complete"


def test_the_same_chunk_twice_at_once_gives_one_result_per_row(
    ctx: jobs.WorkerContext, client_org: Client
) -> None:
    bid = store_batch(ctx.pool, client_org, rows_file(3))
    jobs.ingest(str(bid))
    barrier = threading.Barrier(2)
    outcomes: list[dict[str, Any]] = []

    def run() -> None:
        barrier.wait()
        outcomes.append(jobs.match_chunk(str(bid), 0))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o.get("recorded", -1) for o in outcomes) == [0, 3]
    assert per_row(ctx.pool, bid) == {0: 1, 1: 1, 2: 1}
    assert batch(ctx.pool, bid).status == "complete"
    assert audit_actions(ctx.pool, bid) == ["batch.complete"]


def test_the_same_file_twice_is_two_complete_batches(
    ctx: jobs.WorkerContext, client_org: Client
) -> None:
    data = rows_file(5)
    first = store_batch(ctx.pool, client_org, data)
    second = store_batch(ctx.pool, client_org, data)
    for bid in (first, second):
        ctx.queue.enqueue("batch.jobs.ingest", str(bid))
    burst(ctx)
    for bid in (first, second):
        assert batch(ctx.pool, bid).status == "complete"
        assert per_row(ctx.pool, bid) == {i: 1 for i in range(5)}
    with transaction(ctx.pool) as conn:
        ids_1 = {r[2] for r in repo.iter_results(conn, first)}
        ids_2 = {r[2] for r in repo.iter_results(conn, second)}
    assert len(ids_1) == len(ids_2) == 5 and not ids_1 & ids_2


def test_a_bad_file_fails_the_batch_with_its_reason(
    ctx: jobs.WorkerContext, client_org: Client
) -> None:
    bid = store_batch(ctx.pool, client_org, b"reference,name\nr1,x\n")
    assert jobs.ingest(str(bid)) == {"status": "failed"}
    b = batch(ctx.pool, bid)
    assert b.status == "failed" and b.finished_at is not None
    assert b.failure_reason is not None and "unknown column" in b.failure_reason
    assert audit_actions(ctx.pool, bid) == ["batch.failed"]


def test_over_the_row_limit_while_parsing_fails_the_batch(
    ctx: jobs.WorkerContext, client_org: Client
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"batch_max_rows": 4})
    bid = store_batch(ctx.pool, client_org, rows_file(5))
    jobs.ingest(str(bid))
    b = batch(ctx.pool, bid)
    assert b.status == "failed" and b.failure_reason == "more than the limit of 4 rows"
    with transaction(ctx.pool) as conn:
        assert conn.execute("SELECT count(*) FROM batch_row").fetchone() == (0,)


def test_a_file_of_only_bad_rows_completes_with_errors(
    ctx: jobs.WorkerContext, client_org: Client
) -> None:
    bid = store_batch(ctx.pool, client_org, b"reference,forenames,surname,date_of_birth\nr,,,\n")
    assert jobs.ingest(str(bid))["status"] == "complete"
    b = batch(ctx.pool, bid)
    assert (b.status, b.rows_total, b.rows_failed, b.chunks_total) == ("complete", 1, 1, 0)


def test_reconciler_re_enqueues_lost_jobs(
    ctx: jobs.WorkerContext, client_org: Client, redis_conn: redis.Redis
) -> None:
    bid = store_batch(ctx.pool, client_org, rows_file(7))
    jobs.ingest(str(bid))
    redis_conn.flushdb()  # every job lost
    assert reconcile(ctx.pool, ctx.queue, ctx.audit).chunks_enqueued == []  # not stale yet
    report = reconcile(ctx.pool, ctx.queue, ctx.audit, stale_after=timedelta(0))
    assert sorted(report.chunks_enqueued) == [(bid, 0), (bid, 1), (bid, 2)]
    again = reconcile(ctx.pool, ctx.queue, ctx.audit, stale_after=timedelta(0))
    assert again.chunks_enqueued == [] and again.left_waiting == 3  # queued: left alone
    burst(ctx)
    assert batch(ctx.pool, bid).status == "complete"
    assert per_row(ctx.pool, bid) == {i: 1 for i in range(7)}


def test_reconciler_enqueues_a_lost_ingest(
    ctx: jobs.WorkerContext, client_org: Client, redis_conn: redis.Redis
) -> None:
    bid = store_batch(ctx.pool, client_org, rows_file(4))  # received, never enqueued
    report = reconcile(ctx.pool, ctx.queue, ctx.audit, stale_after=timedelta(0))
    assert report.ingests_enqueued == [bid]
    burst(ctx)
    assert batch(ctx.pool, bid).status == "complete"
    assert per_row(ctx.pool, bid) == {i: 1 for i in range(4)}


def test_the_index_is_built_once_per_worker(ctx: jobs.WorkerContext, client_org: Client) -> None:
    for _ in range(2):
        bid = store_batch(ctx.pool, client_org, rows_file(6))
        ctx.queue.enqueue("batch.jobs.ingest", str(bid))
    burst(ctx)
    assert ctx.holder.rebuilds == 1


def test_a_big_file_is_parsed_in_segments_and_an_interrupted_parse_resumes(
    ctx: jobs.WorkerContext, client_org: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of 3 rows, segments of 8 chunks (24 rows): 60 rows + 3 errors = 3 segments.
    bad = b"bad-a,,X,1980-01-01,both\n"
    data = rows_file(30) + bad + rows_file(30, start=30).split(b"\n", 1)[1] + bad + bad
    bid = store_batch(ctx.pool, client_org, data)
    real = repo.record_parse_progress
    calls = 0

    def crash_on_second(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("worker lost mid-parse")
        real(*args, **kwargs)

    monkeypatch.setattr(repo, "record_parse_progress", crash_on_second)
    with pytest.raises(jobs.JobFailed, match="RuntimeError"):
        jobs.ingest(str(bid))
    monkeypatch.setattr(repo, "record_parse_progress", real)
    first = batch(ctx.pool, bid)
    assert (first.status, first.lines_parsed, first.chunks_total) == ("parsing", 25, 8)
    assert len(ctx.queue.get_job_ids()) == 8  # the first segment's chunks went out at once

    assert jobs.ingest(str(bid))["status"] == "matching"
    burst(ctx)
    b = batch(ctx.pool, bid)
    assert (b.status, b.rows_total, b.rows_failed, b.chunks_total) == ("complete", 63, 3, 20)
    assert per_row(ctx.pool, bid) == {i: 1 for i in range(60)}
    with transaction(ctx.pool) as conn:
        errors = [line for line, _, _ in repo.iter_errors(conn, bid)]
        refs = [ref for ref, _, _ in repo.iter_results(conn, bid)]
    assert errors == [32, 63, 64]
    assert refs == [f"ref-{i}" for i in range(60)]


def test_a_second_ingest_of_the_same_batch_at_once_stands_aside(
    ctx: jobs.WorkerContext, client_org: Client
) -> None:
    bid = store_batch(ctx.pool, client_org, rows_file(5))
    with ctx.pool.connection() as other:
        other.autocommit = True
        assert repo.try_session_lock(other, jobs._lock_key(bid))
        assert jobs.ingest(str(bid)) == {"status": "busy"}
        repo.session_unlock(other, jobs._lock_key(bid))
        other.autocommit = False
    assert jobs.ingest(str(bid))["status"] == "matching"


def test_the_worker_timers_screen_new_bars_and_run_the_deadline_job(
    ctx: jobs.WorkerContext, client_org: Client
) -> None:
    from batch.worker import Maintenance, Timers
    from vbs.principal import Principal
    from vbs.services import barred_list as bl

    data = b"reference,forenames,surname,date_of_birth\nlate,Zebedee,Quarrington,1985-03-03\n"
    bid = store_batch(ctx.pool, client_org, data)
    jobs.ingest(str(bid))
    burst(ctx)
    with transaction(ctx.pool) as conn:
        assert [r[1] for r in repo.iter_results(conn, bid)] == ["clear"]
        bl.add_entry(
            conn,
            ctx.audit,
            Principal(role="system"),
            bl.EntryInput(
                forenames="Zebedee", surname="Quarrington", date_of_birth="1985-03-03", lists=3
            ),
            reason="barred the next day",
        )
    maintenance = Maintenance(ctx, Timers())
    maintenance.run_screening()
    maintenance.run_deadlines()
    with transaction(ctx.pool) as conn:
        assert [r[1] for r in repo.iter_results(conn, bid)] == ["under_review"]


def test_a_failing_job_leaves_no_personal_data_in_redis_or_its_error(
    ctx: jobs.WorkerContext,
    client_org: Client,
    redis_conn: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vbs.services import checks

    bid = store_batch(ctx.pool, client_org, rows_file(2))
    jobs.ingest(str(bid))

    def leaky(*args: Any, **kwargs: Any) -> None:
        raise ValueError("Failing row contains (Jonathan, Smithers, 1980-05-17)")

    monkeypatch.setattr(checks, "record_batch_rows", leaky)
    with pytest.raises(jobs.JobFailed) as exc:
        jobs.match_chunk(str(bid), 0)
    assert str(exc.value) == f"batch {bid} chunk 0 failed: ValueError"
    assert exc.value.__suppress_context__
    burst(ctx)  # RQ runs the chunk (and its retries): all fail, recorded in Redis
    everything = redis_text(redis_conn)
    assert b"JobFailed" in everything and b"failed: ValueError" in everything
    assert b"Smithers" not in everything and b"1980-05-17" not in everything
    assert batch(ctx.pool, bid).status == "matching"  # nothing recorded, nothing lost


def test_the_reconciler_gives_up_on_work_that_keeps_failing(
    ctx: jobs.WorkerContext, client_org: Client, redis_conn: redis.Redis
) -> None:
    from batch.reconcile import MAX_ATTEMPTS

    bid = store_batch(ctx.pool, client_org, rows_file(4))
    jobs.ingest(str(bid))
    redis_conn.flushdb()
    with transaction(ctx.pool) as conn:
        conn.execute(
            "UPDATE batch_chunk SET attempts = %s WHERE batch_id = %s AND chunk_no = 0",
            (MAX_ATTEMPTS, bid),
        )
    report = reconcile(ctx.pool, ctx.queue, ctx.audit, stale_after=timedelta(0))
    assert report.chunks_enqueued == [(bid, 1)]
    assert report.given_up == 1
