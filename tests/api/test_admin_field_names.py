"""Administrator endpoints name the request's own fields in their 422 problems
(``org_id``, as sent; not the service's internal ``org``)."""

from __future__ import annotations

from uuid import uuid4

from fastapi.testclient import TestClient

from tests.api.conftest import Accounts


def _fields(res: object) -> list[str]:
    body = res.json()  # type: ignore[attr-defined]
    return [e["field"] for e in body["errors"]]


def test_api_key_for_the_authority_names_org_id(client: TestClient, accounts: Accounts) -> None:
    admin = accounts.client_as(accounts.user("admin"))
    authority = accounts.org("authority")
    res = admin.post("/v1/admin/api-keys", json={"org_id": str(authority)})
    assert res.status_code == 422
    assert _fields(res) == ["org_id"]
    res = admin.post("/v1/admin/api-keys", json={"org_id": str(uuid4())})
    assert res.status_code == 422 and _fields(res) == ["org_id"]


def test_user_in_an_unknown_org_names_org_id(client: TestClient, accounts: Accounts) -> None:
    admin = accounts.client_as(accounts.user("admin"))
    body = {"email": "someone@care.test", "org_id": str(uuid4()), "role": "employer"}
    res = admin.post("/v1/admin/users", json=body)
    assert res.status_code == 422 and _fields(res) == ["org_id"]
    body["org_id"] = str(accounts.org("registered_body"))
    res = admin.post("/v1/admin/users", json=body)
    assert res.status_code == 422 and _fields(res) == ["role"]
    assert "allowed: registered_body" in res.json()["errors"][0]["message"]
