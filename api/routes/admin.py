"""Administrator routes: the audit trail and account management (organisations, users,
API keys). Admin only; every change is audited by the accounts service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminPrincipal, ConnDep, StateDep
from vbs.errors import FieldError, NotFound, ValidationFailed
from vbs.repo import accounts as accounts_repo
from vbs.repo import audit as audit_repo
from vbs.services import accounts

router = APIRouter(tags=["admin"])


class AuditEventOut(BaseModel):
    seq: int
    occurred_at: datetime
    actor_role: str
    actor_user_id: UUID | None
    actor_org_id: UUID | None
    actor_api_key_id: UUID | None
    ip: str | None
    action: str
    object_type: str | None
    object_id: str | None
    detail: dict[str, object]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_before_seq: int | None


@router.get("/v1/audit", response_model=AuditPage)
def list_audit(
    principal: AdminPrincipal,
    state: StateDep,
    conn: ConnDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    org_id: UUID | None = None,
    user_id: UUID | None = None,
    object_type: Annotated[str | None, Query(max_length=100)] = None,
    object_id: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    import json

    f = audit_repo.AuditFilter(
        action=action,
        org_id=org_id,
        user_id=user_id,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        before_seq=before_seq,
    )
    with conn.transaction():
        rows = audit_repo.search(conn, f, limit)
        state.audit.record(conn, principal, "audit.view", detail={"results": len(rows)})
    events = [
        AuditEventOut(
            seq=r.seq,
            occurred_at=r.occurred_at,
            actor_role=r.actor_role,
            actor_user_id=r.actor_user_id,
            actor_org_id=r.actor_org_id,
            actor_api_key_id=r.actor_api_key_id,
            ip=r.ip,
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            detail=json.loads(r.detail_text),
        )
        for r in rows
    ]
    nxt = rows[-1].seq if len(rows) == limit and rows[-1].seq > 1 else None
    return AuditPage(events=events, next_before_seq=nxt)


# --- organisations ------------------------------------------------------------------


class OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["employer", "registered_body", "authority"]


class OrgOut(BaseModel):
    id: UUID
    name: str
    kind: str
    created_at: datetime
    disabled: bool


def _org_out(o: accounts_repo.Organisation) -> OrgOut:
    return OrgOut(
        id=o.id,
        name=o.name,
        kind=o.kind,
        created_at=o.created_at,
        disabled=o.disabled_at is not None,
    )


@router.get("/v1/admin/organisations", response_model=list[OrgOut])
def list_orgs(principal: AdminPrincipal, conn: ConnDep) -> list[OrgOut]:
    with conn.transaction():
        return [_org_out(o) for o in accounts_repo.list_orgs(conn)]


@router.post("/v1/admin/organisations", response_model=OrgOut, status_code=201)
def create_org(body: OrgIn, principal: AdminPrincipal, state: StateDep, conn: ConnDep) -> OrgOut:
    with conn.transaction():
        org = accounts.create_org(conn, state.audit, principal, body.name, body.kind)
    return _org_out(org)


# --- users --------------------------------------------------------------------------


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254)
    org_id: UUID
    role: Literal["employer", "registered_body", "caseworker", "senior_caseworker", "admin"]
    password: str | None = Field(default=None, min_length=12, max_length=256)


class UserOut(BaseModel):
    id: UUID
    org_id: UUID
    email: str
    role: str
    created_at: datetime
    disabled: bool


class NewUserOut(BaseModel):
    id: UUID
    org_id: UUID
    email: str
    role: str
    password: str | None = Field(description="only when generated; shown once")
    totp_secret: str | None
    totp_uri: str | None


def _user_out(u: accounts_repo.User) -> UserOut:
    return UserOut(
        id=u.id,
        org_id=u.org_id,
        email=u.email,
        role=u.role,
        created_at=u.created_at,
        disabled=u.disabled_at is not None,
    )


@router.get("/v1/admin/users", response_model=list[UserOut])
def list_users(
    principal: AdminPrincipal, conn: ConnDep, org_id: UUID | None = None
) -> list[UserOut]:
    with conn.transaction():
        return [_user_out(u) for u in accounts_repo.list_users(conn, org_id)]


@router.post("/v1/admin/users", response_model=NewUserOut, status_code=201)
def create_user(
    body: UserIn, principal: AdminPrincipal, state: StateDep, conn: ConnDep
) -> NewUserOut:
    with conn.transaction():
        u = accounts.create_user(
            conn, state.audit, principal, body.org_id, body.email, body.role, body.password
        )
    return NewUserOut(
        id=u.id,
        org_id=u.org_id,
        email=u.email,
        role=u.role,
        password=u.generated_password,
        totp_secret=u.totp_secret,
        totp_uri=u.totp_uri,
    )


@router.post("/v1/admin/users/{user_id}/disable", response_model=UserOut)
def disable_user(
    user_id: UUID, principal: AdminPrincipal, state: StateDep, conn: ConnDep
) -> UserOut:
    if user_id == principal.user_id:
        raise ValidationFailed([FieldError("user_id", "you cannot disable yourself")])
    with conn.transaction():
        accounts.disable_user(conn, state.audit, principal, user_id)
        u = accounts_repo.get_user(conn, user_id)
    if u is None:
        raise NotFound("no such user")
    return _user_out(u)


# --- API keys -----------------------------------------------------------------------


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: UUID
    label: str | None = Field(default=None, max_length=200)


class ApiKeyOut(BaseModel):
    id: UUID
    org_id: UUID
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class NewApiKeyOut(BaseModel):
    id: UUID
    org_id: UUID
    key: str = Field(description="shown once; store it now")


def _key_out(k: accounts_repo.ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=k.id,
        org_id=k.org_id,
        label=k.label,
        created_at=k.created_at,
        last_used_at=k.last_used_at,
        revoked=k.revoked_at is not None,
    )


@router.get("/v1/admin/api-keys", response_model=list[ApiKeyOut])
def list_keys(
    principal: AdminPrincipal, conn: ConnDep, org_id: UUID | None = None
) -> list[ApiKeyOut]:
    with conn.transaction():
        return [_key_out(k) for k in accounts_repo.list_api_keys(conn, org_id)]


@router.post("/v1/admin/api-keys", response_model=NewApiKeyOut, status_code=201)
def create_key(
    body: ApiKeyIn, principal: AdminPrincipal, state: StateDep, conn: ConnDep
) -> NewApiKeyOut:
    with conn.transaction():
        k = accounts.create_api_key(conn, state.audit, principal, body.org_id, body.label)
    return NewApiKeyOut(id=k.id, org_id=k.org_id, key=k.key)


@router.post("/v1/admin/api-keys/{key_id}/revoke", response_model=ApiKeyOut)
def revoke_key(
    key_id: UUID, principal: AdminPrincipal, state: StateDep, conn: ConnDep
) -> ApiKeyOut:
    with conn.transaction():
        accounts.revoke_api_key(conn, state.audit, principal, key_id)
        k = accounts_repo.get_api_key(conn, key_id)
    if k is None:
        raise NotFound("no such API key")
    return _key_out(k)
