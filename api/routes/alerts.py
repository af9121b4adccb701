"""``GET /v1/alerts``: checks that came back barred or under review (caseworkers only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CaseworkerPrincipal, ConnDep
from vbs.repo import checks as check_repo

router = APIRouter(prefix="/v1", tags=["alerts"])


class AlertOut(BaseModel):
    id: UUID
    check_id: UUID
    organisation_id: UUID
    kind: Literal["barred", "under_review"]
    source: Literal["check", "screening", "review"]
    created_at: datetime


class AlertListOut(BaseModel):
    alerts: list[AlertOut]


@router.get("/alerts", response_model=AlertListOut, summary="Authority alerts, newest first")
def list_alerts(
    principal: CaseworkerPrincipal,
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: datetime | None = None,
) -> AlertListOut:
    rows = check_repo.list_alerts(conn, limit, before)
    return AlertListOut(
        alerts=[
            AlertOut(
                id=r.id,
                check_id=r.check_id,
                organisation_id=r.organisation_id,
                kind=r.kind,  # type: ignore[arg-type]
                source=r.source,  # type: ignore[arg-type]
                created_at=r.created_at,
            )
            for r in rows
        ]
    )
