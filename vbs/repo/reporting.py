"""Read-only queries behind the web pages' lists and the administrator's dashboard.

Counts and ids only, except where a caseworker page needs a case's or an organisation's
name. Every query is parameterised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row


@dataclass(slots=True)
class CheckSummary:
    id: UUID
    reference: str
    outcome: str
    checked_at: datetime


def recent_checks(
    conn: psycopg.Connection[Any],
    org_id: UUID,
    *,
    limit: int = 50,
    offset: int = 0,
) -> list[CheckSummary]:
    """The organisation's single checks (not batch rows), newest first."""
    with conn.cursor(row_factory=class_row(CheckSummary)) as cur:
        return cur.execute(
            "SELECT id, reference, outcome, checked_at FROM identity_check "
            "WHERE organisation_id = %s AND batch_id IS NULL "
            "ORDER BY checked_at DESC, id LIMIT %s OFFSET %s",
            (org_id, limit, offset),
        ).fetchall()


@dataclass(slots=True)
class DayOutcomes:
    day: date
    outcome: str
    n: int


def checks_per_day(conn: psycopg.Connection[Any], since: date) -> list[DayOutcomes]:
    with conn.cursor(row_factory=class_row(DayOutcomes)) as cur:
        return cur.execute(
            "SELECT (checked_at AT TIME ZONE 'UTC')::date AS day, outcome, count(*)::int AS n "
            "FROM identity_check WHERE checked_at >= %s "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            (since,),
        ).fetchall()


@dataclass(slots=True)
class QueueAge:
    kind: str
    n: int
    oldest: datetime | None
    median_age_s: float | None


def review_queue(conn: psycopg.Connection[Any]) -> list[QueueAge]:
    """Pending review items by kind, with the oldest and the median age in seconds."""
    with conn.cursor(row_factory=class_row(QueueAge)) as cur:
        return cur.execute(
            "SELECT kind, count(*)::int AS n, min(created_at) AS oldest, "
            "percentile_cont(0.5) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM now() - created_at))::float AS median_age_s "
            "FROM review_item WHERE status = 'pending' GROUP BY kind ORDER BY kind"
        ).fetchall()


@dataclass(slots=True)
class QueueBucket:
    bucket: str
    n: int


AGE_BUCKETS = ("under 1 hour", "1 to 24 hours", "1 to 7 days", "over 7 days")


def review_queue_ages(conn: psycopg.Connection[Any]) -> list[QueueBucket]:
    with conn.cursor(row_factory=class_row(QueueBucket)) as cur:
        rows = cur.execute(
            "SELECT CASE "
            "WHEN now() - created_at < interval '1 hour' THEN %s "
            "WHEN now() - created_at < interval '1 day' THEN %s "
            "WHEN now() - created_at < interval '7 days' THEN %s "
            "ELSE %s END AS bucket, count(*)::int AS n "
            "FROM review_item WHERE status = 'pending' GROUP BY 1",
            AGE_BUCKETS,
        ).fetchall()
    found = {r.bucket: r.n for r in rows}
    return [QueueBucket(b, found.get(b, 0)) for b in AGE_BUCKETS]


@dataclass(slots=True)
class BatchThroughput:
    day: date
    batches: int
    rows: int
    seconds: float


def batch_throughput(conn: psycopg.Connection[Any], since: date) -> list[BatchThroughput]:
    """Finished batches per day: how many, their rows, and the time spent matching them."""
    with conn.cursor(row_factory=class_row(BatchThroughput)) as cur:
        return cur.execute(
            "SELECT (finished_at AT TIME ZONE 'UTC')::date AS day, count(*)::int AS batches, "
            "coalesce(sum(rows_total), 0)::int AS rows, "
            "coalesce(sum(extract(epoch FROM finished_at - coalesce(started_at, created_at))),"
            " 0)::float AS seconds "
            "FROM batch WHERE status = 'complete' AND finished_at >= %s "
            "GROUP BY 1 ORDER BY 1",
            (since,),
        ).fetchall()


def organisation_names(conn: psycopg.Connection[Any], ids: list[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    rows = conn.execute("SELECT id, name FROM organisation WHERE id = ANY(%s)", (ids,)).fetchall()
    return {r[0]: r[1] for r in rows}
