"""``/v1/auth``: sign in (session cookie), sign out, who am I."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import (
    SESSION_COOKIE,
    ConnDep,
    PrincipalDep,
    StateDep,
    client_ip,
)
from api.fields import Email, Password
from vbs.principal import Principal
from vbs.services import auth

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    totp: str | None = Field(
        default=None, max_length=10, pattern=r"^[0-9 ]*$", description="6-digit one-time code"
    )


class LoginResponse(BaseModel):
    csrf_token: str
    role: str
    user_id: UUID
    org_id: UUID
    org_kind: str
    expires_at: datetime


class Me(BaseModel):
    role: str
    org_id: UUID | None
    org_kind: str | None
    user_id: UUID | None
    api_key_id: UUID | None
    csrf_token: str | None = None


def set_session_cookie(response: Response, state_secure: bool, result: auth.LoginResult) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        result.session_token,
        expires=result.expires_at,
        path="/",
        secure=state_secure,
        httponly=True,
        samesite="lax",
    )


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={401: {"description": "not accepted"}, 429: {"description": "throttled"}},
)
def login(
    body: LoginRequest, request: Request, response: Response, state: StateDep, conn: ConnDep
) -> LoginResponse:
    result = auth.login(
        conn,
        state.redis,
        state.settings,
        state.audit,
        email=body.email,
        password=body.password,
        totp=body.totp,
        ip=client_ip(request),
        previous_session_token=request.cookies.get(SESSION_COOKIE),
    )
    set_session_cookie(response, state.settings.cookie_secure, result)
    return LoginResponse(
        csrf_token=result.csrf_token,
        role=result.role,
        user_id=result.user_id,
        org_id=result.org_id,
        org_kind=result.org_kind,
        expires_at=result.expires_at,
    )


@router.post("/logout", status_code=204, response_class=Response)
async def logout(
    request: Request, principal: PrincipalDep, state: StateDep, conn: ConnDep
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(auth.logout, conn, state.audit, token, principal)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=state.settings.cookie_secure, httponly=True, samesite="lax"
    )
    return response


@router.get("/me", response_model=Me)
def me(request: Request, principal: PrincipalDep) -> Me:
    return _me(principal, getattr(request.state, "csrf_token", None))


def _me(p: Principal, csrf: str | None) -> Me:
    return Me(
        role=p.role,
        org_id=p.org_id,
        org_kind=p.org_kind,
        user_id=p.user_id,
        api_key_id=p.api_key_id,
        csrf_token=csrf,
    )
