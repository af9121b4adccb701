"""API fixtures others reuse: the app on the test settings, and signed-in clients per role.

    def test_x(client, accounts):
        employer = accounts.user("employer")          # org of the fitting kind made for it
        c = accounts.client_as(employer)              # a new TestClient, signed in (CSRF set)
        key = accounts.api_key(employer.org_id)       # Authorization: Bearer on its client
        k = accounts.client_as(key)
        cw = accounts.client_as(accounts.user("caseworker"))   # signs in with TOTP

``client`` is the TestClient that ran the lifespan (not signed in); ``app_state`` is the
``AppState`` it opened (pool, redis, audit, settings).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import pyotp
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from api.app import AppState, create_app
from tests.vbs import checks_support
from vbs.config import Settings
from vbs.principal import ROLES_FOR_KIND
from vbs.services import accounts as accounts_service

KIND_FOR_ROLE = {
    "employer": "employer",
    "registered_body": "registered_body",
    "caseworker": "authority",
    "senior_caseworker": "authority",
    "admin": "authority",
}


@dataclass
class Account:
    role: str
    org_id: UUID
    user_id: UUID | None = None
    email: str | None = None
    password: str | None = None
    totp_secret: str | None = None
    api_key_id: UUID | None = None
    api_key: str | None = None


class Accounts:
    """Create organisations, users and API keys through the service, and sign in."""

    def __init__(self, app: FastAPI, pool: ConnectionPool, state: AppState) -> None:
        self.app = app
        self.pool = pool
        self.state = state
        self._last_step: dict[UUID, int] = {}
        self._clients: list[TestClient] = []

    def org(self, kind: str = "employer", name: str | None = None) -> UUID:
        with self.pool.connection() as conn, conn.transaction():
            org = accounts_service.create_org(
                conn, self.state.audit, None, name or f"{kind} {secrets.token_hex(3)}", kind
            )
        return org.id

    def user(self, role: str, org_id: UUID | None = None, password: str | None = None) -> Account:
        if org_id is None:
            org_id = self.org(KIND_FOR_ROLE[role])
        pw = password or "pw-" + secrets.token_urlsafe(12)
        email = f"{role}.{secrets.token_hex(4)}@example.test"
        with self.pool.connection() as conn, conn.transaction():
            new = accounts_service.create_user(
                conn, self.state.audit, None, org_id, email, role, pw
            )
        return Account(
            role=role,
            org_id=org_id,
            user_id=new.id,
            email=new.email,
            password=pw,
            totp_secret=new.totp_secret,
        )

    def api_key(self, org_id: UUID | None = None, kind: str = "employer") -> Account:
        if org_id is None:
            org_id = self.org(kind)
        with self.pool.connection() as conn, conn.transaction():
            new = accounts_service.create_api_key(conn, self.state.audit, None, org_id)
            org = accounts_service.get_org(conn, org_id)
        assert org.kind in ROLES_FOR_KIND and org.kind != "authority"
        return Account(role=org.kind, org_id=org_id, api_key_id=new.id, api_key=new.key)

    def totp_code(self, account: Account) -> str:
        """A code not used before for this account (waits for the next step if needed)."""
        assert account.totp_secret is not None and account.user_id is not None
        totp = pyotp.TOTP(account.totp_secret)
        while True:
            current = int(time.time() // totp.interval)
            step = max(current, self._last_step.get(account.user_id, -1) + 1)
            if step <= current + 1:
                self._last_step[account.user_id] = step
                return totp.generate_otp(step)
            time.sleep(1.0)

    def login_body(self, account: Account) -> dict[str, str]:
        assert account.email is not None and account.password is not None
        body = {"email": account.email, "password": account.password}
        if account.totp_secret:
            body["totp"] = self.totp_code(account)
        return body

    def login(self, client: TestClient, account: Account) -> str:
        """Sign ``client`` in; set its X-CSRF-Token header; return the CSRF token."""
        res = client.post("/v1/auth/login", json=self.login_body(account))
        assert res.status_code == 200, res.text
        csrf: str = res.json()["csrf_token"]
        client.headers["X-CSRF-Token"] = csrf
        return csrf

    def client(self) -> TestClient:
        """A new client on the running app (own cookie jar), not signed in."""
        c = TestClient(self.app)
        self._clients.append(c)
        return c

    def client_as(self, account: Account) -> TestClient:
        c = self.client()
        if account.api_key is not None:
            c.headers["Authorization"] = f"Bearer {account.api_key}"
        else:
            self.login(c, account)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI, db: ConnectionPool, redis_conn: redis.Redis) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def app_state(client: TestClient, app: FastAPI) -> AppState:
    state: AppState = app.state.vbs
    return state


@pytest.fixture
def accounts(app: FastAPI, app_state: AppState) -> Iterator[Accounts]:
    acc = Accounts(app, app_state.pool, app_state)
    yield acc
    acc.close()


def bar(state: AppState, forenames: str, surname: str, dob: str) -> UUID:
    """Put a person on both barred lists, as the system, in a transaction of its own."""
    return checks_support.bar(state.pool, state.audit, forenames, surname, dob)
