"""Requests wait for a database connection on the event loop, never in a worker thread.

A request holds its pooled connection across several hops through the thread pool (its
API key, its quota, the endpoint). When threads waited in the pool for a connection, they
could take every worker thread while the requests holding the connections waited for a
thread to go on: nothing moved until the pool's 10 s timeout answered 503. Here the pool
is smaller than the thread pool and many checks arrive at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
import pytest
import redis
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from api.app import AppState, create_app, request_slots
from tests.api.conftest import Accounts
from tests.api.test_checks_api import body
from vbs.config import Settings


@pytest.fixture
def small_pool_client(
    settings: Settings, db: ConnectionPool, redis_conn: redis.Redis
) -> Iterator[TestClient]:
    small = settings.model_copy(update={"db_pool_min": 1, "db_pool_max": 3})
    with TestClient(create_app(small)) as c:

        def few_threads() -> None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = 4

        c.portal.call(few_threads)  # type: ignore[union-attr]
        yield c


def test_request_slots_keep_connections_back_for_the_process() -> None:
    assert request_slots(10) == 8
    assert request_slots(3) == 1
    assert request_slots(1) == 1


def test_many_checks_at_once_on_fewer_connections_than_threads_all_answer(
    small_pool_client: TestClient,
) -> None:
    c = small_pool_client
    state: AppState = c.app.state.vbs  # type: ignore[attr-defined]
    key = Accounts(c.app, state.pool, state).api_key()  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {key.api_key}"}
    statuses: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        res = c.post("/v1/checks", json=body(reference=f"SLOT-{i}"), headers=headers)
        with lock:
            statuses.append(res.status_code)

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=24) as ex:
        list(ex.map(one, range(48)))
    elapsed = time.monotonic() - t0
    assert statuses == [201] * 48
    assert elapsed < 9.0  # far from the pool's 10 s timeout: nobody waited on a stuck pool
    with state.pool.connection() as conn:
        rows = conn.execute("SELECT count(*) FROM identity_check").fetchone()
        events = conn.execute(
            "SELECT count(*) FROM audit_event WHERE action = 'check.create'"
        ).fetchone()
        report = state.audit.verify(conn)
    assert rows == (48,) and events == (48,)
    assert report.ok, report.summary()
