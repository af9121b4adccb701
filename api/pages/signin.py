"""Sign in and sign out, through the same auth service as ``POST /v1/auth/login``.

Employers and registered bodies sign in with an email address and password; the barring
authority's staff (caseworkers, senior caseworkers, admins) sign in on the staff page, which
adds the security code from their authenticator app (TOTP). A refused sign-in shows one
message whatever was wrong. Before a session exists the form is protected against CSRF with
a double-submit token (a cookie and the same value in the form).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import (
    SESSION_COOKIE,
    AuditDep,
    ConnDep,
    RedisDep,
    SettingsDep,
    client_ip,
    get_optional_principal,
)
from api.pages.base import page, page_router, redirect
from api.pages.forms import text
from api.pages.render import home_for, render
from api.routes.auth import set_session_cookie
from vbs.errors import NotFound, TooManyRequests, Unauthorized
from vbs.principal import Principal
from vbs.services import auth

router = page_router()

LOGIN_CSRF_COOKIE = "vbs_login_csrf"
REFUSED = {
    False: "Enter a correct email address and password",
    True: "Enter a correct email address, password and security code",
}


def _form_page(
    request: Request,
    *,
    staff: bool,
    errors: dict[str, str] | None = None,
    email: str = "",
    signed_out: bool = False,
    status_code: int = 200,
    secure: bool = True,
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "auth/sign_in.html",
        {
            "errors": errors or {},
            "email": email,
            "staff": staff,
            "signed_out": signed_out,
        },
        csrf_token=token,
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/sign-in",
        max_age=3600,
    )
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _form_page(
        request,
        staff=False,
        signed_out=request.query_params.get("signed-out") == "1",
        secure=settings.cookie_secure,
    )


@router.get("/sign-in/staff")
def staff_sign_in_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _form_page(request, staff=True, secure=settings.cookie_secure)


async def _sign_in(
    request: Request,
    conn: ConnDep,
    redis_conn: RedisDep,
    settings: SettingsDep,
    audit: AuditDep,
    *,
    staff: bool,
) -> Response:
    form = await request.form()
    given = form.get("csrf_token")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    email = text(form, "email")

    def refuse(errors: dict[str, str], status_code: int) -> HTMLResponse:
        return _form_page(
            request,
            staff=staff,
            email=email,
            errors=errors,
            status_code=status_code,
            secure=settings.cookie_secure,
        )

    if not (
        isinstance(given, str)
        and expected
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        return refuse({"email": "Your sign-in form timed out. Enter your details again"}, 400)
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    code = text(form, "code") if staff else ""
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "Enter your email address"
    if not password:
        errors["password"] = "Enter your password"  # noqa: S105 - a message
    if staff and not code:
        errors["code"] = "Enter the security code from your authenticator app"
    if errors:
        return refuse(errors, 400)
    try:
        result = await run_in_threadpool(
            auth.login,
            conn,
            redis_conn,
            settings,
            audit,
            email=email,
            password=password,
            totp=code or None,
            ip=client_ip(request),
            previous_session_token=request.cookies.get(SESSION_COOKIE),
        )
    except Unauthorized:
        return refuse({"email": REFUSED[staff]}, 401)
    except TooManyRequests as exc:
        minutes = max(1, -(-int(exc.retry_after) // 60))
        return refuse(
            {
                "email": "You have tried to sign in too many times. "
                f"Try again in {minutes} minute{'' if minutes == 1 else 's'}"
            },
            429,
        )
    response = RedirectResponse(home_for(result.principal), status_code=303)
    set_session_cookie(response, settings.cookie_secure, result)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/sign-in")
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    conn: ConnDep,
    redis_conn: RedisDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> Response:
    return await _sign_in(request, conn, redis_conn, settings, audit, staff=False)


@router.post("/sign-in/staff")
async def staff_sign_in(
    request: Request,
    conn: ConnDep,
    redis_conn: RedisDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> Response:
    return await _sign_in(request, conn, redis_conn, settings, audit, staff=True)


@router.post("/sign-out")
async def sign_out(
    request: Request,
    conn: ConnDep,
    audit: AuditDep,
    principal: Annotated[Principal | None, Depends(get_optional_principal)],
) -> Response:
    """Ends the session (the CSRF token was checked by the principal dependency)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and principal is not None:
        await run_in_threadpool(auth.logout, conn, audit, token, principal)
    response = redirect("/sign-in?signed-out=1")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/")
def start(
    request: Request,
    principal: Annotated[Principal | None, Depends(get_optional_principal)],
) -> Response:
    if principal is None or principal.user_id is None:
        return redirect("/sign-in")
    return redirect(home_for(principal))


@router.get("/help/{topic}")
def help_page(
    request: Request,
    topic: str,
    principal: Annotated[Principal | None, Depends(get_optional_principal)],
) -> HTMLResponse:
    if topic not in ("privacy", "accessibility"):
        raise NotFound("no such page")
    return page(request, principal, f"help/{topic}.html")
