from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from psycopg_pool import ConnectionPool

from tests.vbs.checks_support import Actors, audit_rows, bar, new_holder, request, run_vbs
from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.repo import checks as check_repo
from vbs.repo import reviews as review_repo
from vbs.services import checks, reviews, screening
from vbs.services.retention import purge


def test_a_cleared_applicant_barred_the_next_day_does_not_stay_clear(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    holder = new_holder()
    with transaction(db) as conn:
        cleared = checks.run_check(conn, holder, audit, actors.employer, request())
        other = checks.run_check(
            conn, holder, audit, actors.employer, request(forenames="Kofi", surname="Quist")
        )
    assert cleared.outcome == "clear" and other.outcome == "clear"
    entry = bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")

    with db.connection() as conn:
        report = screening.screen_pending(conn, holder, audit)
    assert report.moved_to_review == [cleared.id]
    assert (report.from_version, report.to_version, report.new_entries) == (0, 1, 1)
    with transaction(db) as conn:
        row = check_repo.get_check(conn, cleared.id)
        items = review_repo.items_for_check(conn, cleared.id)
        notes = check_repo.list_notifications(conn, actors.employer.org_id)  # type: ignore[arg-type]
        other_notes = check_repo.list_notifications(conn, actors.other_employer.org_id)  # type: ignore[arg-type]
        alerts = check_repo.list_alerts(conn)
        untouched = check_repo.get_check(conn, other.id)
        events = audit_rows(conn)
    assert row is not None and row.outcome == "under_review"
    assert untouched is not None and untouched.outcome == "clear"
    assert [(i.kind, i.entry_id, i.status) for i in items] == [("screening", entry, "pending")]
    assert [(n.check_id, n.reference, n.outcome) for n in notes] == [
        (cleared.id, "REF-1", "under_review")
    ]
    assert other_notes == []
    assert (cleared.id, "under_review") in [(a.check_id, a.kind) for a in alerts]
    assert events[-1][0] == "screening.run" and "Oyelaran" not in events[-1][2]

    # Idempotent: a second run finds nothing new.
    with db.connection() as conn:
        again = screening.screen_pending(conn, holder, audit)
    assert again.moved_to_review == [] and again.new_entries == 0
    with transaction(db) as conn:
        assert len(review_repo.items_for_check(conn, cleared.id)) == 1
        assert len(check_repo.list_notifications(conn, actors.employer.org_id)) == 1  # type: ignore[arg-type]

    # The caseworker confirms: barred.
    with db.connection() as conn:
        done = reviews.decide(conn, audit, actors.caseworker, items[0].id, "match", "same")
    assert done.check_outcome == "barred"


def test_checks_on_the_new_version_purged_identities_and_other_workforces_are_left_alone(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    holder = new_holder()
    with transaction(db) as conn:
        purged = checks.run_check(conn, holder, audit, actors.employer, request(reference="P"))
    with db.connection() as conn:
        assert purge(conn, audit, timedelta(seconds=0)).checks_purged == 1
    with transaction(db) as conn:
        adults_only = checks.run_check(
            conn, holder, audit, actors.employer, request(workforce="adults", reference="A")
        )
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12", lists="children")
    with transaction(db) as conn:
        after = checks.run_check(
            conn, holder, audit, actors.employer, request(workforce="children", reference="N")
        )
    assert after.outcome == "barred" and after.list_version == 1
    with db.connection() as conn:
        report = screening.screen_pending(conn, holder, audit)
    assert report.moved_to_review == []
    with transaction(db) as conn:
        for cid, expected in ((adults_only.id, "clear"), (purged.id, "clear")):
            row = check_repo.get_check(conn, cid)
            assert row is not None and row.outcome == expected
        assert review_repo.items_for_check(conn, after.id) == []


def test_screening_covers_every_version_since_the_cursor(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    holder = new_holder()
    with transaction(db) as conn:
        a = checks.run_check(conn, holder, audit, actors.employer, request(reference="A"))
        k = checks.run_check(
            conn,
            holder,
            audit,
            actors.employer,
            request(forenames="Kofi", surname="Quist", reference="K"),
        )
    with db.connection() as conn:
        first = screening.screen_pending(conn, holder, audit)  # nothing new yet
    assert first.to_version == 0
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    bar(db, audit, "Kofi", "Quist", "1980-03-12")
    with db.connection() as conn:
        report = screening.screen_pending(conn, holder, audit)
    assert sorted(map(str, report.moved_to_review)) == sorted([str(a.id), str(k.id)])
    assert report.to_version == 2


def test_vbs_screen_command(
    db: ConnectionPool, owner_url: str, audit: AuditLog, actors: Actors, tmp_path: Path
) -> None:
    with transaction(db) as conn:
        cleared = checks.run_check(conn, new_holder(), audit, actors.employer, request())
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    out = run_vbs(owner_url, tmp_path / "data", "screen")
    assert out.returncode == 0, out.stderr
    assert "1 moved to review" in out.stdout
    with transaction(db) as conn:
        row = check_repo.get_check(conn, cleared.id)
    assert row is not None and row.outcome == "under_review"


def test_two_screeners_at_once_screen_each_version_once(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    import threading

    holder = new_holder()
    with transaction(db) as conn:
        cleared = checks.run_check(conn, holder, audit, actors.employer, request())
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    reports: list[screening.ScreeningReport] = []
    barrier = threading.Barrier(2)

    def screen() -> None:
        barrier.wait()
        with db.connection() as conn:
            reports.append(screening.screen_pending(conn, new_holder(), audit))

    threads = [threading.Thread(target=screen) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(len(r.moved_to_review) for r in reports) == [0, 1]
    with transaction(db) as conn:
        assert len(review_repo.items_for_check(conn, cleared.id)) == 1
        assert len(check_repo.list_notifications(conn, actors.employer.org_id)) == 1  # type: ignore[arg-type]
        runs = conn.execute(
            "SELECT count(*) FROM audit_event WHERE action = 'screening.run'"
        ).fetchone()
    assert runs is not None and runs[0] == 1
