"""Organisations, users, roles, passwords, TOTP, API keys, sessions and login throttling."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pyotp
import pytest
import redis
from psycopg_pool import ConnectionPool

from vbs.audit import AuditLog, audit_log_from_settings
from vbs.config import Settings
from vbs.errors import Conflict, TooManyRequests, Unauthorized, ValidationFailed
from vbs.repo import accounts as repo
from vbs.services import accounts, auth

ROOT = Path(__file__).resolve().parents[2]
PW = "a-long-enough-password"


@pytest.fixture
def audit(settings: Settings) -> AuditLog:
    return audit_log_from_settings(settings)


def _org(pool: ConnectionPool, audit: AuditLog, kind: str) -> str:
    with pool.connection() as conn, conn.transaction():
        return str(accounts.create_org(conn, audit, None, f"{kind} org", kind).id)


def _user(
    pool: ConnectionPool, audit: AuditLog, org: str, role: str, email: str
) -> accounts.NewUser:
    with pool.connection() as conn, conn.transaction():
        return accounts.create_user(conn, audit, None, org, email, role, PW)


def _actions(pool: ConnectionPool) -> list[str]:
    with pool.connection() as conn:
        return [r[0] for r in conn.execute("SELECT action FROM audit_event ORDER BY seq")]


@pytest.mark.parametrize(
    ("kind", "role", "fits"),
    [
        ("employer", "employer", True),
        ("employer", "caseworker", False),
        ("registered_body", "registered_body", True),
        ("registered_body", "employer", False),
        ("authority", "caseworker", True),
        ("authority", "senior_caseworker", True),
        ("authority", "admin", True),
        ("authority", "employer", False),
    ],
)
def test_role_must_fit_org_kind(
    db: ConnectionPool, audit: AuditLog, kind: str, role: str, fits: bool
) -> None:
    org = _org(db, audit, kind)
    if fits:
        u = _user(db, audit, org, role, f"{role}@x.test")
        assert (u.totp_secret is not None) == (role in accounts.TOTP_ROLES)
    else:
        with pytest.raises(ValidationFailed) as err:
            _user(db, audit, org, role, f"{role}@x.test")
        assert err.value.errors[0].field == "role"


def test_database_refuses_a_misfit_role_too(db: ConnectionPool, audit: AuditLog) -> None:
    org = _org(db, audit, "employer")
    with db.connection() as conn, pytest.raises(psycopg.errors.CheckViolation):
        repo.insert_user(conn, org, "x@y.test", "admin", "h", "SECRET")  # type: ignore[arg-type]


def test_password_is_argon2id_and_email_unique(db: ConnectionPool, audit: AuditLog) -> None:
    org = _org(db, audit, "employer")
    u = _user(db, audit, org, "employer", "Ann@Example.test")
    with db.connection() as conn:
        stored = repo.get_user(conn, u.id)
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert PW not in stored.password_hash
    with pytest.raises(Conflict):
        _user(db, audit, org, "employer", "ann@example.TEST")


def test_bad_input_names_the_field(db: ConnectionPool, audit: AuditLog) -> None:
    org = _org(db, audit, "employer")
    with db.connection() as conn, conn.transaction():
        with pytest.raises(ValidationFailed) as e1:
            accounts.create_user(conn, audit, None, org, "not-an-email", "employer", PW)
        with pytest.raises(ValidationFailed) as e2:
            accounts.create_user(conn, audit, None, org, "a@b.test", "employer", "short")
        with pytest.raises(ValidationFailed) as e3:
            accounts.create_org(conn, audit, None, "  ", "club")
    assert e1.value.errors[0].field == "email"
    assert e2.value.errors[0].field == "password"
    assert {e.field for e in e3.value.errors} == {"name", "kind"}
    assert "not-an-email" not in str(e1.value)


def test_api_key_stored_as_sha256_and_revocable(db: ConnectionPool, audit: AuditLog) -> None:
    org = _org(db, audit, "registered_body")
    with db.connection() as conn, conn.transaction():
        key = accounts.create_api_key(conn, audit, None, org)
    assert key.key.startswith("vbs_") and len(key.key) >= 40
    with db.connection() as conn:
        raw = conn.execute("SELECT key_hash FROM api_key WHERE id = %s", (key.id,)).fetchone()
        assert raw is not None and bytes(raw[0]) == accounts.hash_token(key.key)
        p = auth.resolve_api_key(conn, key.key, "192.0.2.9")
        assert p is not None and p.role == "registered_body" and p.api_key_id == key.id
        assert auth.resolve_api_key(conn, key.key + "x", None) is None
        with conn.transaction():
            accounts.revoke_api_key(conn, audit, None, key.id)
        assert auth.resolve_api_key(conn, key.key, None) is None


def test_authority_cannot_have_api_keys(db: ConnectionPool, audit: AuditLog) -> None:
    org = _org(db, audit, "authority")
    with db.connection() as conn, conn.transaction(), pytest.raises(ValidationFailed):
        accounts.create_api_key(conn, audit, None, org)


def _login(
    pool: ConnectionPool,
    r: redis.Redis,
    settings: Settings,
    audit: AuditLog,
    email: str,
    password: str = PW,
    totp: str | None = None,
    ip: str = "192.0.2.1",
) -> auth.LoginResult:
    with pool.connection() as conn:
        conn.autocommit = True
        try:
            return auth.login(
                conn, r, settings, audit, email=email, password=password, totp=totp, ip=ip
            )
        finally:
            conn.autocommit = False


def test_login_session_and_disable(
    db: ConnectionPool, redis_conn: redis.Redis, settings: Settings, audit: AuditLog
) -> None:
    org = _org(db, audit, "employer")
    u = _user(db, audit, org, "employer", "emp@x.test")
    first = _login(db, redis_conn, settings, audit, "emp@x.test")
    second = _login(db, redis_conn, settings, audit, "EMP@x.test")
    assert first.session_token != second.session_token
    with db.connection() as conn:
        info = auth.resolve_session(conn, settings, second.session_token, None)
        assert info is not None and info.principal.user_id == u.id
        assert info.csrf_token == second.csrf_token
        with conn.transaction():
            accounts.disable_user(conn, audit, None, "emp@x.test")
        assert auth.resolve_session(conn, settings, second.session_token, None) is None
    with pytest.raises(Unauthorized):
        _login(db, redis_conn, settings, audit, "emp@x.test")
    assert "auth.login" in _actions(db) and "auth.login.failed" in _actions(db)


def test_session_idle_and_absolute_timeouts(
    db: ConnectionPool, redis_conn: redis.Redis, settings: Settings, audit: AuditLog, owner_url: str
) -> None:
    org = _org(db, audit, "employer")
    _user(db, audit, org, "employer", "t@x.test")
    idle = _login(db, redis_conn, settings, audit, "t@x.test")
    absolute = _login(db, redis_conn, settings, audit, "t@x.test")
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE web_session SET last_seen_at = now() - interval '31 minutes' "
            "WHERE id_hash = %s",
            (accounts.hash_token(idle.session_token),),
        )
        conn.execute(
            "UPDATE web_session SET expires_at = now() - interval '1 second' WHERE id_hash = %s",
            (accounts.hash_token(absolute.session_token),),
        )
    with db.connection() as conn:
        assert auth.resolve_session(conn, settings, idle.session_token, None) is None
        assert auth.resolve_session(conn, settings, absolute.session_token, None) is None


def test_totp_required_and_replay_refused(
    db: ConnectionPool, redis_conn: redis.Redis, settings: Settings, audit: AuditLog
) -> None:
    org = _org(db, audit, "authority")
    u = _user(db, audit, org, "caseworker", "cw@x.test")
    assert u.totp_secret is not None and u.totp_uri is not None
    assert u.totp_uri.startswith("otpauth://totp/")
    with pytest.raises(Unauthorized):
        _login(db, redis_conn, settings, audit, "cw@x.test")  # no code
    code = pyotp.TOTP(u.totp_secret).now()
    ok = _login(db, redis_conn, settings, audit, "cw@x.test", totp=code)
    assert ok.role == "caseworker"
    with pytest.raises(Unauthorized):
        _login(db, redis_conn, settings, audit, "cw@x.test", totp=code)  # same code again
    with db.connection() as conn:
        reasons = [
            r[0]
            for r in conn.execute(
                "SELECT detail->>'reason' FROM audit_event WHERE action = 'auth.login.failed' "
                "ORDER BY seq"
            )
        ]
    assert reasons == ["totp_required", "totp_replayed"]


def test_login_throttled_per_account_and_address(
    db: ConnectionPool, redis_conn: redis.Redis, settings: Settings, audit: AuditLog
) -> None:
    settings = settings.model_copy(update={"login_max_failures": 2})  # keep the test quick
    org = _org(db, audit, "employer")
    _user(db, audit, org, "employer", "victim@x.test")
    for _ in range(settings.login_max_failures):
        with pytest.raises(Unauthorized):
            _login(db, redis_conn, settings, audit, "victim@x.test", password="wrong-password!")
    # Even the right password is refused now, from any address.
    with pytest.raises(TooManyRequests) as err:
        _login(db, redis_conn, settings, audit, "victim@x.test", ip="198.51.100.7")
    assert 0 < err.value.retry_after <= settings.login_lockout_seconds
    # The email address never appears in Redis keys.
    assert not [k for k in redis_conn.keys("*") if b"victim" in k]
    # Per address: many accounts tried from one address.
    limit = settings.login_max_failures * auth.IP_FAILURE_FACTOR
    for i in range(limit):
        with pytest.raises(Unauthorized):
            _login(db, redis_conn, settings, audit, f"nobody{i}@x.test", ip="203.0.113.5")
    with pytest.raises(TooManyRequests):
        _login(db, redis_conn, settings, audit, "someone-else@x.test", ip="203.0.113.5")


def test_cli_org_user_apikey(
    db: ConnectionPool, owner_url: str, settings: Settings, redis_url: str
) -> None:
    env = {
        **os.environ,
        "VBS_DATABASE_URL": owner_url,
        "VBS_REDIS_URL": redis_url,
        "VBS_DATA_DIR": str(settings.data_dir),
    }

    def vbs(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vbs", *args],
            env=env,
            cwd=ROOT,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
        )

    org = vbs("org", "create", "Acme Care", "--kind", "employer")
    assert org.returncode == 0, org.stderr
    org_id = org.stdout.strip()
    made = vbs("user", "create", "ops@acme.test", "--org", org_id, "--role", "employer", stdin=PW)
    assert made.returncode == 0, made.stderr
    assert "password:" not in made.stdout  # the given one is not echoed
    bad = vbs("user", "create", "cw@acme.test", "--org", org_id, "--role", "caseworker")
    assert bad.returncode == 2 and "role" in bad.stderr
    auth_org = vbs("org", "create", "ISA", "--kind", "authority").stdout.strip()
    cw = vbs("user", "create", "cw@isa.test", "--org", auth_org, "--role", "caseworker")
    assert cw.returncode == 0, cw.stderr
    assert "password: " in cw.stdout and "otpauth://totp/" in cw.stdout
    key = vbs("apikey", "create", "--org", org_id)
    assert key.returncode == 0, key.stderr
    lines = key.stdout.strip().splitlines()
    assert lines[0].startswith("id: ") and lines[-1].startswith("vbs_")
    key_id, secret = lines[0].removeprefix("id: "), lines[-1]
    with db.connection() as conn:
        assert auth.resolve_api_key(conn, secret, None) is not None
    assert vbs("apikey", "revoke", key_id).returncode == 0
    with db.connection() as conn:
        assert auth.resolve_api_key(conn, secret, None) is None
    assert vbs("user", "disable", "ops@acme.test").returncode == 0
    assert vbs("audit", "verify").returncode == 0
    time.sleep(0)  # all above ran in subprocesses; nothing left running
