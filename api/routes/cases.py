"""Barring cases (caseworkers): list, open, view with timeline, transitions, approval.

Thin: the rules live in :mod:`vbs.services.cases`. Each write is one transaction whose
audit events are written by the service.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CaseworkerPrincipal, ConnDep, SeniorCaseworkerPrincipal, StateDep
from api.fields import Name
from api.routes.list import (
    DuplicateOut,
    PreviousNameOut,
    duplicates_out,
    matcher_finder,
    previous_names_out,
)
from vbs.errors import FieldError, ValidationFailed
from vbs.repo.cases import CaseRow
from vbs.services import barred_list, cases

router = APIRouter(tags=["cases"])

RouteName = Literal[
    "discretionary", "automatic_with_representations", "automatic_without_representations"
]
ListsName = Literal["children", "adults", "both"]
Gender = Literal["female", "male", "unspecified"]


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route: RouteName = "discretionary"
    forenames: Name
    surname: Name
    date_of_birth: date
    previous_names: Annotated[list[Name], Field(max_length=20)] = []
    gender: Gender | None = None
    summary: Annotated[str, Field(min_length=1, max_length=10_000)]


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Annotated[str, Field(min_length=1, max_length=50)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    lists: ListsName | None = Field(
        default=None, description="for decide_bar: the list(s) to bar from"
    )


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class CaseSummary(BaseModel):
    id: UUID
    reference: str
    route: str
    state: str
    created_at: datetime
    updated_at: datetime


class CaseList(BaseModel):
    cases: list[CaseSummary]
    next_before: datetime | None = Field(description="the next page's `before`; null at the end")
    next_before_id: UUID | None = Field(description="the next page's `before_id`; null at the end")


class TransitionOut(BaseModel):
    action: str
    from_state: str | None
    to_state: str
    at: datetime
    by_user: UUID | None
    by_role: str
    reason: str


class CaseDetail(BaseModel):
    id: UUID
    reference: str
    route: str
    state: str
    forenames: str
    surname: str
    date_of_birth: date
    previous_names: list[PreviousNameOut]
    gender: str | None
    summary: str
    referred_by_org: UUID | None
    representations_due: datetime | None
    decision_lists: list[str] | None
    decided_by: UUID | None
    decided_at: datetime | None
    approved_by: UUID | None
    approved_at: datetime | None
    entry_id: UUID | None
    barred_on: date | None
    review_eligible_on: date | None
    created_at: datetime
    updated_at: datetime
    allowed_actions: list[str]
    timeline: list[TransitionOut]
    duplicates: list[DuplicateOut]
    list_version: int | None = Field(
        default=None, description="the list version a transition changed the list at"
    )


def _summary(c: CaseRow) -> CaseSummary:
    return CaseSummary(
        id=c.id,
        reference=c.reference,
        route=c.route,
        state=c.state,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def _detail(view: cases.CaseView, list_version: int | None = None) -> CaseDetail:
    c = view.case
    return CaseDetail(
        id=c.id,
        reference=c.reference,
        route=c.route,
        state=c.state,
        forenames=c.forenames,
        surname=c.surname,
        date_of_birth=c.date_of_birth,
        previous_names=previous_names_out(c.previous_names),
        gender=c.gender,
        summary=c.summary,
        referred_by_org=c.referred_by_org,
        representations_due=c.representations_due,
        decision_lists=barred_list.lists_from_mask(c.decision_lists) if c.decision_lists else None,
        decided_by=c.decided_by,
        decided_at=c.decided_at,
        approved_by=c.approved_by,
        approved_at=c.approved_at,
        entry_id=c.entry_id,
        barred_on=c.barred_on,
        review_eligible_on=c.review_eligible_on,
        created_at=c.created_at,
        updated_at=c.updated_at,
        allowed_actions=view.allowed,
        timeline=[
            TransitionOut(
                action=t.action,
                from_state=t.from_state,
                to_state=t.to_state,
                at=t.at,
                by_user=t.by_user,
                by_role=t.by_role,
                reason=t.reason,
            )
            for t in view.timeline
        ],
        duplicates=duplicates_out(view.duplicates),
        list_version=list_version,
    )


def _lists_mask(name: ListsName | None) -> str | None:
    if name is None:
        return None
    return "children|adults" if name == "both" else name


@router.get("/v1/cases", response_model=CaseList)
def list_cases(
    principal: CaseworkerPrincipal,
    conn: ConnDep,
    state: Annotated[str | None, Query(max_length=50)] = None,
    before: datetime | None = None,
    before_id: Annotated[
        UUID | None, Query(description="with `before`: the id of the last case seen")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CaseList:
    with conn.transaction():
        rows = cases.list_cases(conn, state=state, limit=limit, before=before, before_id=before_id)
    last = rows[-1] if len(rows) == limit else None
    return CaseList(
        cases=[_summary(c) for c in rows],
        next_before=last.created_at if last else None,
        next_before_id=last.id if last else None,
    )


@router.post("/v1/cases", response_model=CaseDetail, status_code=201)
def open_case(
    body: CaseCreate, principal: CaseworkerPrincipal, state: StateDep, conn: ConnDep
) -> CaseDetail:
    with conn.transaction():
        case = cases.open_case(
            conn,
            state.audit,
            principal,
            cases.CaseInput(
                route=body.route,
                forenames=body.forenames,
                surname=body.surname,
                date_of_birth=body.date_of_birth,
                previous_names=body.previous_names,
                gender=body.gender,
                summary=body.summary,
            ),
        )
        view = cases.view_case(conn, case.id, principal)
    return _detail(view)


@router.get("/v1/cases/{case_id}", response_model=CaseDetail)
def get_case(
    case_id: UUID, principal: CaseworkerPrincipal, state: StateDep, conn: ConnDep
) -> CaseDetail:
    with conn.transaction():
        view = cases.view_case(conn, case_id, principal)
        state.audit.record(conn, principal, "case.view", "barring_case", str(case_id))
    return _detail(view)


@router.post("/v1/cases/{case_id}/transitions", response_model=CaseDetail)
def transition(
    case_id: UUID,
    body: TransitionIn,
    principal: CaseworkerPrincipal,
    state: StateDep,
    conn: ConnDep,
) -> CaseDetail:
    if body.action in cases.APPROVAL_ACTIONS:
        raise ValidationFailed(
            [FieldError("action", "a bar is approved or returned at /v1/cases/{id}/approval")]
        )
    with conn.transaction():
        result = cases.transition(
            conn,
            state.audit,
            principal,
            case_id,
            body.action,
            body.reason,
            lists=_lists_mask(body.lists),
        )
        view = cases.view_case(conn, case_id, principal)
    return _detail(view, result.list_version)


@router.post("/v1/cases/{case_id}/approval", response_model=CaseDetail)
def approval(
    case_id: UUID,
    body: ApprovalIn,
    request: Request,
    principal: SeniorCaseworkerPrincipal,
    state: StateDep,
    conn: ConnDep,
) -> CaseDetail:
    finder = matcher_finder(request) if body.approve else None
    with conn.transaction():
        result = cases.decide_approval(
            conn,
            state.audit,
            principal,
            case_id,
            approve=body.approve,
            reason=body.reason,
            finder=finder,
        )
        view = cases.view_case(conn, case_id, principal)
    return _detail(view, result.list_version)
