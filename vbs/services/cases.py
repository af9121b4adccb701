"""Barring cases: a state machine with only legal transitions.

The path of a case::

    referral_received -> initial_assessment -> information_gathering -> risk_assessment
      -> minded_to_bar (letter sent; representations due 8 weeks later)
      -> representations_received | representations_closed (deadline passed)
      -> awaiting_approval (a caseworker decided to bar on children, adults or both)
      -> barred (a second, *senior* caseworker approved: the list entry is created in
         the same transaction)   | no_further_action

Automatic bars without representations skip minded-to-bar (risk_assessment ->
awaiting_approval). A senior caseworker may return a decision instead of approving it
(back to the state it was decided from). Cases may close with no further action at any
assessment stage. After a bar:

    barred -> appealed -> barred (dismissed) | removed (tribunal orders removal: the entry
      is removed) | remitted (back to a decision: bar again, or no further action which
      removes the entry)
    barred -> under_review (only once the minimum barred period has passed: 1 year if the
      person was under 18 when barred, 5 years if 18-24, 10 years if 25 or over)
      -> barred (upheld) | removed (a senior caseworker removes the entry)

Every transition is recorded (who, when, why) in ``case_transition`` and audited (the
audit detail never holds names or dates of birth). :func:`advance_overdue` is the
scheduled job that closes representations whose deadline has passed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from uuid import UUID

import psycopg

from vbs.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from vbs.principal import SYSTEM, Principal
from vbs.repo import cases as repo
from vbs.repo.barred_list import PreviousName
from vbs.repo.cases import CaseRow, NewCase, TransitionRow
from vbs.services import barred_list
from vbs.services.barred_list import Auditor, DuplicateCandidate, DuplicateFinder

Route = Literal[
    "discretionary", "automatic_with_representations", "automatic_without_representations"
]
ROUTES: frozenset[str] = frozenset(
    {"discretionary", "automatic_with_representations", "automatic_without_representations"}
)
REPRESENTATIONS_PERIOD = timedelta(weeks=8)
CASE_ROLES: frozenset[str] = frozenset({"caseworker", "senior_caseworker"})
SENIOR: frozenset[str] = frozenset({"senior_caseworker"})
OVERDUE_REASON = "representations deadline passed"

STATES: tuple[str, ...] = (
    "referral_received",
    "initial_assessment",
    "information_gathering",
    "risk_assessment",
    "minded_to_bar",
    "representations_received",
    "representations_closed",
    "awaiting_approval",
    "barred",
    "no_further_action",
    "appealed",
    "remitted",
    "under_review",
    "removed",
)


@dataclass(frozen=True, slots=True)
class Rule:
    action: str
    sources: frozenset[str]
    target: str | None  # None: decided by the action (return_decision)
    roles: frozenset[str] = CASE_ROLES
    routes: frozenset[str] = ROUTES


def _rule(
    action: str,
    sources: Sequence[str],
    target: str | None,
    roles: frozenset[str] = CASE_ROLES,
    routes: frozenset[str] = ROUTES,
) -> Rule:
    return Rule(action, frozenset(sources), target, roles, routes)


_DECISION_SOURCES = ("representations_received", "representations_closed", "remitted")

RULES: tuple[Rule, ...] = (
    _rule("begin_assessment", ["referral_received"], "initial_assessment"),
    _rule("gather_information", ["initial_assessment"], "information_gathering"),
    _rule("assess_risk", ["information_gathering"], "risk_assessment"),
    _rule(
        "send_minded_to_bar",
        ["risk_assessment"],
        "minded_to_bar",
        routes=frozenset({"discretionary", "automatic_with_representations"}),
    ),
    _rule("receive_representations", ["minded_to_bar"], "representations_received"),
    # Only once the deadline has passed; normally done by advance_overdue (the system).
    _rule(
        "close_representations",
        ["minded_to_bar"],
        "representations_closed",
        roles=CASE_ROLES | {"system"},
    ),
    _rule("decide_bar", _DECISION_SOURCES, "awaiting_approval"),
    # Automatic bars without representations: straight from risk assessment to decision.
    _rule(
        "decide_bar",
        ["risk_assessment"],
        "awaiting_approval",
        routes=frozenset({"automatic_without_representations"}),
    ),
    _rule(
        "decide_no_further_action",
        [
            "initial_assessment",
            "information_gathering",
            "risk_assessment",
            *_DECISION_SOURCES,
        ],
        "no_further_action",
    ),
    _rule("approve_bar", ["awaiting_approval"], "barred", roles=SENIOR),
    _rule("return_decision", ["awaiting_approval"], None, roles=SENIOR),
    _rule("lodge_appeal", ["barred"], "appealed"),
    _rule("tribunal_dismiss", ["appealed"], "barred"),
    _rule("tribunal_remove", ["appealed"], "removed"),
    _rule("tribunal_remit", ["appealed"], "remitted"),
    _rule("begin_review", ["barred"], "under_review"),
    _rule("review_uphold", ["under_review"], "barred"),
    _rule("review_remove", ["under_review"], "removed", roles=SENIOR),
)
ACTIONS: frozenset[str] = frozenset(r.action for r in RULES)
APPROVAL_ACTIONS: frozenset[str] = frozenset({"approve_bar", "return_decision"})


@dataclass(frozen=True, slots=True)
class CaseInput:
    forenames: str
    surname: str
    date_of_birth: str | date
    summary: str
    route: str = "discretionary"
    previous_names: Sequence[PreviousName | str] = ()
    gender: str | None = None


@dataclass(frozen=True, slots=True)
class TransitionResult:
    case: CaseRow
    entry_id: UUID | None = None
    list_version: int | None = None
    duplicates: tuple[DuplicateCandidate, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseView:
    case: CaseRow
    timeline: list[TransitionRow]
    allowed: list[str]
    duplicates: list[barred_list.Duplicate]


def _now() -> datetime:
    return datetime.now(UTC)


def minimum_barred_years(date_of_birth: date, barred_on: date) -> int:
    """1 year if under 18 when barred, 5 years if 18-24, 10 years if 25 or over."""
    age = barred_on.year - date_of_birth.year
    if (barred_on.month, barred_on.day) < (date_of_birth.month, date_of_birth.day):
        age -= 1
    if age < 18:
        return 1
    if age < 25:
        return 5
    return 10


def review_eligible_on(date_of_birth: date, barred_on: date) -> date:
    years = minimum_barred_years(date_of_birth, barred_on)
    try:
        return barred_on.replace(year=barred_on.year + years)
    except ValueError:  # 29 February
        return barred_on.replace(year=barred_on.year + years, day=28)


# --- opening ---------------------------------------------------------------------------------


def _validate_case(raw: CaseInput, today: date) -> tuple[NewCase | None, list[FieldError]]:
    entry, errors = barred_list.validate_entry(
        barred_list.EntryInput(
            forenames=raw.forenames,
            surname=raw.surname,
            date_of_birth=None,
            lists="children",
            previous_names=raw.previous_names,
            gender=raw.gender,
        )
    )
    dob: date | None = None
    if isinstance(raw.date_of_birth, date):
        dob = raw.date_of_birth
    else:
        try:
            dob = date.fromisoformat(raw.date_of_birth.strip())
        except ValueError:
            errors.append(FieldError("date_of_birth", "not a date: use YYYY-MM-DD"))
    if dob is not None:
        if dob > today:
            errors.append(FieldError("date_of_birth", "date in the future"))
        elif dob.year < 1900:
            errors.append(FieldError("date_of_birth", "year before 1900"))
    summary = barred_list.clean_text(raw.summary, "summary", 10_000, errors)
    if raw.route not in ROUTES:
        errors.append(FieldError("route", "must be one of " + ", ".join(sorted(ROUTES))))
    if errors or entry is None or dob is None:
        return None, errors
    return (
        NewCase(
            route=raw.route,
            forenames=entry.forenames,
            surname=entry.surname,
            date_of_birth=dob,
            previous_names=entry.previous_names,
            gender=entry.gender,
            summary=summary,
            referred_by_org=None,
            referred_by_user=None,
            opened_by_role="",
        ),
        [],
    )


def open_case(
    conn: psycopg.Connection,
    audit: Auditor,
    principal: Principal,
    raw: CaseInput,
    *,
    now: datetime | None = None,
) -> CaseRow:
    """A referral received: a discretionary referral from an employer, or a case opened by
    a caseworker (e.g. an automatic-barring offence notified by a court)."""
    at = now or _now()
    if principal.role == "employer":
        if principal.org_id is None:
            raise Forbidden("a referral needs an employer organisation")
        if raw.route != "discretionary":
            raise ValidationFailed(
                [FieldError("route", "an employer's referral is always discretionary")]
            )
        why = "discretionary referral from an employer"
    elif principal.role in CASE_ROLES:
        why = f"{raw.route.replace('_', ' ')} referral opened by a caseworker"
    else:
        raise Forbidden("only employers and caseworkers open barring cases")
    new, errors = _validate_case(raw, at.date())
    if new is None:
        raise ValidationFailed(errors)
    new = dataclasses.replace(
        new,
        referred_by_org=principal.org_id if principal.role == "employer" else None,
        referred_by_user=principal.user_id,
        opened_by_role=principal.role,
    )
    case = repo.insert_case(conn, new, "referral_received")
    repo.insert_transition(
        conn,
        case_id=case.id,
        action="open",
        from_state=None,
        to_state="referral_received",
        at=at,
        by_user=principal.user_id,
        by_role=principal.role,
        reason=why,
    )
    audit.record(
        conn,
        principal,
        "referral.create" if principal.role == "employer" else "case.open",
        "barring_case",
        str(case.id),
        {"route": case.route, "reference": case.reference},
    )
    return case


# --- transitions -----------------------------------------------------------------------------


def _rules_for(case: CaseRow, action: str) -> list[Rule]:
    return [r for r in RULES if r.action == action and case.route in r.routes]


def _time_ok(case: CaseRow, action: str, at: datetime) -> bool:
    if action == "close_representations":
        return case.representations_due is not None and at >= case.representations_due
    if action == "begin_review":
        return case.review_eligible_on is not None and at.date() >= case.review_eligible_on
    return True


def allowed_actions(
    case: CaseRow, principal: Principal | None = None, *, now: datetime | None = None
) -> list[str]:
    """The actions legal from the case's state now (for this principal's role, if given)."""
    at = now or _now()
    out: list[str] = []
    for r in RULES:
        if case.state not in r.sources or case.route not in r.routes or r.action in out:
            continue
        if principal is not None and principal.role not in r.roles:
            continue
        if _time_ok(case, r.action, at):
            out.append(r.action)
    return out


_reason = barred_list.clean_reason


def _previous_state(conn: psycopg.Connection, case_id: UUID) -> str:
    """The state a decision awaiting approval was made from."""
    for t in reversed(repo.transitions(conn, case_id)):
        if t.to_state == "awaiting_approval" and t.from_state is not None:
            return t.from_state
    raise Conflict("the case has no decision to return")  # pragma: no cover


def _removes_entry(case: CaseRow, action: str) -> bool:
    if action in ("tribunal_remove", "review_remove"):
        return True
    return action == "decide_no_further_action" and case.state == "remitted"


def transition(
    conn: psycopg.Connection,
    audit: Auditor,
    principal: Principal,
    case_id: UUID,
    action: str,
    reason: str,
    *,
    lists: int | str | None = None,
    now: datetime | None = None,
    finder: DuplicateFinder | None = None,
) -> TransitionResult:
    """Apply one legal transition in the caller's transaction (the case row is locked)."""
    at = now or _now()
    why = _reason(reason)
    if action not in ACTIONS:
        raise ValidationFailed(
            [FieldError("action", "unknown action: one of " + ", ".join(sorted(ACTIONS)))]
        )
    if principal.role not in CASE_ROLES | {"system"}:
        raise Forbidden("only caseworkers move barring cases")
    case = repo.get_case(conn, case_id, for_update=True)
    if case is None:
        raise NotFound("no such case")
    rules = [r for r in _rules_for(case, action) if case.state in r.sources]
    if not rules:
        raise Conflict(f"{action} is not allowed from {case.state} on a {case.route} case")
    rule = rules[0]
    if principal.role not in rule.roles:
        if rule.roles == SENIOR:
            raise Forbidden(f"{action} needs a senior caseworker")
        raise Forbidden(f"{action} is not allowed for {principal.role}")
    if not _time_ok(case, action, at):
        if action == "close_representations":
            raise Conflict("the representations deadline has not passed")
        raise Conflict("the minimum barred period has not passed")

    target = rule.target
    updated = case
    entry_id: UUID | None = None
    list_version: int | None = None
    duplicates: tuple[DuplicateCandidate, ...] = ()
    if action == "send_minded_to_bar":
        updated = dataclasses.replace(case, representations_due=at + REPRESENTATIONS_PERIOD)
    elif action == "decide_bar":
        if lists is None:
            raise ValidationFailed([FieldError("lists", "a bar names children, adults or both")])
        try:
            mask = barred_list.parse_lists(lists)
        except ValueError as exc:
            raise ValidationFailed([FieldError("lists", str(exc))]) from None
        if principal.user_id is None:
            raise Forbidden("a decision needs a named caseworker")
        updated = dataclasses.replace(
            case,
            decision_lists=mask,
            decided_by=principal.user_id,
            decided_at=at,
            approved_by=None,
            approved_at=None,
        )
    elif action == "return_decision":
        target = _previous_state(conn, case.id)
        updated = dataclasses.replace(case, decision_lists=None, decided_by=None, decided_at=None)
    elif action == "approve_bar":
        # Maker-checker: the approver is a second person, not the one who decided.
        if principal.user_id is None or principal.user_id == case.decided_by:
            raise Forbidden("a bar must be approved by a second caseworker, not the decider")
        assert case.decision_lists is not None
        barred_on = at.date()
        replaced = case.entry_id
        added = barred_list.add_entry(
            conn,
            audit,
            principal,
            barred_list.NewEntry(
                forenames=case.forenames,
                surname=case.surname,
                date_of_birth=case.date_of_birth.isoformat(),
                previous_names=case.previous_names,
                gender=case.gender,
                lists=case.decision_lists,
                barred_on=barred_on,
                case_reference=case.reference,
            ),
            reason=f"bar approved on case {case.reference}",
            finder=finder,
            case_id=case.id,
            exclude_duplicates=frozenset({replaced}) if replaced else frozenset(),
        )
        list_version = added.version
        if replaced is not None:  # a remitted case barred again: the new entry replaces it
            entry = barred_list.get_entry(conn, replaced)
            if entry.status == "barred":
                list_version = barred_list.remove_entry(
                    conn,
                    audit,
                    principal,
                    replaced,
                    reason=f"replaced by a new decision on case {case.reference}",
                    case_id=case.id,
                )
        entry_id = added.entry_id
        duplicates = tuple(added.duplicates)
        updated = dataclasses.replace(
            case,
            approved_by=principal.user_id,
            approved_at=at,
            entry_id=added.entry_id,
            barred_on=barred_on,
            review_eligible_on=review_eligible_on(case.date_of_birth, barred_on),
        )
    elif _removes_entry(case, action) and case.entry_id is not None:
        entry = barred_list.get_entry(conn, case.entry_id)
        if entry.status == "barred":
            list_version = barred_list.remove_entry(
                conn,
                audit,
                principal,
                case.entry_id,
                reason=f"{action.replace('_', ' ')} on case {case.reference}",
                case_id=case.id,
            )
            entry_id = case.entry_id

    assert target is not None
    updated = dataclasses.replace(updated, state=target)
    repo.save(conn, updated)
    repo.insert_transition(
        conn,
        case_id=case.id,
        action=action,
        from_state=case.state,
        to_state=target,
        at=at,
        by_user=principal.user_id,
        by_role=principal.role,
        reason=why,
    )
    detail: dict[str, object] = {"action": action, "from": case.state, "to": target}
    if list_version is not None:
        detail["list_version"] = list_version
    if action == "decide_bar" and updated.decision_lists is not None:
        detail["lists"] = barred_list.lists_from_mask(updated.decision_lists)
    audit.record(conn, principal, "case.transition", "barring_case", str(case.id), detail)
    fresh = repo.get_case(conn, case.id)
    assert fresh is not None
    return TransitionResult(fresh, entry_id, list_version, duplicates)


