from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vbs.principal import Principal
from vbs.services import barred_list as bl
from vbs.services import cases
from vbs.services.cases import CaseInput

ORG = uuid.uuid4()
CW1 = Principal(role="caseworker", user_id=uuid.uuid4(), org_id=ORG)
CW2 = Principal(role="caseworker", user_id=uuid.uuid4(), org_id=ORG)
SENIOR1 = Principal(role="senior_caseworker", user_id=uuid.uuid4(), org_id=ORG)
SENIOR2 = Principal(role="senior_caseworker", user_id=uuid.uuid4(), org_id=ORG)
EMPLOYER = Principal(role="employer", user_id=uuid.uuid4(), org_id=uuid.uuid4())
OTHER_EMPLOYER = Principal(role="employer", user_id=uuid.uuid4(), org_id=uuid.uuid4())

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=365 * 20)


def referral(**kw: object) -> CaseInput:
    base: dict[str, object] = {
        "forenames": "Dana",
        "surname": "Whitcombe",
        "date_of_birth": "1990-04-02",
        "summary": "Concerns raised by the employer about conduct with pupils.",
    }
    base.update(kw)
    return CaseInput(**base)  # type: ignore[arg-type]


def step(
    conn: psycopg.Connection,
    audit: AuditLog,
    case_id: uuid.UUID,
    action: str,
    who: Principal = CW1,
    *,
    now: datetime = T0,
    lists: str | None = None,
) -> cases.TransitionResult:
    return cases.transition(
        conn, audit, who, case_id, action, f"because {action}", lists=lists, now=now
    )


PATHS: dict[str, list[tuple[str, Principal, datetime]]] = {
    "referral_received": [],
    "initial_assessment": [("begin_assessment", CW1, T0)],
    "no_further_action": [
        ("begin_assessment", CW1, T0),
        ("decide_no_further_action", CW1, T0),
    ],
}
PATHS["information_gathering"] = [*PATHS["initial_assessment"], ("gather_information", CW1, T0)]
PATHS["risk_assessment"] = [*PATHS["information_gathering"], ("assess_risk", CW1, T0)]
PATHS["minded_to_bar"] = [*PATHS["risk_assessment"], ("send_minded_to_bar", CW1, T0)]
PATHS["representations_received"] = [
    *PATHS["minded_to_bar"],
    ("receive_representations", CW1, T0),
]
PATHS["representations_closed"] = [
    *PATHS["minded_to_bar"],
    ("close_representations", CW1, T0 + timedelta(weeks=8)),
]
PATHS["awaiting_approval"] = [*PATHS["representations_received"], ("decide_bar", CW1, T0)]
PATHS["barred"] = [*PATHS["awaiting_approval"], ("approve_bar", SENIOR1, T0)]
PATHS["appealed"] = [*PATHS["barred"], ("lodge_appeal", CW1, T0)]
PATHS["remitted"] = [*PATHS["appealed"], ("tribunal_remit", CW1, T0)]
PATHS["removed"] = [*PATHS["appealed"], ("tribunal_remove", CW1, T0)]
PATHS["under_review"] = [*PATHS["barred"], ("begin_review", CW1, LATER)]

LEGAL: dict[str, set[str]] = {
    "referral_received": {"begin_assessment"},
    "initial_assessment": {"gather_information", "decide_no_further_action"},
    "information_gathering": {"assess_risk", "decide_no_further_action"},
    "risk_assessment": {"send_minded_to_bar", "decide_no_further_action"},
    "minded_to_bar": {"receive_representations", "close_representations"},
    "representations_received": {"decide_bar", "decide_no_further_action"},
    "representations_closed": {"decide_bar", "decide_no_further_action"},
    "awaiting_approval": {"approve_bar", "return_decision"},
    "barred": {"lodge_appeal", "begin_review"},
    "no_further_action": set(),
    "appealed": {"tribunal_dismiss", "tribunal_remove", "tribunal_remit"},
    "remitted": {"decide_bar", "decide_no_further_action"},
    "under_review": {"review_uphold", "review_remove"},
    "removed": set(),
}
TARGET = {
    "begin_assessment": "initial_assessment",
    "gather_information": "information_gathering",
    "assess_risk": "risk_assessment",
    "send_minded_to_bar": "minded_to_bar",
    "receive_representations": "representations_received",
    "close_representations": "representations_closed",
    "decide_bar": "awaiting_approval",
    "decide_no_further_action": "no_further_action",
    "approve_bar": "barred",
    "return_decision": "representations_received",
    "lodge_appeal": "appealed",
    "tribunal_dismiss": "barred",
    "tribunal_remove": "removed",
    "tribunal_remit": "remitted",
    "begin_review": "under_review",
    "review_uphold": "barred",
    "review_remove": "removed",
}


