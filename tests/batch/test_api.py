"""`/v1/batches`: upload (streamed, limits, refusals), progress, results and errors files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from api.app import create_app
from batch import jobs
from tests.api.conftest import Accounts
from tests.batch.conftest import bar_people, burst, rows_file
from vbs.audit import AuditLog
from vbs.config import Settings
from vbs.db import transaction
from vbs.principal import Principal
from vbs.services import reviews

MAX_BYTES = 4000
DECLARED = {"eligibility_confirmed": "true", "consent_confirmed": "true"}


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The app with small batch limits (overrides tests/api's fixture of the same name)."""
    return create_app(
        settings.model_copy(update={"batch_max_bytes": MAX_BYTES, "batch_chunk_size": 3})
    )


@pytest.fixture
def worker(
    app_state: Any, redis_conn: redis.Redis, db: ConnectionPool
) -> Iterator[jobs.WorkerContext]:
    bar_people(db, app_state.audit)
    ctx = jobs.build_context(app_state.settings, connection=redis_conn, pool_size=2)
    jobs.install(ctx)
    yield ctx
    jobs.install(None)
    ctx.pool.close()


def upload(c: TestClient, data: bytes, fields: dict[str, str] | None = None) -> Any:
    return c.post(
        "/v1/batches",
        files={"file": ("applicants.csv", data, "text/csv")},
        data=DECLARED if fields is None else fields,
    )


def rows_in(pool: ConnectionPool, table: str) -> int:
    with transaction(pool) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # test-only, fixed names
    assert row is not None
    return int(row[0])


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_upload_progress_results_and_errors(
    accounts: Accounts, worker: jobs.WorkerContext, db: ConnectionPool
) -> None:
    key = accounts.api_key(kind="registered_body")
    c = accounts.client_as(key)
    data = (
        rows_file(6)
        + b"=HYPERLINK(1),Ann,Body,1980-13-01,both\n"
        + b"ref-f,=cmd|' /C calc'!A0,Smith,1980-01-01,both\n"
    )
    res = upload(c, data)
    assert res.status_code == 202, res.text
    body = res.json()
    assert body["status"] == "received" and set(body) == {"id", "status"}
    assert res.headers["location"] == f"/v1/batches/{body['id']}"
    first = c.get(res.headers["location"]).json()
    assert first["status"] == "received" and first["rows_processed"] == 0

    burst(worker)

    status = c.get(f"/v1/batches/{body['id']}").json()
    assert status["status"] == "complete"
    assert status["rows_total"] == 8
    assert status["rows_failed"] == 1
    assert status["rows_processed"] == 8
    assert sum(status["outcomes"].values()) == 7
    assert status["outcomes"]["barred"] >= 3
    assert status["started_at"] and status["finished_at"]

    results = c.get(f"/v1/batches/{body['id']}/results.csv")
    assert results.status_code == 200
    assert results.headers["content-type"].startswith("text/csv")
    assert "attachment" in results.headers["content-disposition"]
    table = parse_csv(results.text)
    assert table[0] == ["reference", "outcome", "check_id"]
    assert [r[0] for r in table[1:]] == [f"ref-{i}" for i in range(6)] + ["ref-f"]
    assert all(r[1] in ("clear", "barred", "under_review") for r in table[1:])

    errors = parse_csv(c.get(f"/v1/batches/{body['id']}/errors.csv").text)
    assert errors == [
        ["line", "reference", "reason"],
        ["8", "'=HYPERLINK(1)", "date_of_birth: not a real date"],
    ]
    listing = c.get("/v1/batches").json()["batches"]
    assert [b["id"] for b in listing] == [body["id"]]


