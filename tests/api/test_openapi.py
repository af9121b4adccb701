"""A property-based run of the OpenAPI document (schemathesis) as each kind of caller:
no 500s, and documented responses match their schemas.

``VBS_SCHEMATHESIS_EXAMPLES`` sets the examples per operation and caller (default 5)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.api.conftest import Accounts

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("VBS_SCHEMATHESIS_EXAMPLES", "5"))
# Operations that would end the caller's own session mid-run.
SKIP = {("POST", "/v1/auth/logout")}


def _callers(accounts: Accounts) -> dict[str, dict[str, Any]]:
    callers: dict[str, dict[str, Any]] = {"anonymous": {"headers": {}, "cookies": {}}}
    key = accounts.api_key(kind="employer")
    callers["employer-key"] = {
        "headers": {"Authorization": f"Bearer {key.api_key}"},
        "cookies": {},
    }
    for role in ("employer", "registered_body", "caseworker", "senior_caseworker", "admin"):
        c = accounts.client()
        csrf = accounts.login(c, accounts.user(role))
        token = c.cookies.get("vbs_session")
        assert token
        callers[role] = {"headers": {"X-CSRF-Token": csrf}, "cookies": {"vbs_session": token}}
    return callers


def _runner(op: Any, creds: dict[str, Any], checks: list[Any]) -> Any:
    @hsettings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=dict(creds["headers"]), cookies=dict(creds["cookies"]), checks=checks
        )

    return run


def test_openapi_no_server_errors_and_schemas_hold(client: TestClient, accounts: Accounts) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    checks = [not_a_server_error, response_schema_conformance]
    callers = _callers(accounts)
    me = schema["/v1/auth/me"]["GET"]
    for name, creds in callers.items():  # the credentials really reach the app
        res = me.Case().call(headers=dict(creds["headers"]), cookies=dict(creds["cookies"]))
        assert res.status_code == (401 if name == "anonymous" else 200), name
    for name, creds in callers.items():
        for op in operations:
            if (op.method.upper(), op.path) in SKIP:
                continue

            run = _runner(op, creds, checks)
            try:
                run()
            except Exception as exc:  # collect every failing operation, then report them all
                first = str(exc).strip().splitlines()[:6]
                failures.append(f"{name} {op.method.upper()} {op.path}: " + " | ".join(first))
    assert not failures, "\n".join(failures)
