"""SQL for organisations, users, API keys and web sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class Organisation:
    id: UUID
    name: str
    kind: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    org_id: UUID
    org_kind: str
    email: str
    role: str
    password_hash: str
    totp_secret: str | None
    totp_last_step: int | None
    created_at: datetime
    disabled_at: datetime | None
    org_disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: UUID
    org_id: UUID
    label: str | None
    created_by: UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """An API key that may be used now, with its organisation."""

    id: UUID
    org_id: UUID
    org_kind: str


@dataclass(frozen=True, slots=True)
class ActiveSession:
    user_id: UUID
    org_id: UUID
    org_kind: str
    role: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


# --- organisations ------------------------------------------------------------------


def insert_org(conn: psycopg.Connection, name: str, kind: str) -> Organisation:
    with conn.cursor(row_factory=class_row(Organisation)) as cur:
        cur.execute(
            "INSERT INTO organisation (name, kind) VALUES (%s, %s) "
            "RETURNING id, name, kind, created_at, disabled_at",
            (name, kind),
        )
        row = cur.fetchone()
        assert row is not None
        return row


def get_org(conn: psycopg.Connection, org_id: UUID) -> Organisation | None:
    with conn.cursor(row_factory=class_row(Organisation)) as cur:
        cur.execute(
            "SELECT id, name, kind, created_at, disabled_at FROM organisation WHERE id = %s",
            (org_id,),
        )
        return cur.fetchone()


def list_orgs(conn: psycopg.Connection, limit: int = 500) -> list[Organisation]:
    with conn.cursor(row_factory=class_row(Organisation)) as cur:
        cur.execute(
            "SELECT id, name, kind, created_at, disabled_at FROM organisation "
            "ORDER BY created_at, id LIMIT %s",
            (limit,),
        )
        return cur.fetchall()


# --- users --------------------------------------------------------------------------

_SELECT_USERS = """
    SELECT u.id, u.org_id, o.kind AS org_kind, u.email, u.role, u.password_hash, u.totp_secret,
        u.totp_last_step, u.created_at, u.disabled_at, o.disabled_at AS org_disabled_at
    FROM app_user u JOIN organisation o ON o.id = u.org_id
