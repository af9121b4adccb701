"""Batch rows count in ``vbs_checks_total`` as ``source="batch"``: a real ``vbs worker``
process matches a small batch, and the API's own ``/metrics`` serves the count."""

from __future__ import annotations

import subprocess
import sys
from typing import Any
from uuid import UUID

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import ConnectionPool

from batch import queue as q
from tests.api.conftest import Accounts
from tests.batch.conftest import bar_people, rows_file
from tests.batch.test_api import upload
from tests.batch.test_faults import worker_env
from vbs.config import Settings
from vbs.db import transaction

pytestmark = pytest.mark.slow


def checks_total(text: str) -> dict[tuple[str, str], float]:
    """``vbs_checks_total`` samples by (source, outcome), parsed from the exposition."""
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "vbs_checks_total":
                out[(s.labels["source"], s.labels["outcome"])] = s.value
    return out


def run_worker_burst(settings: Settings) -> None:
    """`vbs worker --burst` in its own process: it empties the queue, then exits."""
    done = subprocess.run(
        [sys.executable, "-m", "vbs", "worker", "--burst", "--screen-every", "0"],
        env=worker_env(settings, VBS_BATCH_CHUNK_SIZE="3"),
        capture_output=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout.decode()[-2000:]


def test_batch_rows_count_once_in_the_api_metrics(
    accounts: Accounts,
    app_state: Any,
    settings: Settings,
    db: ConnectionPool,
    redis_conn: redis.Redis,
) -> None:
    bar_people(db, app_state.audit)
    client = accounts.client_as(accounts.api_key(kind="registered_body"))
    before = checks_total(client.get("/metrics").text)
    assert not [k for k in before if k[0] == "batch"]  # Redis was emptied for this test

    res = upload(client, rows_file(8))  # 4 barred people, 4 not listed; chunks of 3
    assert res.status_code == 202, res.text
    bid = UUID(res.json()["id"])
    run_worker_burst(settings)
    assert client.get(f"/v1/batches/{bid}").json()["status"] == "complete"

    with transaction(db) as conn:
        rows = conn.execute(
            "SELECT outcome, count(*) FROM identity_check WHERE batch_id = %s GROUP BY outcome",
            (bid,),
        ).fetchall()
    recorded = {("batch", outcome): float(n) for outcome, n in rows}
    assert sum(recorded.values()) == 8 and recorded[("batch", "barred")] == 4
    after = checks_total(client.get("/metrics").text)
    assert {k: v for k, v in after.items() if k[0] == "batch"} == recorded

    # A chunk run again (a lost job re-enqueued) records nothing and counts nothing.
    q.enqueue_chunk(q.get_queue(redis_conn), bid, 0, q.new_job_id("chunk", bid, 0))
    run_worker_burst(settings)
    again = checks_total(client.get("/metrics").text)
    assert {k: v for k, v in again.items() if k[0] == "batch"} == recorded

    # Single checks stay source="api", counted by the API process itself.
    employer = accounts.client_as(accounts.user("employer"))
    body = {
        "reference": "APP-1",
        "forenames": "Priya",
        "surname": "Ramaswamy",
        "date_of_birth": "1975-11-02",
        "workforce": "both",
        "eligibility_confirmed": True,
        "consent_confirmed": True,
    }
    one = employer.post("/v1/checks", json=body)
    assert one.status_code == 201, one.text
    final = checks_total(client.get("/metrics").text)
    assert final[("api", "barred")] == again.get(("api", "barred"), 0.0) + 1
    assert {k: v for k, v in final.items() if k[0] == "batch"} == recorded
