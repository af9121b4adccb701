from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.vbs.checks_support import Actors, bar, new_holder, request, run_vbs
from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.errors import ValidationFailed
from vbs.repo import checks as check_repo
from vbs.repo import reviews as review_repo
from vbs.services import checks, reviews
from vbs.services.retention import parse_age, purge


def test_parse_age() -> None:
    assert parse_age("90d") == timedelta(days=90)
    assert parse_age("12w") == timedelta(weeks=12)
    assert parse_age("48h") == timedelta(hours=48)
    assert parse_age("30") == timedelta(days=30)
    for bad in ("", "0d", "-3d", "ninety", "90y"):
        with pytest.raises(ValidationFailed):
            parse_age(bad)


def test_purge_erases_old_identities_and_keeps_outcomes_and_audit(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    bar(db, audit, "Kofi", "Quist", "1985-03-12")  # a possible match for the Kofi check below
    holder = new_holder()
    with transaction(db) as conn:
        barred = checks.run_check(conn, holder, audit, actors.employer, request())
        review = checks.run_check(
            conn,
            holder,
            audit,
            actors.employer,
            request(forenames="Kofi", surname="Quist", reference="K"),
        )
    assert barred.outcome == "barred" and review.outcome == "under_review"
    with db.connection() as conn:
        disputed = reviews.dispute(conn, audit, actors.employer, barred.id, "Alice says no")
        reviews.decide(conn, audit, actors.caseworker, disputed.id, "match", "confirmed")
    with transaction(db) as conn:
        events_before = conn.execute("SELECT count(*) FROM audit_event").fetchone()

    # Nothing is old enough yet.
    with db.connection() as conn:
        assert purge(conn, audit, timedelta(days=90)).checks_purged == 0
    # 91 days later: the barred check's identity goes; the one a caseworker must still
    # decide keeps its identity until decided.
    later = datetime.now(UTC) + timedelta(days=91)
    with db.connection() as conn:
        report = purge(conn, audit, timedelta(days=90), now=later)
    assert report.checks_purged == 1
    with transaction(db) as conn:
        gone = check_repo.get_check(conn, barred.id)
        kept = check_repo.get_check(conn, review.id)
        cands = check_repo.candidates(conn, barred.id)
        events_after = conn.execute("SELECT count(*) FROM audit_event").fetchone()
        last = conn.execute(
            "SELECT action, detail::text FROM audit_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert gone is not None
    assert (gone.forenames, gone.surname, gone.date_of_birth, gone.previous_names) == (
        None,
        None,
        None,
        None,
    )
    assert gone.identity_purged_at is not None
    assert gone.outcome == "barred" and gone.reference == "REF-1"
    assert cands and cands[0].band == "match" and cands[0].explanation is None
    assert kept is not None and kept.surname == "Quist"
    with transaction(db) as conn:
        items = review_repo.items_for_check(conn, barred.id)
    assert [(i.kind, i.raised_reason, i.decision) for i in items] == [("dispute", None, "match")]
    assert events_before is not None and events_after is not None
    assert events_after[0] == events_before[0] + 2  # one event per purge run, none lost
    assert last is not None and last[0] == "retention.purge"
    assert "Oyelaran" not in last[1]

    # A purged check is not retried or re-screened: its identity is gone.
    with db.connection() as conn:
        assert checks.retry_incomplete(conn, holder, audit) == {}


def test_vbs_purge_command(
    db: ConnectionPool, owner_url: str, audit: AuditLog, actors: Actors, tmp_path: Path
) -> None:
    with transaction(db) as conn:
        res = checks.run_check(conn, new_holder(), audit, actors.employer, request())
    # Age the check by 100 days (as the owner: the test reaches into the past).
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE identity_check SET checked_at = checked_at - interval '100 days' WHERE id = %s",
            (res.id,),
        )
    out = run_vbs(owner_url, tmp_path / "data", "purge", "--older-than", "90d")
    assert out.returncode == 0, out.stderr
    assert "purged 1 check identities" in out.stdout
    with transaction(db) as conn:
        row = check_repo.get_check(conn, res.id)
    assert row is not None and row.surname is None and row.outcome == "clear"

    bad = run_vbs(owner_url, tmp_path / "data", "purge", "--older-than", "soon")
    assert bad.returncode == 2 and "older_than" in bad.stderr