"""


def insert_user(
    conn: psycopg.Connection,
    org_id: UUID,
    email: str,
    role: str,
    password_hash: str,
    totp_secret: str | None,
) -> UUID:
    row = conn.execute(
        "INSERT INTO app_user (org_id, email, role, password_hash, totp_secret) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (org_id, email, role, password_hash, totp_secret),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def get_user(conn: psycopg.Connection, user_id: UUID) -> User | None:
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(_SELECT_USERS + "WHERE u.id = %s", (user_id,))
        return cur.fetchone()


def get_user_by_email(conn: psycopg.Connection, email: str) -> User | None:
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(_SELECT_USERS + "WHERE lower(u.email) = lower(%s)", (email,))
        return cur.fetchone()


def list_users(
    conn: psycopg.Connection, org_id: UUID | None = None, limit: int = 500
) -> list[User]:
    with conn.cursor(row_factory=class_row(User)) as cur:
        cur.execute(
            _SELECT_USERS + "WHERE (%s::uuid IS NULL OR u.org_id = %s::uuid) "
            "ORDER BY u.created_at, u.id LIMIT %s",
            (org_id, org_id, limit),
        )
        return cur.fetchall()


def update_password(conn: psycopg.Connection, user_id: UUID, password_hash: str) -> None:
    conn.execute("UPDATE app_user SET password_hash = %s WHERE id = %s", (password_hash, user_id))


def claim_totp_step(conn: psycopg.Connection, user_id: UUID, step: int) -> bool:
    """Record ``step`` as the last accepted TOTP step unless it (or a later one) was used."""
    row = conn.execute(
        "UPDATE app_user SET totp_last_step = %s "
        "WHERE id = %s AND (totp_last_step IS NULL OR totp_last_step < %s) RETURNING id",
        (step, user_id, step),
    ).fetchone()
    return row is not None


def disable_user(conn: psycopg.Connection, user_id: UUID) -> None:
    """Disable the user, end their sessions and revoke the API keys they created."""
    conn.execute(
        "UPDATE app_user SET disabled_at = now() WHERE id = %s AND disabled_at IS NULL",
        (user_id,),
    )
    conn.execute(
        "UPDATE web_session SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
        (user_id,),
    )
    conn.execute(
        "UPDATE api_key SET revoked_at = now() WHERE created_by = %s AND revoked_at IS NULL",
        (user_id,),
    )


# --- API keys -----------------------------------------------------------------------


def insert_api_key(
    conn: psycopg.Connection,
    org_id: UUID,
    key_hash: bytes,
    label: str | None,
    created_by: UUID | None,
) -> UUID:
    row = conn.execute(
        "INSERT INTO api_key (org_id, key_hash, label, created_by) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (org_id, key_hash, label, created_by),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


_SELECT_KEYS = (
    "SELECT id, org_id, label, created_by, created_at, last_used_at, revoked_at FROM api_key "
)


def get_api_key(conn: psycopg.Connection, key_id: UUID) -> ApiKey | None:
    with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        cur.execute(_SELECT_KEYS + "WHERE id = %s", (key_id,))
        return cur.fetchone()


def list_api_keys(conn: psycopg.Connection, org_id: UUID | None = None) -> list[ApiKey]:
    with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        cur.execute(
            _SELECT_KEYS + "WHERE (%s::uuid IS NULL OR org_id = %s::uuid) "
            "ORDER BY created_at, id LIMIT 1000",
            (org_id, org_id),
        )
        return cur.fetchall()


def revoke_api_key(conn: psycopg.Connection, key_id: UUID) -> bool:
    row = conn.execute(
        "UPDATE api_key SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING id",
        (key_id,),
    ).fetchone()
    return row is not None


def active_key_by_hash(conn: psycopg.Connection, key_hash: bytes) -> ActiveKey | None:
    """The key if it is not revoked, its organisation is enabled and its creator (if any)
    is not disabled. Marks it used at most once a minute (no write on every request)."""
    with conn.cursor(row_factory=class_row(ActiveKey)) as cur:
        cur.execute(
            """
            SELECT k.id, k.org_id, o.kind AS org_kind
            FROM api_key k JOIN organisation o ON o.id = k.org_id
            WHERE k.key_hash = %s
              AND k.revoked_at IS NULL AND o.disabled_at IS NULL
              AND o.kind IN ('employer', 'registered_body')
              AND NOT EXISTS (
                  SELECT 1 FROM app_user c WHERE c.id = k.created_by AND c.disabled_at IS NOT NULL
              )
            """,
            (key_hash,),
        )
        key = cur.fetchone()
    if key is not None:
        conn.execute(
            "UPDATE api_key SET last_used_at = now() WHERE id = %s "
            "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            (key.id,),
        )
    return key


# --- sessions -----------------------------------------------------------------------


def insert_session(
    conn: psycopg.Connection,
    id_hash: bytes,
    user_id: UUID,
    csrf_token: str,
    expires_at: datetime,
    ip: str | None,
) -> None:
    conn.execute(
        "INSERT INTO web_session (id_hash, user_id, csrf_token, expires_at, ip) "
        "VALUES (%s, %s, %s, %s, %s)",
        (id_hash, user_id, csrf_token, expires_at, ip),
    )


def revoke_session(conn: psycopg.Connection, id_hash: bytes) -> None:
    conn.execute(
        "UPDATE web_session SET revoked_at = now() WHERE id_hash = %s AND revoked_at IS NULL",
        (id_hash,),
    )


def touch_active_session(
    conn: psycopg.Connection, id_hash: bytes, idle_seconds: int
) -> ActiveSession | None:
    """The session if live (not revoked, not past its absolute expiry or idle timeout, its
    user and organisation enabled). Extends its idle window, writing at most every 15 s."""
    with conn.cursor(row_factory=class_row(ActiveSession)) as cur:
        cur.execute(
            """
            SELECT s.user_id, u.org_id, o.kind AS org_kind, u.role, s.csrf_token,
                   s.created_at, s.last_seen_at, s.expires_at
            FROM web_session s
            JOIN app_user u ON u.id = s.user_id
            JOIN organisation o ON o.id = u.org_id
            WHERE s.id_hash = %s
              AND s.revoked_at IS NULL
              AND s.expires_at > now()
              AND s.last_seen_at > now() - make_interval(secs => %s)
              AND u.disabled_at IS NULL AND o.disabled_at IS NULL
            """,
            (id_hash, idle_seconds),
        )
        session = cur.fetchone()
    if session is not None:
        conn.execute(
            "UPDATE web_session SET last_seen_at = now() WHERE id_hash = %s "
            "AND last_seen_at < now() - interval '15 seconds'",
            (id_hash,),
        )
    return session
