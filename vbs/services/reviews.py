"""Caseworker reviews: possible matches, disputes and screening hits, decided match or
no match with a reason; the decision settles the check's outcome.

Settling (one transaction, the check row locked):

- ``match`` -> ``barred``;
- ``no_match`` -> ``under_review`` while other non-dispute items are pending; else
  ``barred`` if an earlier match decision still stands (a dispute upheld as ``no_match``
  overrules the match decisions before it); else ``clear``.

A pending dispute leaves the outcome as it is (a ``barred`` check stays barred until a
caseworker upholds the dispute). Two caseworkers deciding the same item at once leave
exactly one decision: the other gets :class:`~vbs.errors.Conflict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from vbs.audit import AuditLog
from vbs.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from vbs.principal import Principal
from vbs.repo import barred_list as list_repo
from vbs.repo import checks as check_repo
from vbs.repo import reviews as repo
from vbs.repo.reviews import ReviewRow

DECISIONS = frozenset({"match", "no_match"})
MAX_REASON = 2000
DISPUTABLE = frozenset({"barred", "under_review"})


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the side-by-side view: identity fields as stored (None once purged)."""

    forenames: str | None
    surname: str | None
    date_of_birth: str | None
    previous_names: list[str]
    gender: str | None


@dataclass(frozen=True, slots=True)
class CandidateView:
    entry_id: UUID
    rank: int
    band: str
    probability: float
    explanation: Any
    entry: Side
    lists: int | None
    entry_status: str | None
    source: str
    # The barring case that put the entry on the list (None if imported or added outside
    # a case) and the entry's case reference: for caseworkers only.
    case_id: UUID | None = None
    case_reference: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewView:
    item: ReviewRow
    check_id: UUID
    organisation_id: UUID
    reference: str
    workforce: str
    outcome: str
    list_version: int | None
    checked_at: datetime
    check: Side
    candidates: list[CandidateView]


@dataclass(frozen=True, slots=True)
class DecisionResult:
    item: ReviewRow
    check_outcome: str


def _require_caseworker(principal: Principal) -> None:
    if not principal.is_authority or principal.api_key_id is not None:
        raise Forbidden("caseworkers only")


def list_pending(
    conn: psycopg.Connection[Any], principal: Principal, *, limit: int = 100, offset: int = 0
) -> list[ReviewRow]:
    _require_caseworker(principal)
    return repo.pending(conn, min(max(limit, 1), 500), max(offset, 0))


def view(
    conn: psycopg.Connection[Any], audit: AuditLog, principal: Principal, item_id: UUID
) -> ReviewView:
    """The check and its candidates side by side with per-field explanations (audited)."""
    _require_caseworker(principal)
    item = repo.get_item(conn, item_id)
    if item is None:
        raise NotFound("no such review item")
    check = check_repo.get_check(conn, item.check_id)
    assert check is not None  # foreign key
    cands = check_repo.candidates(conn, check.id)
    if item.kind == "screening" and item.entry_id is not None:
        cands = [c for c in cands if c.entry_id == item.entry_id] or cands
    origins = list_repo.entry_cases(conn, [c.entry_id for c in cands])
    views = []
    for c in cands:
        entry = list_repo.get_entry(conn, c.entry_id)
        origin = origins.get(c.entry_id)
        views.append(
            CandidateView(
                entry_id=c.entry_id,
                rank=c.rank,
                band=c.band,
                probability=c.probability,
                explanation=c.explanation,
                entry=Side(
                    entry.forenames if entry else None,
                    entry.surname if entry else None,
                    entry.date_of_birth if entry else None,
                    [f"{p.forenames} {p.surname}" for p in entry.previous_names] if entry else [],
                    entry.gender if entry else None,
                ),
                lists=entry.lists if entry else None,
                entry_status=entry.status if entry else None,
                source=c.source,
                case_id=origin.case_id if origin else None,
                case_reference=origin.case_reference if origin else None,
            )
        )
    result = ReviewView(
        item=item,
        check_id=check.id,
        organisation_id=check.organisation_id,
        reference=check.reference,
        workforce=check.workforce,
        outcome=check.outcome,
        list_version=check.list_version,
        checked_at=check.checked_at,
        check=Side(
            check.forenames,
            check.surname,
            check.date_of_birth.isoformat() if check.date_of_birth else None,
            list(check.previous_names or []),
            check.gender,
        ),
        candidates=views,
    )
    with conn.transaction():
        audit.record(
            conn,
            principal,
            "review.view",
            "review_item",
            str(item.id),
            {"kind": item.kind, "candidates": len(views)},
        )
    return result


