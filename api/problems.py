"""The one mapping of errors to ``application/problem+json`` (RFC 9457).

- ``vbs.errors.VbsError`` -> its status, title and detail (``ValidationFailed`` adds
  ``errors: [{field, message}]``; ``TooManyRequests`` sets ``Retry-After``).
- ``RequestValidationError`` -> 422 with ``errors: [{field, message}]``; never echoes input.
- Starlette HTTP errors (unknown route, wrong method) -> their status.
- Database or Redis unreachable (psycopg ``OperationalError``, pool timeout, redis
  ``ConnectionError``/``TimeoutError``) -> 503.
- Anything else -> 500 with no detail, logged by exception type and route only (messages
  can hold data, so they are not logged). No response ever carries a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vbs.errors import TooManyRequests, ValidationFailed, VbsError

log = logging.getLogger("vbs.api")

PROBLEM_TYPE_BASE = "https://vbs.example/problems/"
MEDIA_TYPE = "application/problem+json"

UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str = "about:blank",
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": slug if slug == "about:blank" else PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for err in exc.errors():
        loc = err.get("loc", ())
        message = str(err.get("msg", "is not valid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            out.append({"field": "body", "message": "is not valid JSON"})
            continue
        out.append({"field": _field_name(loc), "message": message})
    return out


async def _vbs_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VbsError)
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(max(1, int(exc.retry_after)))
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vbs"'
    errors = None
    if isinstance(exc, ValidationFailed):
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
    return problem(
        exc.status, exc.title, exc.detail, slug=exc.type_slug, errors=errors, headers=headers
    )


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "Validation failed", detail, slug="validation", errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith("/v1") and "text/html" in request.headers.get("accept", ""):
        from api.pages.base import error_page  # a browser asking for a page: an HTML page

        return error_page(request, exc.status_code)
    titles = {404: "Not found", 405: "Method not allowed", 401: "Not signed in"}
    title = titles.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem(exc.status_code, title, detail, headers=exc.headers)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "service unavailable: %s on %s %s", type(exc).__name__, request.method, _route(request)
    )
    return problem(
        503,
        "Service unavailable",
        "a service this request needs is not available; try again shortly",
        slug="unavailable",
        headers={"Retry-After": "5"},
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """A value the database refused (SQLSTATE class 22): the input's fault, never a 500.

    Request models refuse such values first, naming the field; this is the backstop.
    """
    assert isinstance(exc, psycopg.DataError)
    log.warning(
        "database refused a value: SQLSTATE %s on %s %s",
        exc.sqlstate,
        request.method,
        _route(request),
    )
    return problem(
        422,
        "Validation failed",
        "a value in the request could not be accepted (invalid characters or out of range)",
        slug="validation",
        errors=[],
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(VbsError, _vbs_error)
    app.add_exception_handler(psycopg.DataError, _data_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for cls in UNAVAILABLE_ERRORS:
        app.add_exception_handler(cls, _unavailable)


class CatchAllMiddleware:
    """Turn any unhandled exception into a bare 500 problem (logged without its message).

    Also maps database/Redis outages raised outside the routers' exception handling
    (e.g. in middleware) to 503.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            route = getattr(scope.get("route"), "path", "unmatched")
            if isinstance(exc, UNAVAILABLE_ERRORS):
                log.warning("service unavailable: %s on %s", type(exc).__name__, route)
                response = problem(503, "Service unavailable", slug="unavailable")
            else:
                log.error("unhandled %s on %s %s", type(exc).__name__, scope.get("method"), route)
                response = problem(500, "Internal server error", slug="internal")
            if started:
                return  # headers are out; nothing more can be said
            await response(scope, receive, send)
