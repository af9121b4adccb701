"""What every page router shares: the route class that turns errors into HTML pages, the
role dependencies for pages (session cookie only, never an API key), and ``page()``.

Errors raised by a service or a dependency become GOV.UK error pages: not signed in (or a
session that ended) redirects to the sign-in page; 403, 404, 409, 429 and 503 get their own
page; anything else is left to the app's catch-all (a bare 500, nothing leaked).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from api.deps import SESSION_COOKIE, ConnDep, PrincipalDep, StateDep, require_roles
from api.pages.render import home_for, render
from api.problems import UNAVAILABLE_ERRORS
from vbs.errors import Unauthorized, VbsError
from vbs.principal import Principal

log = logging.getLogger("vbs.pages")

ERROR_TEXT: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("There is a problem with your request", ("Go back and try again.",)),
    403: (
        "You cannot see this page",
        ("Your account does not allow this. Ask your administrator if you think it should.",),
    ),
    404: (
        "Page not found",
        (
            "If you typed the web address, check it is correct.",
            "If you pasted the web address, check you copied the entire address.",
        ),
    ),
    405: ("Page not found", ("If you typed the web address, check it is correct.",)),
    409: (
        "This has already been done",
        ("Someone else may have done it at the same time. Go back and reload the page.",),
    ),
    413: ("The file is too big", ("Go back and choose a smaller file.",)),
    429: (
        "You have tried too many times",
        ("Wait a few minutes, then try again.",),
    ),
    503: (
        "Sorry, the service is unavailable",
        ("Try again in a few minutes. Nothing you sent has been lost or half-saved.",),
    ),
}


def error_page(request: Request, status: int, principal: Principal | None = None) -> HTMLResponse:
    heading, lines = ERROR_TEXT.get(
        status, ("Sorry, there is a problem with the service", ("Try again later.",))
    )
    if principal is None:
        principal = getattr(request.state, "principal", None)
    return render(
        request,
        "errors/error.html",
        {"heading": heading, "lines": lines, "home": home_for(principal)},
        principal=principal,
        csrf_token=getattr(request.state, "csrf_token", ""),
        status_code=status,
    )


def sign_in_redirect() -> RedirectResponse:
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class PageRoute(APIRoute):
    """An APIRoute whose errors are rendered as HTML pages rather than problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthorized:
                return sign_in_redirect()
            except VbsError as exc:
                return error_page(request, exc.status)
            except RequestValidationError:
                # Only a malformed id in the path gets here (forms are read by the pages).
                return error_page(request, 404)
            except UNAVAILABLE_ERRORS as exc:
                log.warning("page unavailable: %s on %s", type(exc).__name__, self.path)
                return error_page(request, 503)
            except Exception as exc:
                # Logged by type and route only: messages can hold personal data.
                log.error("page failed: %s on %s", type(exc).__name__, self.path)
                return error_page(request, 500)

        return page_handler


def page_router() -> APIRouter:
    return APIRouter(route_class=PageRoute, include_in_schema=False)


def page_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """Only these roles, signed in with a session (API keys never reach the pages)."""
    role_check = require_roles(*roles)

    async def dependency(
        request: Request, principal: PrincipalDep, state: StateDep, conn: ConnDep
    ) -> Principal:
        # Known before the role check, so that a refusal page still shows who is signed in.
        if principal.user_id is not None and principal.api_key_id is None:
            request.state.principal = principal
        # The API's own role check: it refuses (403) with an audit event.
        await role_check(request, principal, state, conn)
        if principal.api_key_id is not None or principal.user_id is None:
            raise Unauthorized("sign in to use the web pages")
        return principal

    return dependency


CLIENT_ROLES = ("employer", "registered_body")
CASEWORK_ROLES = ("caseworker", "senior_caseworker")


def page(
    request: Request,
    principal: Principal | None,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        template,
        context,
        principal=principal,
        csrf_token=getattr(request.state, "csrf_token", ""),
        status_code=status_code,
    )


def redirect(url: str) -> RedirectResponse:
    """After a successful form post: see other (303), so a reload does not post again."""
    return RedirectResponse(url, status_code=303)