def case_in(
    conn: psycopg.Connection, audit: AuditLog, state: str, route: str = "discretionary"
) -> cases.CaseRow:
    case = cases.open_case(conn, audit, CW1, referral(route=route), now=T0)
    for action, who, now in PATHS[state]:
        step(conn, audit, case.id, action, who, now=now, lists="children|adults")
    case = cases.get_case(conn, case.id)
    assert case.state == state
    return case


def test_state_table_covers_every_state() -> None:
    assert set(LEGAL) == set(cases.STATES) == set(PATHS)
    assert set(TARGET) == cases.ACTIONS


@pytest.mark.parametrize("state", sorted(LEGAL))
def test_every_legal_and_illegal_transition(
    db: ConnectionPool, audit: AuditLog, state: str
) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, state)
        assert set(cases.allowed_actions(case, now=LATER)) == LEGAL[state]
        for action in sorted(cases.ACTIONS):
            who = SENIOR2  # a senior caseworker who decided nothing: only the state decides
            if action in LEGAL[state]:
                with conn.transaction():
                    result = step(conn, audit, case.id, action, who, now=LATER, lists="adults")
                    assert result.case.state == TARGET[action], action
                    raise psycopg.Rollback()
            else:
                with pytest.raises(Conflict), conn.transaction():
                    step(conn, audit, case.id, action, who, now=LATER, lists="adults")
        assert cases.get_case(conn, case.id).state == state


def test_full_path_to_a_bar_creates_the_entry_in_the_same_transaction(
    db: ConnectionPool, audit: AuditLog
) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "awaiting_approval")
        assert case.decided_by == CW1.user_id and case.decision_lists == 3
        assert case.representations_due == T0 + timedelta(weeks=8)
    with transaction(db) as conn:
        result = cases.decide_approval(
            conn, audit, SENIOR1, case.id, approve=True, reason="agreed", now=T0
        )
    assert result.case.state == "barred" and result.entry_id is not None
    assert result.list_version == 1
    with transaction(db) as conn:
        entry = bl.get_entry(conn, result.entry_id)
        assert (entry.forenames, entry.surname, entry.date_of_birth) == (
            "Dana",
            "Whitcombe",
            "1990-04-02",
        )
        assert entry.lists == 3 and entry.case_reference == case.reference
        assert entry.barred_on == T0.date()
        changes = bl.changes_since(conn, 0)
        assert [(c.kind, c.entry_id) for c in changes] == [("add", result.entry_id)]
        hist = bl.history(conn)
        assert hist[0].case_id == case.id and hist[0].by_user == SENIOR1.user_id
        final = cases.get_case(conn, case.id)
        assert final.approved_by == SENIOR1.user_id
        # Aged 35 when barred: 10 years before a review.
        assert final.review_eligible_on == date(2036, 1, 5)
        view = cases.view_case(conn, case.id, CW1, now=T0)
        assert [t.action for t in view.timeline] == [
            "open",
            "begin_assessment",
            "gather_information",
            "assess_risk",
            "send_minded_to_bar",
            "receive_representations",
            "decide_bar",
            "approve_bar",
        ]
        assert all(t.reason for t in view.timeline)
        assert view.timeline[-1].by_user == SENIOR1.user_id
        assert view.allowed == ["lodge_appeal"]  # review not yet due
        events = conn.execute(
            "SELECT action, object_id, detail::text FROM audit_event ORDER BY seq"
        ).fetchall()
    transitions = [e for e in events if e[0] == "case.transition"]
    assert len(transitions) == 7 and all(e[1] == str(case.id) for e in transitions)
    assert [e[0] for e in events].count("list.add") == 1
    assert not any("Whitcombe" in e[2] or "1990" in e[2] for e in events)


