"""Sign-in, sessions and API-key authentication.

- **Login**: email + password (argon2id), plus a TOTP code for the authority's roles. A
  code is accepted once only: the time step of the last accepted code is stored and a code
  for the same or an earlier step is refused (replay).
- **Throttling** (Redis, fail closed): failed sign-ins are counted per account (keyed by a
  hash of the email, never the address itself) and per client address, each in a window of
  ``login_lockout_seconds``. At ``login_max_failures`` for an account, or
  ``IP_FAILURE_FACTOR`` times that for an address, further attempts are refused with 429
  until the window ends, before any password is checked.
- **Sessions**: a fresh random token at every login (the old session, if any, is revoked),
  stored only as SHA-256; idle timeout ``session_idle_minutes`` and absolute lifetime
  ``session_absolute_hours``; a per-session CSRF token. Every request re-reads the session
  with its user and organisation, so disabling a user or organisation stops it at once.
- **API keys**: ``Authorization: Bearer <key>``; looked up by SHA-256.

These functions manage their own transactions on ``conn`` (which must not be inside a
transaction), because a refused sign-in must still commit its audit event.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pyotp
import redis

from vbs.audit import AuditLog
from vbs.config import Settings
from vbs.errors import TooManyRequests, Unauthorized
from vbs.principal import Principal, Role
from vbs.repo import accounts as repo
from vbs.services.accounts import (
    TOTP_ROLES,
    hash_password,
    hash_token,
    password_needs_rehash,
    verify_password,
)

IP_FAILURE_FACTOR = 4
LOGIN_REFUSED = "email, password or one-time code not accepted"
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class LoginResult:
    session_token: str  # for the cookie only; never logged or stored
    csrf_token: str
    user_id: UUID
    org_id: UUID
    org_kind: str
    role: str
    expires_at: datetime
    principal: Principal


@dataclass(frozen=True, slots=True)
class SessionInfo:
    principal: Principal
    csrf_token: str
    expires_at: datetime


def session_ref(token: str) -> str:
    """A short public reference for a session (its hash prefix): safe to put in audit."""
    return hash_token(token).hex()[:16]


# --- throttling ---------------------------------------------------------------------


def _account_key(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"vbs:login:acct:{digest}"


def _ip_key(ip: str | None) -> str:
    return f"vbs:login:ip:{ip or 'unknown'}"


def _throttled(r: redis.Redis, settings: Settings, email: str, ip: str | None) -> int:
    """Seconds to wait if sign-in is throttled for this account or address, else 0."""
    acct, addr = _account_key(email), _ip_key(ip)
    pipe = r.pipeline(transaction=False)
    pipe.get(acct)
    pipe.ttl(acct)
    pipe.get(addr)
    pipe.ttl(addr)
    a_count, a_ttl, i_count, i_ttl = pipe.execute()
    wait = 0
    if a_count is not None and int(a_count) >= settings.login_max_failures:
        wait = max(wait, int(a_ttl) if int(a_ttl) > 0 else settings.login_lockout_seconds)
    if i_count is not None and int(i_count) >= settings.login_max_failures * IP_FAILURE_FACTOR:
        wait = max(wait, int(i_ttl) if int(i_ttl) > 0 else settings.login_lockout_seconds)
    return wait


def _count_failure(r: redis.Redis, settings: Settings, email: str, ip: str | None) -> None:
    pipe = r.pipeline(transaction=True)
    for key in (_account_key(email), _ip_key(ip)):
        # SET NX EX then INCR: the window starts at the first failure (Redis 6 has no
        # EXPIRE NX); INCR keeps the TTL.
        pipe.set(key, 0, ex=settings.login_lockout_seconds, nx=True)
        pipe.incr(key)
    pipe.execute()


def _clear_account_failures(r: redis.Redis, email: str) -> None:
    r.delete(_account_key(email))


# --- TOTP ---------------------------------------------------------------------------


def _totp_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code matches (current step +-1), else None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // totp.interval)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


# --- login / logout -----------------------------------------------------------------


def login(
    conn: psycopg.Connection,
    r: redis.Redis,
    settings: Settings,
    audit: AuditLog,
    *,
    email: str,
    password: str,
    totp: str | None,
    ip: str | None,
    previous_session_token: str | None = None,
) -> LoginResult:
    """Sign in; raise Unauthorized (401) or TooManyRequests (429). Audited either way."""
    wait = _throttled(r, settings, email, ip)
    if wait:
        with conn.transaction():
            audit.record(conn, Principal(role="system", ip=ip), "auth.login.throttled")
        raise TooManyRequests(wait, "too many failed sign-ins; try again later")

    with conn.transaction():
        user = repo.get_user_by_email(conn, email.strip())
    reason: str | None = None
    if user is None:
        verify_password(_DUMMY_HASH, password)  # same cost whether or not the user exists
        reason = "bad_credentials"
    elif not verify_password(user.password_hash, password):
        reason = "bad_credentials"
    elif user.disabled_at is not None or user.org_disabled_at is not None:
        reason = "disabled"
    elif user.role in TOTP_ROLES:
        if user.totp_secret is None or not totp:
            reason = "totp_required"
        else:
            step = _totp_step(user.totp_secret, totp, time.time())
            if step is None:
                reason = "totp_invalid"
            else:
                with conn.transaction():
                    if not repo.claim_totp_step(conn, user.id, step):
                        reason = "totp_replayed"

    if reason is not None or user is None:
        _count_failure(r, settings, email, ip)
        actor = Principal(
            role="system",
            user_id=user.id if user else None,
            org_id=user.org_id if user else None,
            ip=ip,
        )
        with conn.transaction():
            audit.record(
                conn,
                actor,
                "auth.login.failed",
                "user" if user else None,
                str(user.id) if user else None,
                {"reason": reason or "bad_credentials"},
            )
        raise Unauthorized(LOGIN_REFUSED)

    _clear_account_failures(r, email)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(hours=settings.session_absolute_hours)
    role: Role = user.role  # type: ignore[assignment]  # the table's CHECK holds it to Role
    principal = Principal(
        role=role,
        org_id=user.org_id,
        org_kind=user.org_kind,  # type: ignore[arg-type]
        user_id=user.id,
        session_id=session_ref(token),
        ip=ip,
    )
    with conn.transaction():
        if previous_session_token:
            repo.revoke_session(conn, hash_token(previous_session_token))
        if password_needs_rehash(user.password_hash):
            repo.update_password(conn, user.id, hash_password(password))
        repo.insert_session(conn, hash_token(token), user.id, csrf, expires_at, ip)
        audit.record(conn, principal, "auth.login", "user", str(user.id))
    return LoginResult(
        session_token=token,
        csrf_token=csrf,
        user_id=user.id,
        org_id=user.org_id,
        org_kind=user.org_kind,
        role=user.role,
        expires_at=expires_at,
        principal=principal,
    )


def logout(
    conn: psycopg.Connection, audit: AuditLog, token: str, principal: Principal | None
) -> None:
    with conn.transaction():
        repo.revoke_session(conn, hash_token(token))
        audit.record(conn, principal, "auth.logout")


# --- resolving credentials ----------------------------------------------------------


def resolve_session(
    conn: psycopg.Connection, settings: Settings, token: str, ip: str | None
) -> SessionInfo | None:
    """The live session for this cookie token, or None (expired, revoked, disabled)."""
    if not token or len(token) > 200:
        return None
    with conn.transaction():
        s = repo.touch_active_session(conn, hash_token(token), settings.session_idle_minutes * 60)
    if s is None:
        return None
    principal = Principal(
        role=s.role,  # type: ignore[arg-type]
        org_id=s.org_id,
        org_kind=s.org_kind,  # type: ignore[arg-type]
        user_id=s.user_id,
        session_id=session_ref(token),
        ip=ip,
    )
    return SessionInfo(principal=principal, csrf_token=s.csrf_token, expires_at=s.expires_at)


def resolve_api_key(conn: psycopg.Connection, key: str, ip: str | None) -> Principal | None:
    """The organisation's client principal for a live API key, or None."""
    if not key or len(key) > 200:
        return None
    with conn.transaction():
        k = repo.active_key_by_hash(conn, hash_token(key))
    if k is None:
        return None
    return Principal(
        role=k.org_kind,  # type: ignore[arg-type]  # employer or registered_body
        org_id=k.org_id,
        org_kind=k.org_kind,  # type: ignore[arg-type]
        api_key_id=k.id,
        ip=ip,
    )
