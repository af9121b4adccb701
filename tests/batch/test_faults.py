"""Fault tests of issue 5: killed and stopped workers, Redis and PostgreSQL restarts, poison
rows. Each ends with every accepted row having exactly one result.

Workers run as real `vbs worker` processes. To catch one "in the middle of a chunk" the
test holds the batch row's lock: a chunk's transaction takes that lock last, after it has
written its results and marked itself done, so the worker waits there, mid-chunk and
uncommitted, until the test lets go. Servers restarted here are ones the test started
itself (embedded, under a temporary folder), never the machine's shared ones.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from api.app import create_app
from batch import jobs
from batch import queue as q
from tests.batch.conftest import Client, bar_people, burst, rows_file, store_batch
from tests.conftest import APP_ROLE
from vbs import embedded
from vbs.audit import AuditLog
from vbs.config import Settings
from vbs.db import transaction
from vbs.migrate import migrate
from vbs.principal import Principal
from vbs.repo import accounts as accounts_repo
from vbs.repo import batches as repo
from vbs.services import accounts as accounts_service

pytestmark = pytest.mark.slow
AUDIT_KEY = "k" * 32


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBS_") or k == "VBS_LOG_LEVEL"}
    assert settings.database_url and settings.redis_url
    env.update(
        VBS_DATABASE_URL=settings.database_url,
        VBS_REDIS_URL=settings.redis_url,
        VBS_APP_DB_ROLE=settings.app_db_role,
        VBS_DATA_DIR=str(settings.data_dir),
        VBS_BATCH_CHUNK_SIZE=str(settings.batch_chunk_size),
        VBS_AUDIT_KEY=AUDIT_KEY,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"worker-{len(started)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vbs", "worker", "--screen-every", "0", *args],
                env=worker_env(settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(pool: ConnectionPool, bid: UUID) -> str:
    with transaction(pool) as conn:
        b = repo.get_batch(conn, bid)
    assert b is not None
    return b.status


def per_row(pool: ConnectionPool, bid: UUID) -> dict[int, int]:
    with transaction(pool) as conn:
        return repo.results_per_row(conn, bid)


def pending(pool: ConnectionPool, bid: UUID) -> list[int]:
    with transaction(pool) as conn:
        return [c.chunk_no for c in repo.pending_chunks(conn, bid)]


class BatchLock:
    """Holds the batch row's lock (as the owner) so a worker stops mid-chunk."""

    def __init__(self, owner_url: str, bid: UUID) -> None:
        self.conn = psycopg.connect(owner_url)
        self.conn.execute("SELECT 1 FROM batch WHERE id = %s FOR UPDATE", (bid,))

    def someone_waits(self) -> bool:
        row = psycopg.connect(self.conn.info.dsn, autocommit=True).execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        result = row.fetchone()
        row.connection.close()
        return bool(result and result[0] > 0)

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def test_sigkill_mid_chunk_then_another_worker_completes(
    ctx: jobs.WorkerContext,
    client_org: Client,
    owner_url: str,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    bid = store_batch(ctx.pool, client_org, rows_file(7))
    jobs.ingest(str(bid))  # three chunks queued
    lock = BatchLock(owner_url, bid)
    try:
        first = start_worker(ctx.settings)
        wait_for("the worker to be mid-chunk", lock.someone_waits)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        lock.release()
    assert per_row(ctx.pool, bid) == {}  # the killed chunk's writes never committed
    second = start_worker(ctx.settings, "--stale-after", "0", "--reconcile-every", "0.5")
    wait_for("the batch to complete", lambda: status_of(ctx.pool, bid) == "complete")
    assert per_row(ctx.pool, bid) == {i: 1 for i in range(7)}
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0


def test_sigterm_mid_chunk_finishes_the_chunk_then_stops(
    ctx: jobs.WorkerContext,
    client_org: Client,
    owner_url: str,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    bid = store_batch(ctx.pool, client_org, rows_file(7))
    jobs.ingest(str(bid))
    lock = BatchLock(owner_url, bid)
    try:
        worker = start_worker(ctx.settings)
        wait_for("the worker to be mid-chunk", lock.someone_waits)
        worker.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert worker.poll() is None  # still finishing its chunk
    finally:
        lock.release()
    assert worker.wait(30) == 0
    assert pending(ctx.pool, bid) == [1, 2]  # the chunk in hand finished; no other started
    assert per_row(ctx.pool, bid) == {0: 1, 1: 1, 2: 1}
    burst(ctx)
    assert status_of(ctx.pool, bid) == "complete"
    assert per_row(ctx.pool, bid) == {i: 1 for i in range(7)}


@pytest.fixture
def own_redis() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="vbsr-"))
    embedded.start_redis(folder)
    yield folder
    embedded.stop_redis(folder)
    shutil.rmtree(folder, ignore_errors=True)


