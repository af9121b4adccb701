"""Referrals (employers): a discretionary referral opens a barring case.

The employer sees only its own referral's id and a coarse status, never the outcome, the
reason or anything a caseworker wrote; another organisation's referral is not found.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ConnDep, StateDep, require_roles
from api.fields import Name
from vbs.principal import Principal
from vbs.services import cases

router = APIRouter(tags=["referrals"])

EmployerPrincipal = Annotated[Principal, Depends(require_roles("employer", allow_api_key=True))]


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    forenames: Name
    surname: Name
    date_of_birth: date
    previous_names: Annotated[list[Name], Field(max_length=20)] = []
    gender: Literal["female", "male", "unspecified"] | None = None
    summary: Annotated[str, Field(min_length=1, max_length=10_000)] = Field(
        description="what happened: the harm or risk of harm that led to the referral"
    )


class ReferralOut(BaseModel):
    id: UUID
    status: Literal["received", "under_consideration", "closed"]


@router.post("/v1/referrals", response_model=ReferralOut, status_code=201)
def create_referral(
    body: ReferralIn, principal: EmployerPrincipal, state: StateDep, conn: ConnDep
) -> ReferralOut:
    with conn.transaction():
        case = cases.open_case(
            conn,
            state.audit,
            principal,
            cases.CaseInput(
                route="discretionary",
                forenames=body.forenames,
                surname=body.surname,
                date_of_birth=body.date_of_birth,
                previous_names=body.previous_names,
                gender=body.gender,
                summary=body.summary,
            ),
        )
    return ReferralOut(id=case.id, status=cases.referral_status(case))


@router.get("/v1/referrals/{referral_id}", response_model=ReferralOut)
def get_referral(referral_id: UUID, principal: EmployerPrincipal, conn: ConnDep) -> ReferralOut:
    with conn.transaction():
        case = cases.get_referral(conn, principal, referral_id)
    return ReferralOut(id=case.id, status=cases.referral_status(case))
