"""Sign-in, sessions, API keys and role checks against the running app."""

from __future__ import annotations

from fastapi.testclient import TestClient

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