def test_results_show_the_outcome_as_it_is_now(
    accounts: Accounts, worker: jobs.WorkerContext, app_state: Any
) -> None:
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    data = (
        b"reference,forenames,surname,date_of_birth\n"
        b"near-1,Jonathan,Smithers,1980-05-18\n"
        b"near-2,Jonathan,Smithers,1980-06-17\n"
        b"near-3,Jonathan,Smithers,1981-05-17\n"
    )
    bid = upload(c, data).json()["id"]
    burst(worker)
    before = {r[0]: r for r in parse_csv(c.get(f"/v1/batches/{bid}/results.csv").text)[1:]}
    waiting = [r for r in before.values() if r[1] == "under_review"]
    assert waiting, "expected a possible match among the near misses"
    ref, _, check_id = waiting[0]
    caseworker = accounts.user("caseworker")
    principal = Principal(
        role="caseworker",
        org_id=caseworker.org_id,
        org_kind="authority",
        user_id=caseworker.user_id,
    )
    with transaction(app_state.pool) as conn:
        items = conn.execute(
            "SELECT id FROM review_item WHERE check_id = %s AND status = 'pending'", (check_id,)
        ).fetchall()
    audit: AuditLog = app_state.audit
    for (item_id,) in items:
        with app_state.pool.connection() as conn:
            reviews.decide(conn, audit, principal, item_id, "no_match", "different person")
    after = {r[0]: r for r in parse_csv(c.get(f"/v1/batches/{bid}/results.csv").text)[1:]}
    assert after[ref][1] == "clear"
    assert after[ref][2] == check_id


