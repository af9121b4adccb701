"""``/v1/reviews``: caseworkers adjudicate possible matches, disputes and screening hits.

Caseworkers and senior caseworkers only (signed in; never an API key). Viewing an item is
audited; the decision settles the check's outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AuditDep, CaseworkerPrincipal, ConnDep
from api.fields import Reason
from vbs.repo.reviews import ReviewRow
from vbs.services import reviews
from vbs.services.barred_list import lists_from_mask

router = APIRouter(prefix="/v1", tags=["reviews"])


class ReviewItemOut(BaseModel):
    id: UUID
    check_id: UUID
    kind: Literal["possible_match", "dispute", "screening"]
    status: Literal["pending", "decided"]
    created_at: datetime
    raised_reason: str | None = None
    decision: Literal["match", "no_match"] | None = None
    reason: str | None = None
    decided_by: UUID | None = None
    decided_at: datetime | None = None


class ReviewListOut(BaseModel):
    items: list[ReviewItemOut]


class IdentityOut(BaseModel):
    forenames: str | None
    surname: str | None
    date_of_birth: str | None
    previous_names: list[str]
    gender: str | None


class CandidateOut(BaseModel):
    entry_id: UUID
    rank: int
    band: str
    probability: float
    explanation: Any = Field(description="per-field comparison levels and details")
    entry: IdentityOut
    lists: list[str]
    entry_status: str | None
    source: str
    case_reference: str | None = Field(
        description="the case reference of the list entry: the barring case that put it on "
        "the list, or the reference it was imported with (null if none)"
    )
    case_id: UUID | None = Field(
        description="the barring case that put the entry on the list, for "
        "`GET /v1/cases/{case_id}` (null for an entry imported or added outside a case)"
    )


class CheckSideOut(BaseModel):
    id: UUID
    organisation_id: UUID
    reference: str
    workforce: str
    outcome: str
    list_version: int | None
    checked_at: datetime
    identity: IdentityOut


class ReviewDetailOut(BaseModel):
    item: ReviewItemOut
    check: CheckSideOut
    candidates: list[CandidateOut]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["match", "no_match"]
    reason: Reason


class DecisionOut(BaseModel):
    item: ReviewItemOut
    check_outcome: Literal["clear", "barred", "under_review", "incomplete"]


def _item(r: ReviewRow) -> ReviewItemOut:
    return ReviewItemOut(
        id=r.id,
        check_id=r.check_id,
        kind=r.kind,  # type: ignore[arg-type]
        status=r.status,  # type: ignore[arg-type]
        created_at=r.created_at,
        raised_reason=r.raised_reason,
        decision=r.decision,  # type: ignore[arg-type]
        reason=r.reason,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
    )


def _identity(s: reviews.Side) -> IdentityOut:
    return IdentityOut(
        forenames=s.forenames,
        surname=s.surname,
        date_of_birth=s.date_of_birth,
        previous_names=s.previous_names,
        gender=s.gender,
    )


@router.get("/reviews", response_model=ReviewListOut, summary="Pending review items, oldest first")
def list_reviews(
    principal: CaseworkerPrincipal,
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ReviewListOut:
    items = reviews.list_pending(conn, principal, limit=limit, offset=offset)
    return ReviewListOut(items=[_item(i) for i in items])


@router.get(
    "/reviews/{item_id}",
    response_model=ReviewDetailOut,
    summary="The check and its candidates side by side, explained per field (audited)",
)
def get_review(
    item_id: UUID, principal: CaseworkerPrincipal, conn: ConnDep, audit: AuditDep
) -> ReviewDetailOut:
    v = reviews.view(conn, audit, principal, item_id)
    return ReviewDetailOut(
        item=_item(v.item),
        check=CheckSideOut(
            id=v.check_id,
            organisation_id=v.organisation_id,
            reference=v.reference,
            workforce=v.workforce,
            outcome=v.outcome,
            list_version=v.list_version,
            checked_at=v.checked_at,
            identity=_identity(v.check),
        ),
        candidates=[
            CandidateOut(
                entry_id=c.entry_id,
                rank=c.rank,
                band=c.band,
                probability=c.probability,
                explanation=c.explanation,
                entry=_identity(c.entry),
                lists=lists_from_mask(c.lists or 0),
                entry_status=c.entry_status,
                source=c.source,
                case_reference=c.case_reference,
                case_id=c.case_id,
            )
            for c in v.candidates
        ],
    )


@router.post(
    "/reviews/{item_id}/decision",
    response_model=DecisionOut,
    summary="Decide a review item: match or no match, with a reason",
)
def decide_review(
    item_id: UUID,
    body: DecisionIn,
    principal: CaseworkerPrincipal,
    conn: ConnDep,
    audit: AuditDep,
) -> DecisionOut:
    res = reviews.decide(conn, audit, principal, item_id, body.decision, body.reason)
    return DecisionOut(item=_item(res.item), check_outcome=res.check_outcome)  # type: ignore[arg-type]