def decide_approval(
    conn: psycopg.Connection,
    audit: Auditor,
    principal: Principal,
    case_id: UUID,
    *,
    approve: bool,
    reason: str,
    now: datetime | None = None,
    finder: DuplicateFinder | None = None,
) -> TransitionResult:
    """A senior caseworker approves a decision to bar (the entry is created) or returns it."""
    return transition(
        conn,
        audit,
        principal,
        case_id,
        "approve_bar" if approve else "return_decision",
        reason,
        now=now,
        finder=finder,
    )


def advance_overdue(
    conn: psycopg.Connection,
    audit: Auditor,
    now: datetime | None = None,
    *,
    limit: int = 1000,
) -> list[UUID]:
    """The scheduled job: close representations on every case whose deadline has passed.

    Runs in the caller's transaction; the rows are locked with SKIP LOCKED, so two runs at
    once never move the same case twice. Returns the ids of the cases moved.
    """
    at = now or _now()
    moved = repo.overdue_ids(conn, at, limit)
    for case_id in moved:
        transition(conn, audit, SYSTEM, case_id, "close_representations", OVERDUE_REASON, now=at)
    return moved


# --- reads -----------------------------------------------------------------------------------


def get_case(conn: psycopg.Connection, case_id: UUID) -> CaseRow:
    case = repo.get_case(conn, case_id)
    if case is None:
        raise NotFound("no such case")
    return case


