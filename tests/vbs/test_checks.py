from __future__ import annotations

import threading
import time
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.vbs.checks_support import (
    Actors,
    FaultyHolder,
    audit_rows,
    bar,
    new_batch,
    new_holder,
    request,
)
from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.errors import Forbidden, NotFound, ValidationFailed
from vbs.repo import checks as check_repo
from vbs.repo import reviews as review_repo
from vbs.services import checks
from vbs.services.checks import BatchRowInput
from vbs.services.matcher_holder import MatcherHolder, MatchOutcome


def count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_no_entry_is_clear_with_one_audit_event_and_no_personal_data(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    holder = new_holder()
    with transaction(db) as conn:
        res = checks.run_check(conn, holder, audit, actors.employer, request())
    assert res.outcome == "clear"
    assert res.list_version == 0
    with transaction(db) as conn:
        row = check_repo.get_check(conn, res.id)
        events = audit_rows(conn)
    assert row is not None and row.outcome == "clear" and row.settled_at is not None
    assert row.organisation_id == actors.employer.org_id
    assert row.user_id == actors.employer.user_id
    assert [e[0] for e in events] == ["check.create"]
    assert events[0][1] == str(res.id)
    detail = events[0][2]
    for personal in ("Alice", "Oyelaran", "1980"):
        assert personal not in detail


def test_a_listed_person_is_barred_with_explained_candidates_and_an_alert(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    entry = bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    holder = new_holder()
    with transaction(db) as conn:
        res = checks.run_check(conn, holder, audit, actors.employer, request())
    assert res.outcome == "barred"
    assert res.list_version == 1
    with transaction(db) as conn:
        cands = check_repo.candidates(conn, res.id)
        alerts = check_repo.list_alerts(conn)
        row = check_repo.get_check(conn, res.id)
    assert cands[0].entry_id == entry
    assert cands[0].band == "match"
    assert cands[0].explanation  # per-field explanation stored
    assert row is not None and row.matcher_version
    assert [(a.check_id, a.kind) for a in alerts] == [(res.id, "barred")]


def test_only_the_lists_the_workforce_covers_are_searched(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12", lists="children")
    holder = new_holder()
    with transaction(db) as conn:
        adults = checks.run_check(conn, holder, audit, actors.employer, request(workforce="adults"))
        children = checks.run_check(
            conn, holder, audit, actors.employer, request(workforce="children")
        )
        both = checks.run_check(conn, holder, audit, actors.employer, request(workforce="both"))
    assert adults.outcome == "clear"
    assert children.outcome == "barred"
    assert both.outcome == "barred"


def test_a_possible_match_is_under_review_with_a_review_item(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    # Same names but for a middle name, one digit of the year of birth differs: doubtful.
    bar(db, audit, "Alice", "Oyelaran", "1985-03-12")
    holder = new_holder()
    with transaction(db) as conn:
        res = checks.run_check(conn, holder, audit, actors.employer, request())
        items = review_repo.items_for_check(conn, res.id)
        alerts = check_repo.list_alerts(conn)
    assert res.outcome == "under_review"
    assert [(i.kind, i.status) for i in items] == [("possible_match", "pending")]
    assert [a.kind for a in alerts] == ["under_review"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"forenames": "  "}, "forenames"),
        ({"surname": ""}, "surname"),
        ({"reference": "x" * 101}, "reference"),
        ({"dob": date.today() + timedelta(days=1)}, "date_of_birth"),
        ({"workforce": "pets"}, "workforce"),
        ({"gender": "other"}, "gender"),
        ({"previous_names": ("Smith",)}, "previous_names[0]"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    db: ConnectionPool,
    audit: AuditLog,
    actors: Actors,
    change: dict[str, Any],
    field: str,
) -> None:
    holder = new_holder()
    with pytest.raises(ValidationFailed) as err, transaction(db) as conn:
        checks.run_check(conn, holder, audit, actors.employer, request(**change))
    assert [e.field for e in err.value.errors] == [field]
    assert "Oyelaran" not in str(err.value)
    with transaction(db) as conn:
        assert count(conn, "identity_check") == 0
        assert count(conn, "audit_event") == 0


def test_only_clients_run_checks(db: ConnectionPool, audit: AuditLog, actors: Actors) -> None:
    with pytest.raises(Forbidden), transaction(db) as conn:
        checks.run_check(conn, new_holder(), audit, actors.caseworker, request())


def test_a_matcher_fault_is_incomplete_never_clear_and_a_retry_settles_it(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    holder = FaultyHolder(new_holder().thresholds)
    with transaction(db) as conn:
        res = checks.run_check(conn, holder, audit, actors.employer, request())
    assert res.outcome == "incomplete"
    assert res.list_version is None
    with db.connection() as conn:
        still = checks.retry_incomplete(conn, holder, audit)
    assert still == {"incomplete": 1}
    holder.fail = False
    with db.connection() as conn:
        settled = checks.retry_incomplete(conn, holder, audit)
        row = check_repo.get_check(conn, res.id)
        actions = [a for a, _, _ in audit_rows(conn)]
    assert settled == {"barred": 1}
    assert row is not None and row.outcome == "barred" and row.list_version == 1
    assert actions.count("check.create") == 1 and actions.count("check.retry") == 1


def test_database_down_mid_check_writes_nothing(
    db: ConnectionPool, owner_url: str, audit: AuditLog, actors: Actors
) -> None:
    class KillingHolder(MatcherHolder):
        """Kills its own database session from another connection before matching."""

        def prepare(self, conn: psycopg.Connection[Any]) -> int:
            version = super().prepare(conn)
            with psycopg.connect(owner_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            return version

    holder = KillingHolder(new_holder().thresholds)
    with pytest.raises(psycopg.OperationalError), transaction(db) as conn:
        checks.run_check(conn, holder, audit, actors.employer, request())
    with transaction(db) as conn:
        assert count(conn, "identity_check") == 0
        assert count(conn, "audit_event") == 0


def test_other_organisations_cannot_see_a_check(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    with transaction(db) as conn:
        res = checks.run_check(conn, new_holder(), audit, actors.employer, request())
        assert checks.get_for_org(conn, actors.employer, res.id).outcome == "clear"
        with pytest.raises(NotFound):
            checks.get_for_org(conn, actors.other_employer, res.id)
        assert checks.search_for_org(conn, actors.other_employer, "REF-1") == []
        found = checks.search_for_org(conn, actors.employer, "REF-1")
    assert [f.id for f in found] == [res.id]


def test_a_check_in_flight_when_a_bar_commits_records_the_new_version(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    from tests.vbs.checks_support import SYSTEM_LIST
    from vbs.services import barred_list as bl

    holder = new_holder()
    with transaction(db) as conn:  # build the index first (version 0)
        checks.run_check(conn, holder, audit, actors.employer, request(surname="Nobody"))
    results: list[checks.CheckResult] = []
    with db.connection() as writer:
        with writer.transaction():
            bl.add_entry(
                writer,
                audit,
                SYSTEM_LIST,
                bl.EntryInput(
                    forenames="Alice Mary",
                    surname="Oyelaran",
                    date_of_birth="1980-03-12",
                    lists="children|adults",
                ),
                reason="test bar",
            )

            def run() -> None:
                with transaction(db) as conn:
                    results.append(
                        checks.run_check(conn, holder, audit, actors.employer, request())
                    )

            t = threading.Thread(target=run)
            t.start()
            time.sleep(0.5)  # the check matched on version 0 and waits on the list lock
            assert t.is_alive()
        t.join(10)
    assert results and results[0].outcome == "barred"
    assert results[0].list_version == 1


def test_batch_rows_are_recorded_once_even_when_run_twice_at_once(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    bar(db, audit, "Kofi", "Quist", "1985-03-12")  # row 2 is a possible match
    holder = new_holder()
    batch_id = new_batch(db, actors.employer)
    assert actors.employer.org_id is not None
    org = actors.employer.org_id
    rows = [
        BatchRowInput(1, request(reference="R1")),
        BatchRowInput(2, request(reference="R2", surname="Quist", forenames="Kofi")),
        BatchRowInput(3, request(reference="R3", surname="Brown", forenames="Jo")),
    ]
    with transaction(db) as conn:
        first = checks.record_batch_rows(conn, holder, batch_id, org, rows)
    assert first.outcomes == {"barred": 1, "under_review": 1, "clear": 1}
    with transaction(db) as conn:
        items = review_repo.items_for_check(conn, first.inserted[2])
        alerts = sorted((a.check_id, a.kind) for a in check_repo.list_alerts(conn))
        cands = check_repo.candidates(conn, first.inserted[1])
    assert [(i.kind, i.status) for i in items] == [("possible_match", "pending")]
    assert alerts == sorted([(first.inserted[1], "barred"), (first.inserted[2], "under_review")])
    assert cands and cands[0].band == "match" and cands[0].explanation
    assert sorted(first.inserted) == [1, 2, 3]
    outs: list[checks.BatchRecordResult] = []

    def again() -> None:
        with transaction(db) as conn:
            outs.append(checks.record_batch_rows(conn, holder, batch_id, org, rows))

    threads = [threading.Thread(target=again) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert [o.inserted for o in outs] == [{}, {}]
    with transaction(db) as conn:
        n = conn.execute(
            "SELECT count(*), count(DISTINCT batch_row) FROM identity_check WHERE batch_id = %s",
            (batch_id,),
        ).fetchone()
        cands = conn.execute("SELECT count(*) FROM match_candidate").fetchone()
    assert n == (3, 3)
    assert cands is not None and cands[0] >= 1
    assert [a for a, _, _ in audit_rows_of(db)].count("check.create") == 0


def audit_rows_of(pool: ConnectionPool) -> list[tuple[str, str | None, str]]:
    with transaction(pool) as conn:
        return audit_rows(conn)


def test_batch_rows_matcher_fault_is_incomplete(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    holder = FaultyHolder(new_holder().thresholds)
    assert actors.employer.org_id is not None
    batch_id = new_batch(db, actors.employer)
    with transaction(db) as conn:
        res = checks.record_batch_rows(
            conn, holder, batch_id, actors.employer.org_id, [BatchRowInput(7, request())]
        )
    assert res.outcomes == {"incomplete": 1}
    holder.fail = False
    with db.connection() as conn:
        settled = checks.retry_incomplete(conn, holder, audit, batch_id=batch_id)
    assert settled == {"clear": 1}


def test_a_batch_check_must_name_an_existing_batch(
    db: ConnectionPool, owner_url: str, actors: Actors
) -> None:
    assert actors.employer.org_id is not None
    org = actors.employer.org_id
    rows = [BatchRowInput(1, request(reference="R1"))]
    with pytest.raises(psycopg.errors.ForeignKeyViolation), transaction(db) as conn:
        checks.record_batch_rows(conn, new_holder(), uuid.uuid4(), org, rows)
    with pytest.raises(psycopg.errors.ForeignKeyViolation), transaction(db) as conn:
        conn.execute(
            "INSERT INTO identity_check (organisation_id, batch_id, batch_row, reference, "
            "forenames, surname, date_of_birth, workforce, outcome) "
            "VALUES (%s, %s, 1, 'R1', 'A', 'B', '1980-01-01', 'both', 'incomplete')",
            (org, uuid.uuid4()),
        )
    with transaction(db) as conn:
        assert count(conn, "identity_check") == 0
    # A real batch takes its checks; it cannot then be deleted from under their outcomes.
    batch_id = new_batch(db, actors.employer)
    empty = new_batch(db, actors.employer)
    with transaction(db) as conn:
        checks.record_batch_rows(conn, new_holder(), batch_id, org, rows)
    with psycopg.connect(owner_url) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation), conn.transaction():
            conn.execute("DELETE FROM batch WHERE id = %s", (batch_id,))
        conn.execute("DELETE FROM batch WHERE id = %s", (empty,))  # no checks: allowed
        left = conn.execute("SELECT count(*) FROM batch").fetchone()
    assert left == (1,)


# --- the check path's concurrency: match first, then one short transaction ---------------


def test_a_check_matches_with_no_transaction_open(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    """With an autocommit connection (the API's), nothing is open while the matcher runs."""
    seen: list[psycopg.pq.TransactionStatus] = []

    with db.connection() as conn:
        conn.autocommit = True

        class Watching(MatcherHolder):
            def match_request_now(self, req: checks.CheckRequest) -> MatchOutcome:
                seen.append(conn.info.transaction_status)
                return super().match_request_now(req)

        res = checks.run_check(
            conn, Watching(new_holder().thresholds), audit, actors.employer, request()
        )
        conn.autocommit = False
    assert res.outcome == "clear"
    assert seen == [psycopg.pq.TransactionStatus.IDLE]


def test_a_list_change_between_match_and_commit_is_matched_again(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    """The person is barred (version 1) after the match at version 0 and before the check's
    transaction: the check sees the newer version under its lock and matches again."""
    holder = new_holder()
    with transaction(db) as conn:  # build the index at version 0
        checks.run_check(conn, holder, audit, actors.employer, request(surname="Nobody"))

    matches: list[int] = []

    class BarredMeanwhile(MatcherHolder):
        def match_request_now(self, req: checks.CheckRequest) -> MatchOutcome:
            out = super().match_request_now(req)
            matches.append(out.list_version)
            if len(matches) == 1:
                bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
            return out

    racing = BarredMeanwhile(holder.thresholds)
    with db.connection() as conn:
        conn.autocommit = True
        res = checks.run_check(conn, racing, audit, actors.employer, request())
        conn.autocommit = False
    assert matches == [0, 1]
    assert res.outcome == "barred" and res.list_version == 1
    with transaction(db) as conn:
        row = check_repo.get_check(conn, res.id)
        detail = [d for a, o, d in audit_rows(conn) if a == "check.create" and o == str(res.id)]
    assert row is not None and row.outcome == "barred" and row.list_version == 1
    assert len(detail) == 1 and '"list_version": 1' in detail[0]


def test_a_check_whose_list_version_holds_is_matched_once(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")

    class Counting(MatcherHolder):
        calls = 0

        def match_request_now(self, req: checks.CheckRequest) -> MatchOutcome:
            self.calls += 1
            return super().match_request_now(req)

    holder = Counting(new_holder().thresholds)
    with db.connection() as conn:
        conn.autocommit = True
        res = checks.run_check(conn, holder, audit, actors.employer, request())
        conn.autocommit = False
    assert res.outcome == "barred" and holder.calls == 1


def test_a_check_on_an_idle_connection_not_in_autocommit_commits(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    """The match's read must not leave an implicit transaction that swallows the check."""
    with db.connection() as conn:
        res = checks.run_check(conn, new_holder(), audit, actors.employer, request())
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with transaction(db) as conn:
        assert check_repo.get_check(conn, res.id) is not None


def test_concurrent_checks_and_a_bar_are_all_recorded_with_a_valid_chain(
    db: ConnectionPool, audit: AuditLog, actors: Actors
) -> None:
    """Many checks at once on one holder (as in an API process), a bar in the middle: each
    check has one row and one audit event, and the chain verifies."""
    holder = new_holder()
    with transaction(db) as conn:
        holder.load(conn)
    results: list[checks.CheckResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(9)

    def one(i: int) -> None:
        try:
            start.wait(10)
            for j in range(5):
                with db.connection() as conn:
                    conn.autocommit = True
                    req = request(reference=f"C-{i}-{j}")
                    results.append(checks.run_check(conn, holder, audit, actors.employer, req))
                    conn.autocommit = False
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    start.wait(10)
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    for t in threads:
        t.join(60)
    assert not errors
    assert len(results) == 40
    with transaction(db) as conn:
        assert count(conn, "identity_check") == 40
        events = [str(o) for a, o, _ in audit_rows(conn) if a == "check.create"]
    assert sorted(events) == sorted(str(r.id) for r in results)
    for r in results:  # before the bar clear at version 0, after it barred at version 1
        assert (r.outcome, r.list_version) in {("clear", 0), ("barred", 1)}
    with db.connection() as conn:
        report = audit.verify(conn)
    assert report.ok, report.summary()
