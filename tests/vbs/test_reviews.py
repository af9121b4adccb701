from __future__ import annotations

import threading
from uuid import UUID

import pytest
from psycopg_pool import ConnectionPool

from tests.vbs.checks_support import Actors, audit_rows, bar, new_holder, request
from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vbs.repo import checks as check_repo
from vbs.repo import reviews as review_repo
from vbs.services import checks, reviews


def possible_check(db: ConnectionPool, audit: AuditLog, actors: Actors) -> tuple[UUID, UUID]:
    """A check under review (a middle name missing, the year of birth differs): (check, item)."""
    bar(db, audit, "Alice", "Oyelaran", "1985-03-12")
    with transaction(db) as conn:
        res = checks.run_check(conn, new_holder(), audit, actors.employer, request())
        items = review_repo.items_for_check(conn, res.id)
    assert res.outcome == "under_review"
    return res.id, items[0].id


def outcome(db: ConnectionPool, check_id: UUID) -> str:
    with transaction(db) as conn:
        row = check_repo.get_check(conn, check_id)
    assert row is not None
    return row.outcome


def test_pending_oldest_first_and_view_is_audited_side_by_side(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    check_id, item_id = possible_check(db, audit, actors)
    with transaction(db) as conn:
        pending = reviews.list_pending(conn, actors.caseworker)
    assert [p.id for p in pending] == [item_id]
    with db.connection() as conn:
        v = reviews.view(conn, audit, actors.caseworker, item_id)
    assert v.check_id == check_id
    assert v.check.surname == "Oyelaran"
    assert v.candidates and v.candidates[0].entry.date_of_birth == "1985-03-12"
    assert v.candidates[0].explanation
    with transaction(db) as conn:
        events = audit_rows(conn)
    assert events[-1][0] == "review.view" and events[-1][1] == str(item_id)
    assert "Oyelaran" not in events[-1][2]


def test_employers_never_reach_reviews(db: ConnectionPool, audit: AuditLog, actors: Actors) -> None:
    _, item_id = possible_check(db, audit, actors)
    with db.connection() as conn:
        with pytest.raises(Forbidden):
            reviews.list_pending(conn, actors.employer)
        with pytest.raises(Forbidden):
            reviews.view(conn, audit, actors.employer, item_id)
        with pytest.raises(Forbidden):
            reviews.decide(conn, audit, actors.employer, item_id, "no_match", "x")


def test_no_match_clears_and_match_bars(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    check_id, item_id = possible_check(db, audit, actors)
    with db.connection() as conn:
        res = reviews.decide(conn, audit, actors.caseworker, item_id, "no_match", "other person")
    assert res.check_outcome == "clear"
    assert outcome(db, check_id) == "clear"
    # A second check of the same identity goes to review again; this time it is a match.
    with transaction(db) as conn:
        again = checks.run_check(conn, new_holder(), audit, actors.employer, request())
        item2 = review_repo.items_for_check(conn, again.id)[0].id
    with db.connection() as conn:
        res2 = reviews.decide(conn, audit, actors.caseworker, item2, "match", "same person")
    assert res2.check_outcome == "barred"
    with transaction(db) as conn:
        kinds = [(a.check_id, a.kind) for a in check_repo.list_alerts(conn)]
    assert (again.id, "barred") in kinds


def test_decision_needs_a_valid_decision_and_reason(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    _, item_id = possible_check(db, audit, actors)
    with db.connection() as conn, pytest.raises(ValidationFailed) as err:
        reviews.decide(conn, audit, actors.caseworker, item_id, "maybe", " ")
    assert {e.field for e in err.value.errors} == {"decision", "reason"}


def test_two_caseworkers_deciding_at_once_leave_exactly_one_decision(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    check_id, item_id = possible_check(db, audit, actors)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def decide(principal_name: str, decision: str) -> None:
        principal = getattr(actors, principal_name)
        barrier.wait()
        try:
            with db.connection() as conn:
                r = reviews.decide(conn, audit, principal, item_id, decision, "looked")
            results.append(r.check_outcome)
        except Conflict:
            results.append("conflict")

    threads = [
        threading.Thread(target=decide, args=("caseworker", "match")),
        threading.Thread(target=decide, args=("caseworker2", "no_match")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results.count("conflict") == 1
    with transaction(db) as conn:
        items = review_repo.items_for_check(conn, check_id)
        decisions = [a for a, _, _ in audit_rows(conn) if a == "review.decide"]
    assert len(items) == 1 and items[0].status == "decided"
    assert len(decisions) == 1
    expected = "barred" if items[0].decision == "match" else "clear"
    assert outcome(db, check_id) == expected


def test_dispute_of_a_barred_check_goes_to_a_caseworker_and_can_clear_it(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    with transaction(db) as conn:
        res = checks.run_check(conn, new_holder(), audit, actors.employer, request())
    assert res.outcome == "barred"
    with db.connection() as conn:
        with pytest.raises(NotFound):
            reviews.dispute(conn, audit, actors.other_employer, res.id, "not her")
        item = reviews.dispute(conn, audit, actors.employer, res.id, "applicant says not her")
        with pytest.raises(Conflict):
            reviews.dispute(conn, audit, actors.employer, res.id, "again")
    assert item.kind == "dispute" and item.raised_reason == "applicant says not her"
    assert outcome(db, res.id) == "barred"  # stays barred while the dispute is pending
    with db.connection() as conn:
        done = reviews.decide(conn, audit, actors.caseworker, item.id, "no_match", "ID checked")
    assert done.check_outcome == "clear"


def test_a_clear_outcome_cannot_be_disputed(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    with transaction(db) as conn:
        res = checks.run_check(conn, new_holder(), audit, actors.employer, request())
    with db.connection() as conn, pytest.raises(Conflict):
        reviews.dispute(conn, audit, actors.employer, res.id, "why")
