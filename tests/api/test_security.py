"""Security items of the API foundation: headers, roles, CSRF, quotas, error mapping, fail
closed, health and metrics. Probe routes are added to the app to exercise the shared
dependencies the way other routers use them."""

from __future__ import annotations

import time

import psycopg
import pytest
import redis
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from api.app import AppState, create_app
from api.deps import (
    AuthorityPrincipal,
    CaseworkerPrincipal,
    ClientPrincipal,
    SeniorCaseworkerPrincipal,
)
from api.quotas import CheckQuota
from tests.api.conftest import Accounts
from vbs.config import Settings
from vbs.errors import FieldError, ValidationFailed

probe = APIRouter(prefix="/v1/probe")


class ProbeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=10)
    count: int


@probe.post("/client")
def client_post(principal: ClientPrincipal, _quota: CheckQuota) -> dict[str, str]:
    return {"role": principal.role}


@probe.get("/caseworker")
def caseworker_get(principal: CaseworkerPrincipal) -> dict[str, str]:
    return {"role": principal.role}


@probe.get("/senior")
def senior_get(principal: SeniorCaseworkerPrincipal) -> dict[str, str]:
    return {"role": principal.role}


@probe.get("/authority")
def authority_get(principal: AuthorityPrincipal) -> dict[str, str]:
    return {"role": principal.role}


@probe.post("/validate")
def validate(body: ProbeIn) -> dict[str, int]:
    if body.count < 0:
        raise ValidationFailed([FieldError("count", "must not be negative")])
    return {"count": body.count}


@probe.get("/boom")
def boom() -> None:
    raise RuntimeError("secret detail: Jane Doe 1980-01-01")


@probe.get("/db-down")
def db_down() -> None:
    raise psycopg.OperationalError("connection refused")


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    tight = settings.model_copy(
        update={
            "quota_rate_per_minute": 3,
            "quota_daily_volume": 100,
            "quota_org_rate_per_minute": 4,
            "quota_org_daily_volume": 100,
        }
    )
    a = create_app(tight)
    a.include_router(probe)
    return a


def _actions(app_state: AppState, action: str) -> int:
    with app_state.pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM audit_event WHERE action = %s", (action,))
        return int(row.fetchone()[0])  # type: ignore[index]


def test_security_headers_everywhere(client: TestClient) -> None:
    for path in ("/healthz", "/v1/auth/me", "/nowhere"):
        res = client.get(path)
        h = res.headers
        assert h["strict-transport-security"].startswith("max-age=")
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["cache-control"] == "no-store"


def test_roles_enforced_and_refusals_audited(
    client: TestClient, accounts: Accounts, app_state: AppState
) -> None:
    emp = accounts.client_as(accounts.user("employer"))
    key = accounts.client_as(accounts.api_key())
    cw = accounts.client_as(accounts.user("caseworker"))
    senior = accounts.client_as(accounts.user("senior_caseworker"))
    admin = accounts.client_as(accounts.user("admin"))
    for c in (emp, key):
        for path in ("/v1/probe/caseworker", "/v1/probe/senior", "/v1/probe/authority"):
            assert c.get(path).status_code == 403, path
        assert c.get("/v1/audit").status_code == 403
        assert c.get("/v1/admin/organisations").status_code == 403
    assert cw.get("/v1/probe/caseworker").status_code == 200
    assert cw.get("/v1/probe/senior").status_code == 403
    assert senior.get("/v1/probe/senior").status_code == 200
    assert admin.get("/v1/probe/caseworker").status_code == 403
    assert admin.get("/v1/probe/authority").status_code == 200
    assert cw.post("/v1/probe/client").status_code == 403
    assert _actions(app_state, "access.refused") == 2 * 5 + 3