def test_a_failed_approval_leaves_no_entry(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "awaiting_approval")
    with pytest.raises(RuntimeError), transaction(db) as conn:
        cases.decide_approval(conn, audit, SENIOR1, case.id, approve=True, reason="ok", now=T0)
        raise RuntimeError("fault after the entry was written")
    with transaction(db) as conn:
        assert bl.current_version(conn) == 0
        assert cases.get_case(conn, case.id).state == "awaiting_approval"


def test_maker_checker(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "representations_received")
        step(conn, audit, case.id, "decide_bar", SENIOR1, lists="children")
    with transaction(db) as conn, pytest.raises(Forbidden, match="second caseworker"):
        cases.decide_approval(conn, audit, SENIOR1, case.id, approve=True, reason="mine")
    with transaction(db) as conn, pytest.raises(Forbidden, match="senior"):
        cases.decide_approval(conn, audit, CW2, case.id, approve=True, reason="not senior")
    with transaction(db) as conn:
        assert cases.get_case(conn, case.id).state == "awaiting_approval"
        returned = cases.decide_approval(
            conn, audit, SENIOR2, case.id, approve=False, reason="more evidence needed"
        )
        assert returned.case.state == "representations_received"
        assert returned.case.decided_by is None
        step(conn, audit, case.id, "decide_bar", CW1, lists="children")
        approved = cases.decide_approval(conn, audit, SENIOR1, case.id, approve=True, reason="ok")
        assert approved.case.state == "barred"
        assert bl.get_entry(conn, approved.case.entry_id).lists == bl.LIST_CHILDREN  # type: ignore[arg-type]


def test_decide_bar_needs_lists(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "representations_closed")
    with transaction(db) as conn, pytest.raises(ValidationFailed) as err:
        step(conn, audit, case.id, "decide_bar", lists=None)
    assert err.value.errors[0].field == "lists"
    with transaction(db) as conn, pytest.raises(ValidationFailed):
        step(conn, audit, case.id, "decide_bar", lists="pets")


def test_automatic_bar_without_representations_skips_minded_to_bar(
    db: ConnectionPool, audit: AuditLog
) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "risk_assessment", route="automatic_without_representations")
        assert set(cases.allowed_actions(case)) == {"decide_bar", "decide_no_further_action"}
        with pytest.raises(Conflict), conn.transaction():
            step(conn, audit, case.id, "send_minded_to_bar")
        step(conn, audit, case.id, "decide_bar", lists="adults")
        done = cases.decide_approval(conn, audit, SENIOR1, case.id, approve=True, reason="auto")
        assert done.case.state == "barred"
    with transaction(db) as conn:
        # With representations: the same path as discretionary, no shortcut.
        other = case_in(conn, audit, "risk_assessment", route="automatic_with_representations")
        with pytest.raises(Conflict), conn.transaction():
            step(conn, audit, other.id, "decide_bar", lists="adults")


def test_advance_overdue_moves_only_cases_past_their_deadline(
    db: ConnectionPool, audit: AuditLog
) -> None:
    with transaction(db) as conn:
        due = case_in(conn, audit, "minded_to_bar")
        fresh = cases.open_case(conn, audit, CW1, referral(), now=T0)
        for action, who, _ in PATHS["risk_assessment"]:
            step(conn, audit, fresh.id, action, who)
        step(conn, audit, fresh.id, "send_minded_to_bar", now=T0 + timedelta(weeks=4))
    deadline = T0 + timedelta(weeks=8)
    with transaction(db) as conn, pytest.raises(Conflict, match="deadline"):
        step(conn, audit, due.id, "close_representations", now=deadline - timedelta(seconds=1))
    with transaction(db) as conn:
        assert cases.advance_overdue(conn, audit, deadline - timedelta(seconds=1)) == []
    with transaction(db) as conn:
        assert cases.advance_overdue(conn, audit, deadline) == [due.id]
    with transaction(db) as conn:
        moved = cases.view_case(conn, due.id)
        assert moved.case.state == "representations_closed"
        assert moved.timeline[-1].by_role == "system"
        assert moved.timeline[-1].reason == cases.OVERDUE_REASON
        assert cases.get_case(conn, fresh.id).state == "minded_to_bar"
        assert cases.advance_overdue(conn, audit, deadline) == []  # nothing left to move