def decide(
    conn: psycopg.Connection[Any],
    audit: AuditLog,
    principal: Principal,
    item_id: UUID,
    decision: str,
    reason: str,
) -> DecisionResult:
    """Decide one pending item and settle its check's outcome (one transaction)."""
    _require_caseworker(principal)
    errors = []
    if decision not in DECISIONS:
        errors.append(FieldError("decision", "must be match or no_match"))
    if not reason or not reason.strip():
        errors.append(FieldError("reason", "must not be empty"))
    elif "\x00" in reason:
        errors.append(FieldError("reason", "must not contain NUL characters"))
    elif len(reason) > MAX_REASON:
        errors.append(FieldError("reason", f"must be at most {MAX_REASON} characters"))
    if errors:
        raise ValidationFailed(errors)
    with conn.transaction():
        item = repo.get_item(conn, item_id)
        if item is None:
            raise NotFound("no such review item")
        # Lock the check first: every decision on one check is serialised.
        check = check_repo.get_check(conn, item.check_id, for_update=True)
        assert check is not None
        decided = repo.decide(conn, item_id, decision, reason.strip(), principal.user_id)
        if decided is None:
            raise Conflict("the review item is already decided")
        outcome = settle(conn, decided)
        if outcome != check.outcome:
            check_repo.set_outcome(conn, check.id, outcome)
            if outcome == "barred":
                check_repo.insert_alert(conn, check.id, check.organisation_id, "barred", "review")
        audit.record(
            conn,
            principal,
            "review.decide",
            "review_item",
            str(item_id),
            {
                "kind": decided.kind,
                "decision": decision,
                "check_id": str(check.id),
                "outcome": outcome,
            },
        )
    return DecisionResult(decided, outcome)


def settle(conn: psycopg.Connection[Any], decided: ReviewRow) -> str:
    """The check's outcome after ``decided`` (see the module docstring)."""
    if decided.decision == "match":
        return "barred"
    if repo.has_pending(conn, decided.check_id, exclude_kind="dispute"):
        return "under_review"
    if repo.standing_match(conn, decided.check_id):
        return "barred"
    return "clear"


def dispute(
    conn: psycopg.Connection[Any],
    audit: AuditLog,
    principal: Principal,
    check_id: UUID,
    reason: str,
) -> ReviewRow:
    """The applicant, through the employer, says a barred or under-review outcome is wrong.

    Only for the caller's own organisation's check (another's is NotFound)."""
    if not principal.is_client or principal.org_id is None:
        raise NotFound("no such check")
    if not reason or not reason.strip():
        raise ValidationFailed([FieldError("reason", "must not be empty")])
    if "\x00" in reason:
        raise ValidationFailed([FieldError("reason", "must not contain NUL characters")])
    if len(reason) > MAX_REASON:
        raise ValidationFailed([FieldError("reason", f"must be at most {MAX_REASON} characters")])
    with conn.transaction():
        check = check_repo.get_org_check(conn, principal.org_id, check_id)
        if check is None:
            raise NotFound("no such check")
        if check.outcome not in DISPUTABLE:
            raise Conflict("only a barred or under_review outcome can be disputed")
        new_id = repo.insert_item(conn, check_id, "dispute", raised_reason=reason.strip())
        if new_id is None:
            raise Conflict("a dispute of this check is already pending")
        item = repo.get_item(conn, new_id)
        assert item is not None
        audit.record(
            conn, principal, "check.dispute", "check", str(check_id), {"item": str(new_id)}
        )
    return item
