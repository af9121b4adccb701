"""`/v1/checks`, `/v1/notifications`: the client's side, against the running app."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import AppState
from tests.api.conftest import Accounts, bar
from tests.vbs.checks_support import FaultyHolder
from vbs.config import Settings
from vbs.services.matcher_holder import MatcherHolder

QUOTA_PER_MINUTE = 6


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"quota_rate_per_minute": QUOTA_PER_MINUTE})


def body(**change: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "reference": "APP-001",
        "forenames": "Alice Mary",
        "surname": "Oyelaran",
        "date_of_birth": "1980-03-12",
        "previous_names": ["Alice Mary Smith"],
        "gender": "female",
        "workforce": "both",
        "eligibility_confirmed": True,
        "consent_confirmed": True,
    }
    b.update(change)
    return {k: v for k, v in b.items() if v is not None}


def count_checks(state: AppState) -> int:
    with state.pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM identity_check").fetchone()
    assert row is not None
    return int(row[0])


def test_a_check_answers_the_outcome_and_nothing_else(
    client: TestClient, accounts: Accounts, app_state: AppState
) -> None:
    bar(app_state, "Alice Mary", "Oyelaran", "1980-03-12")
    c = accounts.client_as(accounts.user("employer"))
    res = c.post("/v1/checks", json=body())
    assert res.status_code == 201, res.text
    data = res.json()
    assert set(data) == {"id", "reference", "outcome", "checked_at", "list_version"}
    assert data["outcome"] == "barred" and data["reference"] == "APP-001"
    assert data["list_version"] == 1
    assert res.headers["cache-control"] == "no-store"
    other = body(forenames="Kofi", surname="Quist", previous_names=[], reference="APP-002")
    clear = c.post("/v1/checks", json=other)
    assert clear.status_code == 201 and clear.json()["outcome"] == "clear"
    got = c.get(f"/v1/checks/{data['id']}")
    assert got.status_code == 200 and got.json() == data
    metrics = client.get("/metrics").text
    assert 'vbs_checks_total{outcome="barred",source="api"}' in metrics


def test_an_api_key_can_check_and_the_key_org_owns_it(
    client: TestClient, accounts: Accounts
) -> None:
    key = accounts.api_key(kind="registered_body")
    c = accounts.client_as(key)
    res = c.post("/v1/checks", json=body())
    assert res.status_code == 201, res.text
    found = c.post("/v1/checks/search", json={"reference": "APP-001"})
    assert [x["id"] for x in found.json()["checks"]] == [res.json()["id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nickname": "Al"}, "nickname"),
        ({"date_of_birth": (date.today() + timedelta(days=1)).isoformat()}, "date_of_birth"),
        ({"date_of_birth": "1980-02-30"}, "date_of_birth"),
        ({"date_of_birth": "12/03/1980"}, "date_of_birth"),
        ({"date_of_birth": "1980-03"}, "date_of_birth"),
        ({"date_of_birth": 320000000}, "date_of_birth"),
        ({"forenames": ""}, "forenames"),
        ({"surname": "x" * 201}, "surname"),
        ({"previous_names": ["Smith"]}, "previous_names"),
        ({"gender": "other"}, "gender"),
        ({"workforce": "pets"}, "workforce"),
        ({"eligibility_confirmed": False}, "eligibility_confirmed"),
        ({"consent_confirmed": None}, "consent_confirmed"),
        ({"consent_confirmed": "yes"}, "consent_confirmed"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient,
    accounts: Accounts,
    app_state: AppState,
    change: dict[str, Any],
    field: str,
) -> None:
    c = accounts.client_as(accounts.user("employer"))
    res = c.post("/v1/checks", json=body(**change))
    assert res.status_code == 422, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in res.json()["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    assert "Oyelaran" not in res.text
    assert count_checks(app_state) == 0


def test_another_organisation_gets_404(client: TestClient, accounts: Accounts) -> None:
    mine = accounts.client_as(accounts.user("employer"))
    theirs = accounts.client_as(accounts.user("employer"))
    check_id = mine.post("/v1/checks", json=body()).json()["id"]
    assert theirs.get(f"/v1/checks/{check_id}").status_code == 404
    assert theirs.post(f"/v1/checks/{check_id}/dispute", json={"reason": "x"}).status_code == 404
    assert theirs.post("/v1/checks/search", json={"reference": "APP-001"}).json() == {"checks": []}
    assert mine.get(f"/v1/checks/{uuid.uuid4()}").status_code == 404
    assert mine.get("/v1/checks/not-a-uuid").status_code == 422


def test_caseworkers_do_not_run_checks(client: TestClient, accounts: Accounts) -> None:
    cw = accounts.client_as(accounts.user("caseworker"))
    assert cw.post("/v1/checks", json=body()).status_code == 403


def test_dispute_creates_a_review_item(
    client: TestClient, accounts: Accounts, app_state: AppState
) -> None:
    bar(app_state, "Alice Mary", "Oyelaran", "1980-03-12")
    c = accounts.client_as(accounts.user("employer"))
    check = c.post("/v1/checks", json=body()).json()
    res = c.post(f"/v1/checks/{check['id']}/dispute", json={"reason": "applicant says not her"})
    assert res.status_code == 201, res.text
    assert res.json()["kind"] == "dispute" and res.json()["status"] == "pending"
    again = c.post(f"/v1/checks/{check['id']}/dispute", json={"reason": "again"})
    assert again.status_code == 409
    empty = c.post(f"/v1/checks/{check['id']}/dispute", json={"reason": ""})
    assert empty.status_code == 422


def test_over_quota_is_429_with_retry_after(client: TestClient, accounts: Accounts) -> None:
    c = accounts.client_as(accounts.api_key())
    # The rate windows are fixed calendar minutes: start early in one so that all the
    # requests below fall into the same window.
    if time.time() % 60 > 30:
        time.sleep(60.5 - time.time() % 60)
    codes = [
        c.post("/v1/checks", json=body(reference=f"Q{i}")).status_code
        for i in range(QUOTA_PER_MINUTE)
    ]
    assert codes[:QUOTA_PER_MINUTE] == [201] * QUOTA_PER_MINUTE
    last = c.post("/v1/checks", json=body(reference="Q-last"))
    assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1


def test_matcher_fault_is_incomplete_and_a_retry_settles_it(
    client: TestClient, accounts: Accounts, app_state: AppState
) -> None:
    from vbs.services import checks

    bar(app_state, "Alice Mary", "Oyelaran", "1980-03-12")
    faulty = FaultyHolder(MatcherHolder.from_settings(app_state.settings).thresholds)
    original = app_state.matcher
    app_state.matcher = faulty
    try:
        c = accounts.client_as(accounts.user("employer"))
        res = c.post("/v1/checks", json=body())
        assert res.status_code == 201, res.text
        assert res.json()["outcome"] == "incomplete" and res.json()["list_version"] is None
        faulty.fail = False
        with app_state.pool.connection() as conn:
            assert checks.retry_incomplete(conn, faulty, app_state.audit) == {"barred": 1}
        assert c.get(f"/v1/checks/{res.json()['id']}").json()["outcome"] == "barred"
    finally:
        app_state.matcher = original


def test_database_down_mid_check_is_503_and_nothing_written(
    client: TestClient, accounts: Accounts, app_state: AppState, owner_url: str
) -> None:
    class KillingHolder(MatcherHolder):
        """Kills the request's database session once the match has read what it needs."""

        def prepare(self, conn: psycopg.Connection[Any]) -> int:
            version = super().prepare(conn)
            with psycopg.connect(owner_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            return version

    original = app_state.matcher
    app_state.matcher = KillingHolder(MatcherHolder.from_settings(app_state.settings).thresholds)
    try:
        c = accounts.client_as(accounts.api_key())
        res = c.post("/v1/checks", json=body())
        assert res.status_code == 503, res.text
        assert "Traceback" not in res.text and "Oyelaran" not in res.text
    finally:
        app_state.matcher = original
    assert count_checks(app_state) == 0
    with app_state.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_event WHERE action = 'check.create'"
        ).fetchone()
    assert row is not None and row[0] == 0


def test_redis_down_is_503_and_no_check_is_recorded(
    client: TestClient, accounts: Accounts, app_state: AppState, tmp_path: Any
) -> None:
    import redis

    c = accounts.client_as(accounts.api_key())
    original = app_state.redis
    app_state.redis = redis.Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    try:
        res = c.post("/v1/checks", json=body())
    finally:
        app_state.redis.close()
        app_state.redis = original
    assert res.status_code == 503, res.text
    assert "Oyelaran" not in res.text
    assert count_checks(app_state) == 0


def test_control_characters_are_422_not_500(client: TestClient, accounts: Accounts) -> None:
    c = accounts.client_as(accounts.user("employer"))
    res = c.post("/v1/checks", json=body(surname="Oye\x00laran"))
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "surname"
    assert c.post("/v1/checks/search", json={"reference": "A\x00"}).status_code == 422
    check_id = c.post("/v1/checks", json=body()).json()["id"]
    bad = c.post(f"/v1/checks/{check_id}/dispute", json={"reason": "no\x00"})
    assert bad.status_code == 422