def test_redis_restart_with_jobs_queued_the_reconciler_completes(
    batch_settings: Settings,
    db: ConnectionPool,
    audit: AuditLog,
    client_org: Client,
    own_redis: Path,
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    settings = batch_settings.model_copy(update={"redis_url": embedded.redis_url(own_redis)})
    bar_people(db, audit)
    ctx = jobs.build_context(settings, pool_size=2)
    jobs.install(ctx)
    try:
        bid = store_batch(ctx.pool, client_org, rows_file(7))
        jobs.ingest(str(bid))
        assert ctx.queue.count == 3
    finally:
        jobs.install(None)
        ctx.pool.close()
        ctx.queue.connection.close()
    # Restart Redis without its data: every queued job is gone.
    embedded.stop_redis(own_redis)
    for f in own_redis.glob("redis/appendonly*"):
        f.unlink() if f.is_file() else shutil.rmtree(f)
    embedded.start_redis(own_redis)
    fresh = redis.Redis.from_url(embedded.redis_url(own_redis))
    assert q.get_queue(fresh).count == 0
    fresh.close()
    worker = start_worker(settings, "--stale-after", "0")
    wait_for("the batch to complete", lambda: status_of(db, bid) == "complete")
    assert per_row(db, bid) == {i: 1 for i in range(7)}
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


@pytest.fixture
def own_postgres(redis_url: str, redis_conn: redis.Redis) -> Iterator[tuple[Path, Settings]]:
    folder = Path(tempfile.mkdtemp(prefix="vbsp-"))
    embedded.start_postgres(folder)
    server = embedded.postgres_url(folder)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE vbs")
    url = embedded.postgres_url(folder, "vbs")
    migrate(url, APP_ROLE)
    settings = Settings(
        database_url=url,
        redis_url=redis_url,
        data_dir=folder / "data",
        app_db_role=APP_ROLE,
        cookie_secure=False,
        batch_chunk_size=3,
        audit_key=AUDIT_KEY,
    )
    yield folder, settings
    embedded.stop_postgres(folder)
    shutil.rmtree(folder, ignore_errors=True)


def restart_postgres(folder: Path) -> None:
    """Start the embedded server again from a fresh process: pgserver caches its server
    handle per folder in-process, so a second start in this process would do nothing."""
    code = (
        "import sys, pathlib; from vbs import embedded; "
        "embedded.start_postgres(pathlib.Path(sys.argv[1]))"
    )
    subprocess.run([sys.executable, "-c", code, str(folder)], check=True, timeout=60)
    assert embedded.postgres_running(folder)


def test_postgres_restart_during_a_chunk_is_retried_and_the_api_answers_503(
    own_postgres: tuple[Path, Settings],
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    folder, settings = own_postgres
    ctx = jobs.build_context(settings, pool_size=2)
    jobs.install(ctx)
    try:
        with transaction(ctx.pool) as conn:
            org = accounts_repo.insert_org(conn, "Body", "registered_body")
            key = accounts_service.create_api_key(conn, ctx.audit, None, org.id)
        bar_people(ctx.pool, ctx.audit, filler=5)
        owner = Client(Principal(role="registered_body", org_id=org.id, api_key_id=key.id), org.id)
        bid = store_batch(ctx.pool, owner, rows_file(7))
        jobs.ingest(str(bid))
    finally:
        jobs.install(None)
        ctx.pool.close()
    assert settings.database_url is not None
    lock = BatchLock(settings.database_url, bid)
    worker = start_worker(settings)
    try:
        wait_for("the worker to be mid-chunk", lock.someone_waits)
        with TestClient(create_app(settings)) as api:
            api.headers["Authorization"] = f"Bearer {key.key}"
            assert api.get(f"/v1/batches/{bid}").status_code == 200
            embedded.stop_postgres(folder)  # ends every session, the worker's chunk too
            res = api.get(f"/v1/batches/{bid}")
            assert res.status_code == 503
            assert res.headers["content-type"].startswith("application/problem+json")
            restart_postgres(folder)
            pool = ConnectionPool(settings.database_url, min_size=1, max_size=1, open=False)
            pool.open(wait=True, timeout=30)
            try:
                wait_for("the chunk to be retried", lambda: status_of(pool, bid) == "complete")
                assert per_row(pool, bid) == {i: 1 for i in range(7)}
            finally:
                pool.close()
            body = api.get(f"/v1/batches/{bid}").json()
            assert body["status"] == "complete" and body["rows_processed"] == 7
    finally:
        lock.conn.close()
        worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_poison_rows_become_errors_and_the_worker_carries_on(
    ctx: jobs.WorkerContext,
    client_org: Client,
) -> None:
    poison = (
        b"reference,forenames,surname,date_of_birth\n"
        + b"big,Ann," + b"x" * (10 * 1024 * 1024) + b",1980-01-01\n"
        + b"formula,=cmd|' /C calc'!A0,@SUM(1),1980-01-01\n"
        + b"utf8,Ann\xc3\x28,Smith,1980-01-01\n"
        + b"wide," + b",".join([b"x"] * 10_000) + b"\n"
        + b"ok,Ann,Smith,1980-01-01\n"
    )  # fmt: skip
    bid = store_batch(ctx.pool, client_org, poison)
    bad_header = store_batch(ctx.pool, client_org, b",".join([b"c"] * 10_000) + b"\nx\n")
    after = store_batch(ctx.pool, client_org, rows_file(4))
    for b in (bid, bad_header, after):
        ctx.queue.enqueue("batch.jobs.ingest", str(b))
    burst(ctx)
    with transaction(ctx.pool) as conn:
        errors = {line: reason for line, _, reason in repo.iter_errors(conn, bid)}
        results = {ref: out for ref, out, _ in repo.iter_results(conn, bid)}
        failed = repo.get_batch(conn, bad_header)
    assert set(errors) == {2, 4, 5}
    assert "too long" in errors[2]
    assert errors[4] == "not valid UTF-8 text"
    assert errors[5].startswith("has 10001 values")
    assert set(results) == {"formula", "ok"}  # a formula is just text in a name
    assert failed is not None and failed.status == "failed"
    assert failed.failure_reason is not None and "line 1" in failed.failure_reason
    for b in (bid, after):
        assert status_of(ctx.pool, b) == "complete"
    assert per_row(ctx.pool, after) == {i: 1 for i in range(4)}
