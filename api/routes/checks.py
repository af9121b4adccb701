"""``/v1/checks``: run a check, read it back, search by reference, dispute an outcome.

Clients only (employer or registered body: a user or an API key), their own organisation
only: another organisation's check answers 404. A check answers the outcome and nothing
else: no score, no matched person, no reason. Identities travel only in POST bodies.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from api.deps import AuditDep, ClientPrincipal, ConnDep, StateDep
from api.fields import FullName, Name, Reason, Reference
from api.metrics import CHECKS_BY_OUTCOME
from api.quotas import CheckQuota
from vbs.services import checks, reviews
from vbs.services.matcher_holder import MatcherHolder

router = APIRouter(prefix="/v1", tags=["checks"])

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def get_holder(state: StateDep) -> MatcherHolder:
    """The process's matcher holder (opened by the app's lifespan)."""
    holder: MatcherHolder | None = getattr(state, "matcher", None)
    if holder is None:  # pragma: no cover - the lifespan always sets it
        from vbs.errors import ServiceUnavailable

        raise ServiceUnavailable("the matcher is not running")
    return holder


HolderDep = Annotated[MatcherHolder, Depends(get_holder)]


class CheckIn(BaseModel):
    """One identity and the two declarations a real check needs."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: Reference
    forenames: Name
    surname: Name
    date_of_birth: date = Field(description="full ISO date, YYYY-MM-DD, not in the future")
    previous_names: Annotated[list[FullName], Field(max_length=20)] = Field(
        default_factory=list, description="full names, e.g. 'Jane Anne Smith'"
    )
    gender: Literal["female", "male", "unspecified"] | None = None
    workforce: Literal["children", "adults", "both"]
    eligibility_confirmed: StrictBool = Field(
        description="the role is regulated activity with that workforce (must be true)"
    )
    consent_confirmed: StrictBool = Field(description="the applicant agreed (must be true)")

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _full_iso_date(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            raise ValueError("must be a full date as YYYY-MM-DD")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > datetime.now(UTC).date():
            raise ValueError("must not be in the future")
        if value < date(1900, 1, 1):
            raise ValueError("must be on or after 1900-01-01")
        return value

    @field_validator("eligibility_confirmed", "consent_confirmed")
    @classmethod
    def _must_be_true(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("must be true")
        return value

    @field_validator("previous_names")
    @classmethod
    def _full_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if len(name.split()) < 2:
                raise ValueError("each previous name must be a full name (forenames and surname)")
        return value

    def to_request(self) -> checks.CheckRequest:
        return checks.CheckRequest(
            reference=self.reference,
            forenames=self.forenames,
            surname=self.surname,
            date_of_birth=self.date_of_birth,
            workforce=self.workforce,
            previous_names=tuple(self.previous_names),
            gender=self.gender,
        )


class CheckOut(BaseModel):
    id: UUID
    reference: str
    outcome: Literal["clear", "barred", "under_review", "incomplete"]
    checked_at: datetime
    list_version: int | None


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: Reference


class SearchOut(BaseModel):
    checks: list[CheckOut]


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Reason


class DisputeOut(BaseModel):
    id: UUID
    check_id: UUID
    kind: Literal["dispute"]
    status: str
    created_at: datetime


def _out(r: checks.CheckResult) -> CheckOut:
    return CheckOut(
        id=r.id,
        reference=r.reference,
        outcome=r.outcome,  # type: ignore[arg-type]
        checked_at=r.checked_at,
        list_version=r.list_version,
    )


@router.post(
    "/checks",
    status_code=201,
    response_model=CheckOut,
    summary="Check one identity against the barred lists its workforce covers",
)
def create_check(
    body: CheckIn,
    principal: ClientPrincipal,
    _quota: CheckQuota,
    conn: ConnDep,
    audit: AuditDep,
    holder: HolderDep,
) -> CheckOut:
    result = checks.run_check(conn, holder, audit, principal, body.to_request())
    CHECKS_BY_OUTCOME.labels(outcome=result.outcome, source="api").inc()
    return _out(result)


@router.get("/checks/{check_id}", response_model=CheckOut, summary="One of your checks")
def get_check(check_id: UUID, principal: ClientPrincipal, conn: ConnDep) -> CheckOut:
    return _out(checks.get_for_org(conn, principal, check_id))


@router.post("/checks/search", response_model=SearchOut, summary="Your checks with this reference")
def search_checks(body: SearchIn, principal: ClientPrincipal, conn: ConnDep) -> SearchOut:
    return SearchOut(
        checks=[_out(r) for r in checks.search_for_org(conn, principal, body.reference)]
    )


@router.post(
    "/checks/{check_id}/dispute",
    status_code=201,
    response_model=DisputeOut,
    summary="Dispute a barred or under-review outcome (a caseworker reviews it)",
)
def dispute_check(
    check_id: UUID, body: DisputeIn, principal: ClientPrincipal, conn: ConnDep, audit: AuditDep
) -> DisputeOut:
    item = reviews.dispute(conn, audit, principal, check_id, body.reason)
    return DisputeOut(
        id=item.id,
        check_id=item.check_id,
        kind="dispute",
        status=item.status,
        created_at=item.created_at,
    )
