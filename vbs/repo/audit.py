"""SQL for the audit trail (``audit_event``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

# One advisory lock serialises appends so that seq is gapless and each event links to
# the one before it. Transaction-scoped: held until the caller's commit or rollback.
AUDIT_LOCK_KEY = 0x7B5_0A0D


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: int
    occurred_at: datetime
    actor_role: str
    actor_user_id: UUID | None
    actor_org_id: UUID | None
    actor_api_key_id: UUID | None
    ip: str | None
    action: str
    object_type: str | None
    object_id: str | None
    detail_text: str
    prev_mac: bytes
    mac: bytes


_COLUMNS = """
    seq, occurred_at, actor_role, actor_user_id, actor_org_id, actor_api_key_id, ip,
    action, object_type, object_id, detail::text AS detail_text, prev_mac, mac
"""


def lock_and_head(
    conn: psycopg.Connection, detail: dict[str, Any]
) -> tuple[int, bytes | None, str]:
    """Take the append lock; return (last seq or 0, its mac, detail as PostgreSQL prints it).

    The MAC covers the detail in PostgreSQL's own jsonb text form, so that reading it back
    gives the same bytes whatever the JSON library does with key order or numbers.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_KEY,))
    row = conn.execute(
        """
        SELECT h.seq, h.mac, %s::jsonb::text
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (
            SELECT seq, mac FROM audit_event ORDER BY seq DESC LIMIT 1
        ) AS h ON true
        """,
        (Jsonb(detail),),
    ).fetchone()
    assert row is not None
    seq, mac, detail_text = row
    return (
        (int(seq) if seq is not None else 0),
        (bytes(mac) if mac is not None else None),
        detail_text,
    )


def insert(conn: psycopg.Connection, row: AuditRow) -> None:
    conn.execute(
        """
        INSERT INTO audit_event (
            seq, occurred_at, actor_role, actor_user_id, actor_org_id, actor_api_key_id, ip,
            action, object_type, object_id, detail, prev_mac, mac
        ) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)
        """,
        (
            row.seq,
            row.occurred_at,
            row.actor_role,
            row.actor_user_id,
            row.actor_org_id,
            row.actor_api_key_id,
            row.ip,
            row.action,
            row.object_type,
            row.object_id,
            row.detail_text,
            row.prev_mac,
            row.mac,
        ),
    )


def iter_from(conn: psycopg.Connection, after_seq: int = 0) -> Iterator[AuditRow]:
    """Every event with seq > after_seq, in order, streamed with a server-side cursor."""
    with conn.cursor(name="audit_scan", row_factory=class_row(AuditRow)) as cur:
        cur.itersize = 2000
        cur.execute(
            f"SELECT {_COLUMNS} FROM audit_event WHERE seq > %s ORDER BY seq",
            (after_seq,),
        )
        yield from cur


def get(conn: psycopg.Connection, seq: int) -> AuditRow | None:
    with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM audit_event WHERE seq = %s", (seq,))
        return cur.fetchone()


def head(conn: psycopg.Connection) -> AuditRow | None:
    with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM audit_event ORDER BY seq DESC LIMIT 1")
        return cur.fetchone()


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None
    org_id: UUID | None = None
    user_id: UUID | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None


def search(conn: psycopg.Connection, f: AuditFilter, limit: int) -> list[AuditRow]:
    """Newest first, filtered; page with ``before_seq``."""
    clauses: list[str] = []
    params: list[object] = []
    pairs: Sequence[tuple[str, object]] = (
        ("action = %s", f.action),
        ("actor_org_id = %s", f.org_id),
        ("actor_user_id = %s", f.user_id),
        ("object_type = %s", f.object_type),
        ("object_id = %s", f.object_id),
        ("occurred_at >= %s", f.since),
        ("occurred_at < %s", f.until),
        ("seq < %s", f.before_seq),
    )
    for clause, value in pairs:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    params.append(limit)
    with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM audit_event {where} ORDER BY seq DESC LIMIT %s",
            params,
        )
        return cur.fetchall()
