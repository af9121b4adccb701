"""SQL for checks, their match candidates, alerts and notifications (tables of 050_checks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb


@dataclass(slots=True)
class CheckRow:
    id: UUID
    organisation_id: UUID
    user_id: UUID | None
    api_key_id: UUID | None
    batch_id: UUID | None
    batch_row: int | None
    reference: str
    forenames: str | None
    surname: str | None
    date_of_birth: date | None
    previous_names: list[str] | None
    gender: str | None
    workforce: str
    outcome: str
    list_version: int | None
    matcher_version: str | None
    checked_at: datetime
    settled_at: datetime | None
    identity_purged_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewCheck:
    """A check row to insert (the identity as the client gave it)."""

    organisation_id: UUID
    reference: str
    forenames: str
    surname: str
    date_of_birth: date
    previous_names: Sequence[str]
    gender: str | None
    workforce: str
    outcome: str
    list_version: int | None
    matcher_version: str | None
    user_id: UUID | None = None
    api_key_id: UUID | None = None
    batch_id: UUID | None = None
    batch_row: int | None = None


@dataclass(frozen=True, slots=True)
class NewCandidate:
    rank: int
    entry_id: UUID
    probability: float
    band: str
    explanation: Any


@dataclass(slots=True)
class CandidateRow:
    check_id: UUID
    rank: int
    entry_id: UUID
    probability: float
    band: str
    explanation: Any
    list_version: int
    source: str


@dataclass(slots=True)
class AlertRow:
    id: UUID
    check_id: UUID
    organisation_id: UUID
    kind: str
    source: str
    created_at: datetime


@dataclass(slots=True)
class NotificationRow:
    id: UUID
    organisation_id: UUID
    check_id: UUID
    reference: str
    kind: str
    outcome: str
    list_version: int
    created_at: datetime


_CHECK_COLUMNS = (
    "id, organisation_id, user_id, api_key_id, batch_id, batch_row, reference, forenames, "
    "surname, date_of_birth, previous_names, gender, workforce, outcome, list_version, "
    "matcher_version, checked_at, settled_at, identity_purged_at"
)


def lock_list_version(conn: psycopg.Connection[Any]) -> int:
    """The committed list version, share-locked until this transaction ends.

    A list change bumps ``list_state`` with an UPDATE, which waits for this lock (and this
    waits for an uncommitted change). So a check that records the version read here commits
    before any newer list version does: continuous screening of that newer version is sure
    to see the check.
    """
    row = conn.execute("SELECT version FROM list_state WHERE id = 1 FOR SHARE").fetchone()
    if row is None:
        # No state row yet (an emptied database): create it, which waits for a list
        # change inserting it concurrently, then lock the committed row.
        conn.execute(
            "INSERT INTO list_state (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"
        )
        row = conn.execute("SELECT version FROM list_state WHERE id = 1 FOR SHARE").fetchone()
    return int(row[0]) if row is not None else 0


def current_list_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT version FROM list_state WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else 0


def insert_check(conn: psycopg.Connection[Any], c: NewCheck) -> tuple[UUID, datetime]:
    row = conn.execute(
        """
        INSERT INTO identity_check (organisation_id, user_id, api_key_id, batch_id, batch_row,
            reference, forenames, surname, date_of_birth, previous_names, gender, workforce,
            outcome, list_version, matcher_version, settled_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
            CASE WHEN %s IN ('clear', 'barred') THEN now() END)
        RETURNING id, checked_at
        """,
        (
            c.organisation_id,
            c.user_id,
            c.api_key_id,
            c.batch_id,
            c.batch_row,
            c.reference,
            c.forenames,
            c.surname,
            c.date_of_birth,
            Jsonb(list(c.previous_names)),
            c.gender,
            c.workforce,
            c.outcome,
            c.list_version,
            c.matcher_version,
            c.outcome,
        ),
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def insert_batch_checks(
    conn: psycopg.Connection[Any], checks: Sequence[NewCheck]
) -> dict[int, UUID]:
    """Insert batch-row checks, skipping rows already recorded; {batch_row: id} of new ones."""
    if not checks:
        return {}
    cols = list(zip(*(_batch_tuple(c) for c in checks), strict=True))
    rows = conn.execute(
        """
        INSERT INTO identity_check (organisation_id, batch_id, batch_row, reference, forenames,
            surname, date_of_birth, previous_names, gender, workforce, outcome, list_version,
            matcher_version, settled_at)
        SELECT o, b, r, ref, f, s, d, p, g, w, oc, v, mv,
            CASE WHEN oc IN ('clear', 'barred') THEN now() END
        FROM unnest(%s::uuid[], %s::uuid[], %s::int[], %s::text[], %s::text[], %s::text[],
            %s::date[], %s::jsonb[], %s::text[], %s::text[], %s::text[], %s::bigint[],
            %s::text[]) AS t(o, b, r, ref, f, s, d, p, g, w, oc, v, mv)
        ON CONFLICT (batch_id, batch_row) DO NOTHING
        RETURNING batch_row, id
        """,
        [list(col) for col in cols],
    ).fetchall()
    return {int(r[0]): r[1] for r in rows}


def _batch_tuple(c: NewCheck) -> tuple[Any, ...]:
    return (
        c.organisation_id,
        c.batch_id,
        c.batch_row,
        c.reference,
        c.forenames,
        c.surname,
        c.date_of_birth,
        Jsonb(list(c.previous_names)),
        c.gender,
        c.workforce,
        c.outcome,
        c.list_version,
        c.matcher_version,
    )


def insert_candidates(
    conn: psycopg.Connection[Any],
    check_id: UUID,
    list_version: int,
    candidates: Sequence[NewCandidate],
    source: str = "check",
) -> None:
    insert_candidates_many(conn, [(check_id, list_version, c) for c in candidates], source)


def next_candidate_rank(conn: psycopg.Connection[Any], check_id: UUID) -> int:
    row = conn.execute(
        "SELECT coalesce(max(rank), 0) + 1 FROM match_candidate WHERE check_id = %s",
        (check_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def candidates(conn: psycopg.Connection[Any], check_id: UUID) -> list[CandidateRow]:
    with conn.cursor(row_factory=class_row(CandidateRow)) as cur:
        return cur.execute(
            "SELECT check_id, rank, entry_id, probability, band, explanation, list_version, "
            "source FROM match_candidate WHERE check_id = %s ORDER BY rank",
            (check_id,),
        ).fetchall()


def get_check(
    conn: psycopg.Connection[Any], check_id: UUID, *, for_update: bool = False
) -> CheckRow | None:
    lock = " FOR UPDATE" if for_update else ""
    with conn.cursor(row_factory=class_row(CheckRow)) as cur:
        return cur.execute(
            f"SELECT {_CHECK_COLUMNS} FROM identity_check WHERE id = %s{lock}", (check_id,)
        ).fetchone()


def get_org_check(
    conn: psycopg.Connection[Any], organisation_id: UUID, check_id: UUID
) -> CheckRow | None:
    with conn.cursor(row_factory=class_row(CheckRow)) as cur:
        return cur.execute(
            f"SELECT {_CHECK_COLUMNS} FROM identity_check WHERE id = %s AND organisation_id = %s",
            (check_id, organisation_id),
        ).fetchone()


def find_by_reference(
    conn: psycopg.Connection[Any], organisation_id: UUID, reference: str, limit: int = 100
) -> list[CheckRow]:
    with conn.cursor(row_factory=class_row(CheckRow)) as cur:
        return cur.execute(
            f"SELECT {_CHECK_COLUMNS} FROM identity_check "
            "WHERE organisation_id = %s AND reference = %s ORDER BY checked_at DESC LIMIT %s",
            (organisation_id, reference, limit),
        ).fetchall()


def set_outcome(
    conn: psycopg.Connection[Any],
    check_id: UUID,
    outcome: str,
    *,
    list_version: int | None = None,
    matcher_version: str | None = None,
) -> None:
    """Set a check's outcome (and, when given, the list and matcher versions it was matched
    with). ``clear`` and ``barred`` settle it; ``under_review`` and ``incomplete`` do not."""
    conn.execute(
        """
        UPDATE identity_check SET outcome = %s,
            list_version = coalesce(%s, list_version),
            matcher_version = coalesce(%s, matcher_version),
            settled_at = CASE WHEN %s IN ('clear', 'barred') THEN now() END
        WHERE id = %s
        """,
        (outcome, list_version, matcher_version, outcome, check_id),
    )


def incomplete_check_ids(
    conn: psycopg.Connection[Any], limit: int = 500, batch_id: UUID | None = None
) -> list[UUID]:
    """Checks still ``incomplete`` with their identity kept (oldest first)."""
    rows = conn.execute(
        """
        SELECT id FROM identity_check
        WHERE outcome = 'incomplete' AND identity_purged_at IS NULL
          AND (%s::uuid IS NULL OR batch_id = %s::uuid)
        ORDER BY checked_at LIMIT %s
        """,
        (batch_id, batch_id, limit),
    ).fetchall()
    return [r[0] for r in rows]


def retained_checks_before(
    conn: psycopg.Connection[Any], version: int, after_id: UUID | None, limit: int
) -> list[CheckRow]:
    """Checks with their identity kept, matched on a list version below ``version``
    (keyset-paged by id)."""
    with conn.cursor(row_factory=class_row(CheckRow)) as cur:
        return cur.execute(
            f"SELECT {_CHECK_COLUMNS} FROM identity_check "
            "WHERE identity_purged_at IS NULL AND list_version < %s "
            "AND outcome <> 'incomplete' AND (%s::uuid IS NULL OR id > %s::uuid) "
            "ORDER BY id LIMIT %s",
            (version, after_id, after_id, limit),
        ).fetchall()


# Alerts (for the authority) -------------------------------------------------------------


def insert_alert(
    conn: psycopg.Connection[Any], check_id: UUID, organisation_id: UUID, kind: str, source: str
) -> None:
    conn.execute(
        "INSERT INTO alert (check_id, organisation_id, kind, source) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (check_id, kind, source) DO NOTHING",
        (check_id, organisation_id, kind, source),
    )


def list_alerts(
    conn: psycopg.Connection[Any], limit: int = 100, before: datetime | None = None
) -> list[AlertRow]:
    with conn.cursor(row_factory=class_row(AlertRow)) as cur:
        return cur.execute(
            "SELECT id, check_id, organisation_id, kind, source, created_at FROM alert "
            "WHERE (%s::timestamptz IS NULL OR created_at < %s::timestamptz) "
            "ORDER BY created_at DESC, id LIMIT %s",
            (before, before, limit),
        ).fetchall()


# Notifications (for the client organisation) ----------------------------------------------


def insert_notification(
    conn: psycopg.Connection[Any],
    organisation_id: UUID,
    check_id: UUID,
    kind: str,
    outcome: str,
    list_version: int,
) -> bool:
    row = conn.execute(
        "INSERT INTO notification (organisation_id, check_id, kind, outcome, list_version) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (check_id, kind, list_version) DO NOTHING "
        "RETURNING id",
        (organisation_id, check_id, kind, outcome, list_version),
    ).fetchone()
    return row is not None


def list_notifications(
    conn: psycopg.Connection[Any], organisation_id: UUID, limit: int = 100
) -> list[NotificationRow]:
    with conn.cursor(row_factory=class_row(NotificationRow)) as cur:
        return cur.execute(
            """
            SELECT n.id, n.organisation_id, n.check_id, c.reference, n.kind, n.outcome,
                n.list_version, n.created_at
            FROM notification n JOIN identity_check c ON c.id = n.check_id
            WHERE n.organisation_id = %s ORDER BY n.created_at DESC, n.id LIMIT %s
            """,
            (organisation_id, limit),
        ).fetchall()


# Retention ------------------------------------------------------------------------------


def purge_identities(conn: psycopg.Connection[Any], cutoff: datetime) -> int:
    """Erase the identity of checks made before ``cutoff`` (outcomes stay), except checks
    a caseworker still has to decide on. Candidate explanations (which quote the compared
    values) and dispute reasons go too. Returns how many checks were purged."""
    rows = conn.execute(
        """
        UPDATE identity_check c SET forenames = NULL, surname = NULL, date_of_birth = NULL,
            previous_names = NULL, gender = NULL, identity_purged_at = now()
        WHERE c.checked_at < %s AND c.identity_purged_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM review_item r
                          WHERE r.check_id = c.id AND r.status = 'pending')
        RETURNING c.id
        """,
        (cutoff,),
    ).fetchall()
    ids = [r[0] for r in rows]
    if ids:
        conn.execute(
            "UPDATE match_candidate SET explanation = NULL WHERE check_id = ANY(%s)", (ids,)
        )
        # A dispute's reason is the applicant's own account: it goes with the identity.
        conn.execute("UPDATE review_item SET raised_reason = NULL WHERE check_id = ANY(%s)", (ids,))
    return len(ids)


# Bulk writes for batch chunks ------------------------------------------------------------


def insert_candidates_many(
    conn: psycopg.Connection[Any],
    items: Sequence[tuple[UUID, int, NewCandidate]],
    source: str = "check",
) -> None:
    """Candidates of many checks in one round trip: (check id, list version, candidate)."""
    if not items:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO match_candidate (check_id, rank, entry_id, probability, band,
                explanation, list_version, source)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            """,
            [
                (
                    check_id,
                    c.rank,
                    c.entry_id,
                    c.probability,
                    c.band,
                    Jsonb(c.explanation),
                    version,
                    source,
                )
                for check_id, version, c in items
            ],
        )


def insert_alerts_many(
    conn: psycopg.Connection[Any], items: Sequence[tuple[UUID, UUID, str]], source: str
) -> None:
    """Alerts for many checks: (check id, organisation id, kind)."""
    if not items:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO alert (check_id, organisation_id, kind, source) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (check_id, kind, source) DO NOTHING",
            [(c, o, k, source) for c, o, k in items],
        )