def test_advance_overdue_twice_at_once_moves_each_case_once(
    db: ConnectionPool, audit: AuditLog
) -> None:
    with transaction(db) as conn:
        ids = {case_in(conn, audit, "minded_to_bar").id for _ in range(4)}
    moved: list[uuid.UUID] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with transaction(db) as conn:
            barrier.wait()
            moved.extend(cases.advance_overdue(conn, audit, LATER))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(moved) == sorted(ids)
    with transaction(db) as conn:
        n = conn.execute(
            "SELECT count(*) FROM case_transition WHERE action = 'close_representations'"
        ).fetchone()
    assert n == (4,)


def test_tribunal_removal_removes_the_entry(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "appealed")
        entry_id = case.entry_id
        assert entry_id is not None
        result = step(conn, audit, case.id, "tribunal_remove")
        assert result.case.state == "removed" and result.list_version == 2
        assert bl.get_entry(conn, entry_id).status == "removed"
        assert [c.kind for c in bl.changes_since(conn, 0)] == ["add", "remove"]


def test_tribunal_dismissal_keeps_the_bar(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "appealed")
        step(conn, audit, case.id, "tribunal_dismiss")
        assert bl.get_entry(conn, case.entry_id).status == "barred"  # type: ignore[arg-type]
        assert bl.current_version(conn) == 1


def test_remitted_then_no_further_action_removes_the_entry(
    db: ConnectionPool, audit: AuditLog
) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "remitted")
        assert bl.get_entry(conn, case.entry_id).status == "barred"  # type: ignore[arg-type]
        step(conn, audit, case.id, "decide_no_further_action")
        assert bl.get_entry(conn, case.entry_id).status == "removed"  # type: ignore[arg-type]


def test_remitted_then_barred_again_replaces_the_entry(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "remitted")
        old = case.entry_id
        step(conn, audit, case.id, "decide_bar", CW2, lists="adults")
        result = cases.decide_approval(conn, audit, SENIOR2, case.id, approve=True, reason="ok")
        assert result.entry_id is not None and result.entry_id != old
        assert bl.get_entry(conn, old).status == "removed"  # type: ignore[arg-type]
        new = bl.get_entry(conn, result.entry_id)
        assert new.status == "barred" and new.lists == bl.LIST_ADULTS
        assert [(c.version, c.kind) for c in bl.changes_since(conn, 0)] == [
            (1, "add"),
            (2, "add"),
            (3, "remove"),
        ]


def test_review_only_after_the_minimum_period_and_removal_by_a_senior(
    db: ConnectionPool, audit: AuditLog
) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "barred")
        assert case.review_eligible_on == date(2036, 1, 5)
        with pytest.raises(Conflict, match="minimum barred period"), conn.transaction():
            step(conn, audit, case.id, "begin_review", now=datetime(2036, 1, 4, tzinfo=UTC))
        step(conn, audit, case.id, "begin_review", now=datetime(2036, 1, 5, tzinfo=UTC))
        with pytest.raises(Forbidden), conn.transaction():
            step(conn, audit, case.id, "review_remove", CW1)
        step(conn, audit, case.id, "review_uphold")
        assert bl.get_entry(conn, case.entry_id).status == "barred"  # type: ignore[arg-type]
        step(conn, audit, case.id, "begin_review", now=LATER)
        result = step(conn, audit, case.id, "review_remove", SENIOR2)
        assert result.case.state == "removed"
        assert bl.get_entry(conn, case.entry_id).status == "removed"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dob", "barred_on", "years"),
    [
        (date(2009, 6, 1), date(2026, 5, 31), 1),  # 16
        (date(2008, 6, 1), date(2026, 5, 31), 1),  # 17, a day short of 18
        (date(2008, 6, 1), date(2026, 6, 1), 5),  # 18 that day
        (date(2001, 6, 2), date(2026, 6, 1), 5),  # 24
        (date(2001, 6, 1), date(2026, 6, 1), 10),  # 25
        (date(1960, 1, 1), date(2026, 6, 1), 10),
    ],
)
def test_minimum_barred_period(dob: date, barred_on: date, years: int) -> None:
    assert cases.minimum_barred_years(dob, barred_on) == years


