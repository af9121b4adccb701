"""SQL the load-test runner uses to verify a run against the database (read-only).

After a run, every check the service accepted (201) must have exactly one
``identity_check`` row and exactly one audit event, and nothing else may have been written
for the load test's employer organisations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg


def single_check_ids(conn: psycopg.Connection[Any], org_ids: Sequence[UUID]) -> list[UUID]:
    """Ids of the single (non-batch) checks of these organisations."""
    rows = conn.execute(
        "SELECT id FROM identity_check WHERE organisation_id = ANY(%s) AND batch_id IS NULL",
        (list(org_ids),),
    ).fetchall()
    return [r[0] for r in rows]


def audit_events_per_object(
    conn: psycopg.Connection[Any], action: str, object_ids: Sequence[UUID]
) -> dict[str, int]:
    """How many audit events with ``action`` name each of these objects (absent: none)."""
    rows = conn.execute(
        "SELECT object_id, count(*) FROM audit_event "
        "WHERE action = %s AND object_id = ANY(%s) GROUP BY object_id",
        (action, [str(i) for i in object_ids]),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def audit_actions(conn: psycopg.Connection[Any], since_seq: int = 0) -> dict[str, int]:
    """Audit events after ``since_seq`` by action (a summary for the run report)."""
    rows = conn.execute(
        "SELECT action, count(*) FROM audit_event WHERE seq > %s GROUP BY action ORDER BY action",
        (since_seq,),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def last_audit_seq(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM audit_event").fetchone()
    return int(row[0]) if row is not None else 0


def outcome_counts(conn: psycopg.Connection[Any], org_ids: Sequence[UUID]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT outcome, count(*) FROM identity_check WHERE organisation_id = ANY(%s) "
        "GROUP BY outcome ORDER BY outcome",
        (list(org_ids),),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def pending_reviews(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM review_item WHERE status = 'pending'").fetchone()
    return int(row[0]) if row is not None else 0


def matcher_versions(conn: psycopg.Connection[Any], org_ids: Sequence[UUID]) -> dict[str, int]:
    """The matcher versions the checks of these organisations were matched with."""
    rows = conn.execute(
        "SELECT coalesce(matcher_version, ''), count(*) FROM identity_check "
        "WHERE organisation_id = ANY(%s) GROUP BY 1 ORDER BY 1",
        (list(org_ids),),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}