def view_case(
    conn: psycopg.Connection,
    case_id: UUID,
    principal: Principal | None = None,
    *,
    now: datetime | None = None,
) -> CaseView:
    case = get_case(conn, case_id)
    dups = barred_list.duplicates_of(conn, case.entry_id) if case.entry_id else []
    return CaseView(
        case, repo.transitions(conn, case_id), allowed_actions(case, principal, now=now), dups
    )


def list_cases(
    conn: psycopg.Connection,
    *,
    state: str | None = None,
    limit: int = 50,
    before: datetime | None = None,
    before_id: UUID | None = None,
) -> list[CaseRow]:
    """Newest first; page with ``before`` and ``before_id`` (the last case seen)."""
    if state is not None and state not in STATES:
        raise ValidationFailed([FieldError("state", "unknown state")])
    if before_id is not None and before is None:
        raise ValidationFailed([FieldError("before", "before_id needs before")])
    return repo.list_cases(conn, state=state, limit=limit, before=before, before_id=before_id)


ReferralStatus = Literal["received", "under_consideration", "closed"]


def referral_status(case: CaseRow) -> ReferralStatus:
    """What the referring employer may see: never the outcome or the reason."""
    if case.state == "referral_received":
        return "received"
    if case.state in ("no_further_action", "barred", "removed", "appealed", "under_review"):
        return "closed"
    return "under_consideration"


def get_referral(conn: psycopg.Connection, principal: Principal, case_id: UUID) -> CaseRow:
    """The employer's own referral; another organisation's is simply not found."""
    if principal.org_id is None:
        raise NotFound("no such referral")
    case = repo.get_referral(conn, case_id, principal.org_id)
    if case is None:
        raise NotFound("no such referral")
    return case
