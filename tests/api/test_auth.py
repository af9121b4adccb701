"""Sign-in, sessions, API keys and role checks against the running app."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.deps import SESSION_COOKIE
from tests.api.conftest import Accounts


def test_employer_login_me_logout(client: TestClient, accounts: Accounts) -> None:
    emp = accounts.user("employer")
    c = accounts.client()
    res = c.post("/v1/auth/login", json={"email": emp.email, "password": emp.password})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["role"] == "employer" and body["org_id"] == str(emp.org_id)
    cookie = res.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    me = c.get("/v1/auth/me")
    assert me.status_code == 200 and me.json()["user_id"] == str(emp.user_id)
    out = c.post("/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 204
    assert c.get("/v1/auth/me").status_code == 401


def test_caseworker_needs_totp_and_a_code_works_once(
    client: TestClient, accounts: Accounts
) -> None:
    cw = accounts.user("caseworker")
    c = accounts.client()
    no_code = c.post("/v1/auth/login", json={"email": cw.email, "password": cw.password})
    assert no_code.status_code == 401
    assert no_code.headers["content-type"].startswith("application/problem+json")
    body = accounts.login_body(cw)
    assert c.post("/v1/auth/login", json=body).status_code == 200
    replay = accounts.client().post("/v1/auth/login", json=body)
    assert replay.status_code == 401
    assert c.get("/v1/auth/me").json()["role"] == "caseworker"


def test_new_session_id_at_login_old_one_revoked(client: TestClient, accounts: Accounts) -> None:
    emp = accounts.user("employer")
    c = accounts.client()
    accounts.login(c, emp)
    first = c.cookies.get("vbs_session")
    accounts.login(c, emp)
    second = c.cookies.get("vbs_session")
    assert first and second and first != second
    stale = accounts.client()
    stale.cookies.set("vbs_session", first)
    assert stale.get("/v1/auth/me").status_code == 401
    assert c.get("/v1/auth/me").status_code == 200


def test_api_key_bearer(client: TestClient, accounts: Accounts) -> None:
    key = accounts.api_key(kind="registered_body")
    k = accounts.client_as(key)
    me = k.get("/v1/auth/me").json()
    assert me["role"] == "registered_body" and me["api_key_id"] == str(key.api_key_id)
    bad = client.get("/v1/auth/me", headers={"Authorization": "Bearer vbs_nope"})
    assert bad.status_code == 401 and "stack" not in bad.text.lower()
    assert client.get("/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/v1/auth/me").status_code == 401


def test_admin_disables_user_and_revokes_key_at_once(
    client: TestClient, accounts: Accounts
) -> None:
    admin = accounts.client_as(accounts.user("admin"))
    emp = accounts.user("employer")
    e = accounts.client_as(emp)
    assert e.get("/v1/auth/me").status_code == 200
    res = admin.post(f"/v1/admin/users/{emp.user_id}/disable")
    assert res.status_code == 200 and res.json()["disabled"] is True
    assert e.get("/v1/auth/me").status_code == 401

    made = admin.post("/v1/admin/api-keys", json={"org_id": str(emp.org_id), "label": "x"})
    assert made.status_code == 201
    token = made.json()["key"]
    k = accounts.client()
    k.headers["Authorization"] = f"Bearer {token}"
    assert k.get("/v1/auth/me").status_code == 200
    assert admin.post(f"/v1/admin/api-keys/{made.json()['id']}/revoke").status_code == 200
    assert k.get("/v1/auth/me").status_code == 401


def test_admin_creates_org_and_user(client: TestClient, accounts: Accounts) -> None:
    admin = accounts.client_as(accounts.user("admin"))
    org = admin.post("/v1/admin/organisations", json={"name": "Care Co", "kind": "employer"})
    assert org.status_code == 201
    oid = org.json()["id"]
    misfit = admin.post(
        "/v1/admin/users", json={"email": "x@care.test", "org_id": oid, "role": "admin"}
    )
    assert misfit.status_code == 422
    assert misfit.json()["errors"][0]["field"] == "role"
    ok = admin.post(
        "/v1/admin/users", json={"email": "x@care.test", "org_id": oid, "role": "employer"}
    )
    assert ok.status_code == 201 and ok.json()["password"]
    users = admin.get("/v1/admin/users", params={"org_id": oid}).json()
    assert [u["email"] for u in users] == ["x@care.test"]


def test_login_validation_and_throttling(client: TestClient, accounts: Accounts) -> None:
    res = client.post("/v1/auth/login", json={"email": "a@b.test", "extra": 1})
    assert res.status_code == 422
    fields = {e["field"] for e in res.json()["errors"]}
    assert {"password", "extra"} <= fields
    emp = accounts.user("employer")
    limit = accounts.state.settings.login_max_failures
    for _ in range(limit):
        bad = client.post("/v1/auth/login", json={"email": emp.email, "password": "wrong-wrong"})
        assert bad.status_code == 401
    locked = client.post("/v1/auth/login", json={"email": emp.email, "password": emp.password})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert emp.email not in locked.text


def test_audit_view_for_admin_only(client: TestClient, accounts: Accounts) -> None:
    admin = accounts.client_as(accounts.user("admin"))
    emp = accounts.client_as(accounts.user("employer"))
    assert emp.get("/v1/audit").status_code == 403
    page = admin.get("/v1/audit", params={"action": "access.refused"})
    assert page.status_code == 200
    events = page.json()["events"]
    assert len(events) == 1 and events[0]["detail"]["route"] == "/v1/audit"
    logins = admin.get("/v1/audit", params={"action": "auth.login"}).json()["events"]
    assert len(logins) == 2


def test_failed_login_leaks_no_personal_data(
    client: TestClient, accounts: Accounts, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    res = client.post(
        "/v1/auth/login", json={"email": "jane.doe@example.test", "password": "not-her-password"}
    )
    assert res.status_code == 401
    assert "jane" not in res.text.lower() and "jane" not in caplog.text.lower()
    with accounts.pool.connection() as conn:
        rows = conn.execute("SELECT action, detail::text, object_id FROM audit_event").fetchall()
    assert [r[0] for r in rows] == ["auth.login.failed"]
    assert all("jane" not in f"{r[1]} {r[2]}".lower() for r in rows)
    keys = accounts.state.redis.keys("vbs:login:*")
    assert keys and all(b"jane" not in k for k in keys)


def test_control_characters_in_login_are_a_422_naming_the_field(client: TestClient) -> None:
    # A NUL byte reached PostgreSQL as a DataError and answered 500 (found by schemathesis).
    res = client.post("/v1/auth/login", json={"email": "a\x00@b.test", "password": "x\x00y"})
    assert res.status_code == 422
    errors = res.json()["errors"]
    assert {e["field"] for e in errors} == {"email", "password"}
    # The message is ours, without pydantic's "Value error, " prefix.
    assert {e["message"] for e in errors} == {"must not contain control characters"}


def test_a_bad_api_key_or_session_is_refused_and_audited_by_route(
    client: TestClient, accounts: Accounts
) -> None:
    bad_key = client.get("/v1/auth/me", headers={"Authorization": "Bearer vbs_nope"})
    assert bad_key.status_code == 401
    stale = accounts.client()
    stale.cookies.set(SESSION_COOKIE, "not-a-session")
    assert stale.get("/v1/auth/me").status_code == 401
    admin = accounts.client_as(accounts.user("admin"))
    events = admin.get("/v1/audit", params={"action": "auth.refused"}).json()["events"]
    assert [(e["actor_role"], e["detail"]) for e in events] == [
        ("system", {"via": "session", "route": "/v1/auth/me"}),
        ("system", {"via": "api_key", "route": "/v1/auth/me"}),
    ]
