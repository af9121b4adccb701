"""``GET /v1/notifications``: the client organisation's own notifications (a check moved
to review by continuous screening)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import ClientPrincipal, ConnDep
from vbs.repo import checks as check_repo

router = APIRouter(prefix="/v1", tags=["notifications"])


class NotificationOut(BaseModel):
    id: UUID
    check_id: UUID
    reference: str
    kind: Literal["screening"]
    outcome: str
    list_version: int
    created_at: datetime


class NotificationListOut(BaseModel):
    notifications: list[NotificationOut]


@router.get(
    "/notifications",
    response_model=NotificationListOut,
    summary="Your organisation's notifications, newest first",
)
def list_notifications(
    principal: ClientPrincipal,
    conn: ConnDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> NotificationListOut:
    assert principal.org_id is not None
    rows = check_repo.list_notifications(conn, principal.org_id, limit)
    return NotificationListOut(
        notifications=[
            NotificationOut(
                id=r.id,
                check_id=r.check_id,
                reference=r.reference,
                kind="screening",
                outcome=r.outcome,
                list_version=r.list_version,
                created_at=r.created_at,
            )
            for r in rows
        ]
    )