def test_review_date_for_a_young_person(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = cases.open_case(conn, audit, CW1, referral(date_of_birth="2010-02-01"), now=T0)
        for action, who, now in PATHS["barred"]:
            step(conn, audit, case.id, action, who, now=now, lists="children")
        assert cases.get_case(conn, case.id).review_eligible_on == date(2027, 1, 5)


def test_employer_referral(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = cases.open_case(conn, audit, EMPLOYER, referral(previous_names=["Dana Smith"]))
        assert case.route == "discretionary" and case.referred_by_org == EMPLOYER.org_id
        assert cases.referral_status(case) == "received"
        assert cases.get_referral(conn, EMPLOYER, case.id).id == case.id
        with pytest.raises(NotFound):
            cases.get_referral(conn, OTHER_EMPLOYER, case.id)
        with pytest.raises(ValidationFailed):
            cases.open_case(conn, audit, EMPLOYER, referral(route="automatic_with_representations"))
        step(conn, audit, case.id, "begin_assessment")
        assert cases.referral_status(cases.get_case(conn, case.id)) == "under_consideration"
        action = conn.execute("SELECT action FROM audit_event ORDER BY seq LIMIT 1").fetchone()
        assert action == ("referral.create",)


def test_employer_cannot_move_a_case(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = cases.open_case(conn, audit, EMPLOYER, referral())
        with pytest.raises(Forbidden):
            step(conn, audit, case.id, "begin_assessment", EMPLOYER)


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("date_of_birth", {"date_of_birth": "1990-02-30"}),
        ("date_of_birth", {"date_of_birth": "2999-01-01"}),
        ("date_of_birth", {"date_of_birth": "1990"}),
        ("forenames", {"forenames": ""}),
        ("summary", {"summary": "   "}),
        ("route", {"route": "whim"}),
    ],
)
def test_open_case_validation(
    db: ConnectionPool, audit: AuditLog, field: str, kw: dict[str, object]
) -> None:
    with transaction(db) as conn, pytest.raises(ValidationFailed) as err:
        cases.open_case(conn, audit, CW1, referral(**kw))
    assert [e.field for e in err.value.errors] == [field]


def test_unknown_case_action_and_reason(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = cases.open_case(conn, audit, CW1, referral())
        with pytest.raises(NotFound), conn.transaction():
            step(conn, audit, uuid.uuid4(), "begin_assessment")
        with pytest.raises(ValidationFailed), conn.transaction():
            step(conn, audit, case.id, "teleport")
        with pytest.raises(ValidationFailed), conn.transaction():
            cases.transition(conn, audit, CW1, case.id, "begin_assessment", "   ")
        listed = cases.list_cases(conn, state="referral_received")
        assert [c.id for c in listed] == [case.id]


def test_cli_advance_overdue(
    db: ConnectionPool,
    audit: AuditLog,
    owner_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vbs.cli import main
    from vbs.config import get_settings

    with transaction(db) as conn:
        case = case_in(conn, audit, "minded_to_bar")  # due 8 weeks after T0, long past
    monkeypatch.setenv("VBS_DATABASE_URL", owner_url)
    monkeypatch.setenv("VBS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert main(["cases", "advance-overdue"]) == 0
    finally:
        get_settings.cache_clear()
    assert "1 case(s) moved on" in capsys.readouterr().out
    with transaction(db) as conn:
        assert cases.get_case(conn, case.id).state == "representations_closed"


def test_two_caseworkers_moving_one_case_at_once(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        case = case_in(conn, audit, "awaiting_approval")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def approve(who: Principal) -> None:
        try:
            with transaction(db) as conn:
                barrier.wait()
                cases.decide_approval(conn, audit, who, case.id, approve=True, reason="ok")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=approve, args=(p,)) for p in (SENIOR1, SENIOR2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    with transaction(db) as conn:
        assert conn.execute("SELECT count(*) FROM barred_entry").fetchone() == (1,)
        assert bl.current_version(conn) == 1
