"""SQL for caseworker review items (table ``review_item`` of 050_checks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(slots=True)
class ReviewRow:
    id: UUID
    check_id: UUID
    kind: str
    entry_id: UUID | None
    status: str
    raised_reason: str | None
    created_at: datetime
    decision: str | None
    reason: str | None
    decided_by: UUID | None
    decided_at: datetime | None


_COLUMNS = (
    "id, check_id, kind, entry_id, status, raised_reason, created_at, decision, reason, "
    "decided_by, decided_at"
)


def insert_item(
    conn: psycopg.Connection[Any],
    check_id: UUID,
    kind: str,
    *,
    entry_id: UUID | None = None,
    raised_reason: str | None = None,
) -> UUID | None:
    """Add a pending item; None when an equivalent one exists (one possible-match item per
    check, one pending dispute per check, one screening item per check and entry)."""
    row = conn.execute(
        "INSERT INTO review_item (check_id, kind, entry_id, raised_reason) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (check_id, kind, entry_id, raised_reason),
    ).fetchone()
    return row[0] if row is not None else None


def get_item(conn: psycopg.Connection[Any], item_id: UUID) -> ReviewRow | None:
    with conn.cursor(row_factory=class_row(ReviewRow)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM review_item WHERE id = %s", (item_id,)
        ).fetchone()


def items_for_check(conn: psycopg.Connection[Any], check_id: UUID) -> list[ReviewRow]:
    with conn.cursor(row_factory=class_row(ReviewRow)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM review_item WHERE check_id = %s ORDER BY created_at, id",
            (check_id,),
        ).fetchall()


def pending(conn: psycopg.Connection[Any], limit: int = 100, offset: int = 0) -> list[ReviewRow]:
    """Pending items, oldest first."""
    with conn.cursor(row_factory=class_row(ReviewRow)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM review_item WHERE status = 'pending' "
            "ORDER BY created_at, id LIMIT %s OFFSET %s",
            (limit, offset),
        ).fetchall()


def decide(
    conn: psycopg.Connection[Any], item_id: UUID, decision: str, reason: str, by: UUID | None
) -> ReviewRow | None:
    """Decide a pending item. The row lock and ``status = 'pending'`` guard make two
    concurrent deciders leave exactly one decision: the second finds it decided (None)."""
    with conn.cursor(row_factory=class_row(ReviewRow)) as cur:
        return cur.execute(
            f"""
            UPDATE review_item SET status = 'decided', decision = %s, reason = %s,
                decided_by = %s, decided_at = clock_timestamp()
            WHERE id = %s AND status = 'pending'
            RETURNING {_COLUMNS}
            """,
            (decision, reason, by, item_id),
        ).fetchone()


def has_pending(
    conn: psycopg.Connection[Any], check_id: UUID, *, exclude_kind: str | None = None
) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM review_item WHERE check_id = %s AND status = 'pending' "
        "AND (%s::text IS NULL OR kind <> %s::text))",
        (check_id, exclude_kind, exclude_kind),
    ).fetchone()
    return bool(row and row[0])


def standing_match(conn: psycopg.Connection[Any], check_id: UUID) -> bool:
    """Whether a match decision on a (non-dispute) item stands: decided after the latest
    dispute that a caseworker upheld (decided no_match)."""
    row = conn.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM review_item m
            WHERE m.check_id = %(c)s AND m.kind <> 'dispute' AND m.decision = 'match'
              AND m.decided_at > coalesce(
                  (SELECT max(d.decided_at) FROM review_item d
                   WHERE d.check_id = %(c)s AND d.kind = 'dispute'
                     AND d.decision = 'no_match'),
                  '-infinity'::timestamptz)
        )
        """,
        {"c": check_id},
    ).fetchone()
    return bool(row and row[0])


def insert_possible_items(conn: psycopg.Connection[Any], check_ids: Sequence[UUID]) -> None:
    """One pending ``possible_match`` item for each check (skipping any that has one)."""
    if not check_ids:
        return
    conn.execute(
        "INSERT INTO review_item (check_id, kind) SELECT unnest(%s::uuid[]), 'possible_match' "
        "ON CONFLICT DO NOTHING",
        (list(check_ids),),
    )