def test_one_byte_over_the_limit_is_413_and_leaves_nothing(
    accounts: Accounts, db: ConnectionPool
) -> None:
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    head = b"reference,forenames,surname,date_of_birth\n"
    row = b"r,Ann,Smith,1980-01-01\n"
    exact = head + row * ((MAX_BYTES - len(head)) // len(row))
    exact += b"#" * (MAX_BYTES - len(exact) - 1) + b"\n"
    assert len(exact) == MAX_BYTES
    assert upload(c, exact).status_code == 202
    before = (rows_in(db, "batch"), rows_in(db, "batch_file"))
    res = upload(c, exact + b"x")
    assert res.status_code == 413
    assert res.headers["content-type"].startswith("application/problem+json")
    assert str(MAX_BYTES) in res.json()["detail"]
    assert (rows_in(db, "batch"), rows_in(db, "batch_file")) == before


def test_a_declared_length_far_over_the_limit_is_refused_before_reading(
    accounts: Accounts,
) -> None:
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    res = upload(c, b"reference,forenames,surname,date_of_birth\n" + b"x" * 200_000)
    assert res.status_code == 413


@pytest.mark.parametrize(
    ("data", "status", "needle"),
    [
        (b"reference,forenames,surname\nr,A,B\n", 422, "missing required column"),
        (b"reference,forenames,surname,date_of_birth,pet\n", 422, "unknown column"),
        ("reference,forenames,surname,date_of_birth\n".encode("utf-16"), 415, "UTF-16"),
        (b"reference,forenames,surname,date_of_birth\nr,\x00,B,1980-01-01\n", 415, "NUL"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe\xfd", 415, "not UTF-8"),
        (b"", 422, "empty"),
    ],
)
def test_bad_files_are_refused_with_a_clear_problem(
    accounts: Accounts, db: ConnectionPool, data: bytes, status: int, needle: str
) -> None:
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    res = upload(c, data)
    assert res.status_code == status, res.text
    assert needle in res.json()["detail"]
    assert rows_in(db, "batch") == 0


def test_declarations_are_required(accounts: Accounts) -> None:
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    res = upload(c, rows_file(1), {"eligibility_confirmed": "true"})
    assert res.status_code == 422
    assert res.json()["errors"] == [{"field": "consent_confirmed", "message": "must be true"}]
    res = upload(c, rows_file(1), {"eligibility_confirmed": "yes", "consent_confirmed": "true"})
    assert [e["field"] for e in res.json()["errors"]] == ["eligibility_confirmed"]


def test_missing_file_and_wrong_content_type(accounts: Accounts) -> None:
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    res = c.post("/v1/batches", data=DECLARED, files={"other": ("x", b"y")})
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "file"
    res = c.post("/v1/batches", json={"file": "reference,forenames"})
    assert res.status_code == 415


def test_another_organisations_batch_is_not_found(
    accounts: Accounts, worker: jobs.WorkerContext
) -> None:
    owner = accounts.client_as(accounts.api_key(kind="registered_body"))
    bid = upload(owner, rows_file(2)).json()["id"]
    burst(worker)
    other = accounts.client_as(accounts.api_key(kind="employer"))
    for path in ("", "/results.csv", "/errors.csv"):
        assert other.get(f"/v1/batches/{bid}{path}").status_code == 404
        assert owner.get(f"/v1/batches/{bid}{path}").status_code == 200
    assert other.get("/v1/batches").json() == {"batches": []}


def test_only_clients_may_upload(accounts: Accounts) -> None:
    caseworker = accounts.client_as(accounts.user("caseworker"))
    assert upload(caseworker, rows_file(1)).status_code == 403
    anonymous = accounts.client()
    assert upload(anonymous, rows_file(1)).status_code == 401


def test_a_signed_in_employer_uploads_with_the_csrf_header(
    accounts: Accounts, worker: jobs.WorkerContext
) -> None:
    c = accounts.client_as(accounts.user("employer"))
    res = upload(c, rows_file(3))
    assert res.status_code == 202, res.text
    burst(worker)
    assert c.get(res.headers["location"]).json()["status"] == "complete"


def test_a_web_form_upload_with_the_csrf_field(accounts: Accounts, db: ConnectionPool) -> None:
    c = accounts.client_as(accounts.user("registered_body"))
    token = c.headers.pop("X-CSRF-Token")
    res = upload(c, rows_file(3), {**DECLARED, "csrf_token": token})
    assert res.status_code == 202, res.text
    assert rows_in(db, "batch") == 1
    res = upload(c, b"reference,forenames\n", {**DECLARED, "csrf_token": token})
    assert res.status_code == 422


def test_the_row_count_uses_the_quota(
    accounts: Accounts, app_state: Any, redis_conn: redis.Redis
) -> None:
    app_state.settings = app_state.settings.model_copy(update={"quota_daily_volume": 5})
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    assert upload(c, rows_file(4)).status_code == 202
    res = upload(c, rows_file(4))
    assert res.status_code == 429 and "retry-after" in res.headers


def test_the_row_limit_while_streaming(
    accounts: Accounts, app_state: Any, db: ConnectionPool
) -> None:
    app_state.settings = app_state.settings.model_copy(update={"batch_max_rows": 3})
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    assert upload(c, rows_file(3) + b"\n\n").status_code == 202  # blank lines do not count
    res = upload(c, rows_file(4))
    assert res.status_code == 413 and "3 rows" in res.json()["detail"]
    assert rows_in(db, "batch") == 1


def test_the_same_file_twice_is_two_batches(accounts: Accounts, worker: jobs.WorkerContext) -> None:
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    data = rows_file(4)
    first, second = (upload(c, data).json()["id"] for _ in range(2))
    assert first != second
    burst(worker)
    files = [parse_csv(c.get(f"/v1/batches/{b}/results.csv").text)[1:] for b in (first, second)]
    assert [r[:2] for r in files[0]] == [r[:2] for r in files[1]]
    assert not {r[2] for r in files[0]} & {r[2] for r in files[1]}  # each its own checks
    for b in (first, second):
        assert c.get(f"/v1/batches/{b}").json()["status"] == "complete"


def test_a_web_form_upload_without_the_csrf_token_is_refused(
    accounts: Accounts, db: ConnectionPool
) -> None:
    # The parsed form's temporary file must be closed on refusal (pytest turns the
    # unraisable ResourceWarning of a leaked file into an error).
    c = accounts.client_as(accounts.user("registered_body"))
    c.headers.pop("X-CSRF-Token")
    res = upload(c, rows_file(3), {**DECLARED, "csrf_token": "wrong"})
    assert res.status_code == 403
    assert rows_in(db, "batch") == 0
