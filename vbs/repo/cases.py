"""SQL for barring cases and their timeline of transitions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row

from vbs.repo.barred_list import PreviousName, previous_names_json

_CASE_COLUMNS = (
    "id, reference, route, state, forenames, surname, date_of_birth, previous_names, gender, "
    "summary, referred_by_org, referred_by_user, opened_by_role, representations_due, "
    "decision_lists, decided_by, decided_at, approved_by, approved_at, entry_id, barred_on, "
    "review_eligible_on, created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class CaseRow:
    id: UUID
    reference: str
    route: str
    state: str
    forenames: str
    surname: str
    date_of_birth: date
    previous_names: tuple[PreviousName, ...]
    gender: str | None
    summary: str
    referred_by_org: UUID | None
    referred_by_user: UUID | None
    opened_by_role: str
    representations_due: datetime | None
    decision_lists: int | None
    decided_by: UUID | None
    decided_at: datetime | None
    approved_by: UUID | None
    approved_at: datetime | None
    entry_id: UUID | None
    barred_on: date | None
    review_eligible_on: date | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TransitionRow:
    id: int
    action: str
    from_state: str | None
    to_state: str
    at: datetime
    by_user: UUID | None
    by_role: str
    reason: str


@dataclass(frozen=True, slots=True)
class NewCase:
    route: str
    forenames: str
    surname: str
    date_of_birth: date
    previous_names: tuple[PreviousName, ...]
    gender: str | None
    summary: str
    referred_by_org: UUID | None
    referred_by_user: UUID | None
    opened_by_role: str


def _case(row: dict[str, Any]) -> CaseRow:
    prev = row["previous_names"] or []
    if isinstance(prev, str):  # pragma: no cover - jsonb is loaded by psycopg
        prev = json.loads(prev)
    return CaseRow(
        **{
            **row,
            "previous_names": tuple(
                PreviousName(str(p["forenames"]), str(p["surname"])) for p in prev
            ),
        }
    )


def insert_case(conn: psycopg.Connection, case: NewCase, state: str) -> CaseRow:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO barring_case (reference, route, state, forenames, surname, "
            "date_of_birth, previous_names, gender, summary, referred_by_org, referred_by_user, "
            "opened_by_role) VALUES ("
            "'BC-' || lpad(nextval('barring_case_number')::text, 7, '0'), "
            "%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s) "
            f"RETURNING {_CASE_COLUMNS}",
            (
                case.route,
                state,
                case.forenames,
                case.surname,
                case.date_of_birth,
                previous_names_json(case.previous_names),
                case.gender,
                case.summary,
                case.referred_by_org,
                case.referred_by_user,
                case.opened_by_role,
            ),
        ).fetchone()
    assert row is not None
    return _case(row)


def get_case(
    conn: psycopg.Connection, case_id: UUID, *, for_update: bool = False
) -> CaseRow | None:
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_CASE_COLUMNS} FROM barring_case WHERE id = %s{lock}", (case_id,)
        ).fetchone()
    return _case(row) if row is not None else None


def get_referral(conn: psycopg.Connection, case_id: UUID, org_id: UUID) -> CaseRow | None:
    """A case only if the organisation referred it."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_CASE_COLUMNS} FROM barring_case WHERE id = %s AND referred_by_org = %s",
            (case_id, org_id),
        ).fetchone()
    return _case(row) if row is not None else None


def save(conn: psycopg.Connection, case: CaseRow) -> None:
    """Write the mutable columns of a case (the caller holds its row lock)."""
    conn.execute(
        "UPDATE barring_case SET state = %s, representations_due = %s, decision_lists = %s, "
        "decided_by = %s, decided_at = %s, approved_by = %s, approved_at = %s, entry_id = %s, "
        "barred_on = %s, review_eligible_on = %s, updated_at = now() WHERE id = %s",
        (
            case.state,
            case.representations_due,
            case.decision_lists,
            case.decided_by,
            case.decided_at,
            case.approved_by,
            case.approved_at,
            case.entry_id,
            case.barred_on,
            case.review_eligible_on,
            case.id,
        ),
    )


def insert_transition(
    conn: psycopg.Connection,
    *,
    case_id: UUID,
    action: str,
    from_state: str | None,
    to_state: str,
    at: datetime,
    by_user: UUID | None,
    by_role: str,
    reason: str,
) -> None:
    conn.execute(
        "INSERT INTO case_transition (case_id, action, from_state, to_state, at, by_user, "
        "by_role, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (case_id, action, from_state, to_state, at, by_user, by_role, reason),
    )


def transitions(conn: psycopg.Connection, case_id: UUID) -> list[TransitionRow]:
    with conn.cursor(row_factory=class_row(TransitionRow)) as cur:
        return cur.execute(
            "SELECT id, action, from_state, to_state, at, by_user, by_role, reason "
            "FROM case_transition WHERE case_id = %s ORDER BY id",
            (case_id,),
        ).fetchall()


def list_cases(
    conn: psycopg.Connection,
    *,
    state: str | None = None,
    limit: int = 50,
    before: datetime | None = None,
    before_id: UUID | None = None,
) -> list[CaseRow]:
    """Newest first, in ``(created_at, id)`` order, both descending.

    Keyset paging: with ``before`` and ``before_id`` (the last case of the previous page),
    the cases strictly after that one in this order, so cases sharing a ``created_at`` are
    neither skipped nor repeated. With ``before`` alone (older callers), the cases created
    strictly before that time.
    """
    keyset = ""
    params: tuple[object, ...] = ()
    if before is not None and before_id is None:
        keyset, params = "AND created_at < %s ", (before,)
    elif before is not None:
        keyset, params = "AND (created_at, id) < (%s, %s) ", (before, before_id)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_CASE_COLUMNS} FROM barring_case "
            f"WHERE (%s::text IS NULL OR state = %s::text) {keyset}"
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (state, state, *params, limit),
        ).fetchall()
    return [_case(r) for r in rows]


def overdue_ids(conn: psycopg.Connection, now: datetime, limit: int) -> list[UUID]:
    """Cases whose representations deadline has passed, locked (others skip them)."""
    rows = conn.execute(
        "SELECT id FROM barring_case WHERE state = 'minded_to_bar' "
        "AND representations_due <= %s ORDER BY representations_due "
        "LIMIT %s FOR UPDATE SKIP LOCKED",
        (now, limit),
    ).fetchall()
    return [r[0] for r in rows]