def test_csrf_required_for_cookie_posts_not_for_api_keys(
    client: TestClient, accounts: Accounts
) -> None:
    emp = accounts.user("employer")
    c = accounts.client()
    csrf = accounts.login(c, emp)
    del c.headers["X-CSRF-Token"]
    assert c.post("/v1/probe/client").status_code == 403
    assert c.post("/v1/probe/client", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    ok = c.post("/v1/probe/client", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    form = c.post("/v1/probe/client", data={"csrf_token": csrf})
    assert form.status_code == 200
    assert c.get("/v1/auth/me").status_code == 200  # safe methods need no token
    k = accounts.client_as(accounts.api_key())
    assert k.post("/v1/probe/client").status_code == 200


def test_quota_per_key_and_per_org(
    client: TestClient, accounts: Accounts, app_state: AppState
) -> None:
    first = accounts.api_key()
    second = accounts.api_key(first.org_id)
    a, b = accounts.client_as(first), accounts.client_as(second)
    for _ in range(3):
        assert a.post("/v1/probe/client").status_code == 200
    over = a.post("/v1/probe/client")
    assert over.status_code == 429
    assert 0 < int(over.headers["Retry-After"]) <= 60
    assert over.headers["content-type"].startswith("application/problem+json")
    # The organisation's limit (4 a minute) is shared by its keys.
    assert b.post("/v1/probe/client").status_code == 200
    assert b.post("/v1/probe/client").status_code == 429
    assert _actions(app_state, "quota.exceeded") == 2
    # Another organisation is unaffected.
    other = accounts.client_as(accounts.api_key())
    assert other.post("/v1/probe/client").status_code == 200


def test_quota_per_user_session(client: TestClient, accounts: Accounts) -> None:
    c = accounts.client_as(accounts.user("registered_body"))
    codes = [c.post("/v1/probe/client").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_problem_json_for_errors(client: TestClient, accounts: Accounts) -> None:
    res = client.post("/v1/probe/validate", json={"name": "", "count": "x", "more": 1})
    assert res.status_code == 422
    assert res.headers["content-type"].startswith("application/problem+json")
    body = res.json()
    assert body["status"] == 422
    assert {e["field"] for e in body["errors"]} == {"name", "count", "more"}
    bad_json = client.post(
        "/v1/probe/validate", content=b"{", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    domain = client.post("/v1/probe/validate", json={"name": "a", "count": -1})
    assert domain.status_code == 422
    assert domain.json()["errors"] == [{"field": "count", "message": "must not be negative"}]
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_500_has_no_detail_and_logs_no_data(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    res = client.get("/v1/probe/boom")
    assert res.status_code == 500
    assert res.headers["content-type"].startswith("application/problem+json")
    assert "Jane" not in res.text and "Traceback" not in res.text and "secret" not in res.text
    assert res.headers["cache-control"] == "no-store"
    assert "Jane" not in caplog.text and "1980" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_database_or_redis_down_is_503(
    client: TestClient, accounts: Accounts, app_state: AppState, owner_url: str
) -> None:
    assert client.get("/v1/probe/db-down").status_code == 503
    key = accounts.api_key()
    k = accounts.client_as(key)
    # Redis unreachable: the quota cannot be checked, so nothing is done (fail closed).
    real_redis = app_state.redis
    app_state.redis = redis.Redis(
        host="127.0.0.1",
        port=1,
        socket_connect_timeout=0.5,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
    )
    try:
        res = k.post("/v1/probe/client")
        assert res.status_code == 503 and int(res.headers["Retry-After"]) > 0
        assert client.get("/readyz").status_code == 503
    finally:
        app_state.redis.close()
        app_state.redis = real_redis
    # Database unreachable: a pool that cannot connect times out -> 503.
    real_pool = app_state.pool
    broken = ConnectionPool(
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1",
        min_size=0,
        max_size=1,
        open=False,
        timeout=1.0,
    )
    broken.open(wait=False)
    app_state.pool = broken
    try:
        assert k.post("/v1/probe/client").status_code == 503
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
    finally:
        app_state.pool = real_pool
        broken.close()


def test_health_ready_metrics(client: TestClient, app_state: AppState) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 30  # parts may warm up in the background (the matcher)
    ready = client.get("/readyz")
    while ready.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"] is True and checks["redis"] is True and all(checks.values())
    app_state.readiness_checks["probe"] = lambda: False
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["checks"]["probe"] is False
    app_state.queue_depth = lambda: {"default": 7}
    text = client.get("/metrics").text
    assert 'vbs_http_requests_total{method="GET",route="/readyz",status="503"}' in text
    assert "vbs_http_request_duration_seconds_bucket" in text
    assert 'vbs_queue_depth{queue="default"} 7.0' in text
    assert "vbs_checks_total" in text or "# HELP vbs_checks_total" in text
