"""Security headers on every response, and CSRF protection for cookie-authenticated posts.

Headers: HSTS, ``X-Content-Type-Options: nosniff``, frame denial (``X-Frame-Options`` and
CSP ``frame-ancestors``), a content security policy (relaxed only for the interactive API
docs, which load Swagger UI), ``Referrer-Policy: no-referrer``, and
``Cache-Control: no-store`` on every response except static assets (responses under /v1
and the pages can carry personal data).

CSRF: a random token per session, returned at login (JSON) and put in forms by the pages.
:func:`check_csrf` is called by :mod:`api.deps` for every cookie-authenticated request with
an unsafe method; the token comes in the ``X-CSRF-Token`` header or a ``csrf_token`` form
field. Requests authenticated with an API key (no cookie) need no token.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vbs.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
CACHEABLE_PREFIXES = ("/static/", "/assets/")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool = True) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if self.hsts:
                    headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Content-Security-Policy"] = (
                    DOCS_CSP if path.startswith(DOCS_PATHS) else CSP
                )
                if not path.startswith(CACHEABLE_PREFIXES):
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_wrapper)


async def submitted_csrf_token(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        if isinstance(value, str):
            return value
    return None


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse an unsafe cookie-authenticated request without the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    given = await submitted_csrf_token(request)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        await request.close()  # a parsed multipart form's temporary files
        raise Forbidden("missing or wrong CSRF token")
