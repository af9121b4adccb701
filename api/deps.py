"""Annotated dependencies for the routes: state, settings, database, Redis, audit, who.

Transactions: ``ConnDep`` is a pooled connection in autocommit mode; an endpoint wraps its
writes in ``with conn.transaction():`` (commit happens inside the endpoint, before the
response) and records its audit event last inside that block.

Connections and threads: a request holds its connection from the first dependency that
needs it to the end of the request, and in between hops several times through the thread
pool (authentication, quota, the endpoint). So a request waits for a connection *slot* on
the event loop (``AppState.db_slots``: ``api.app.request_slots`` of the pool), never in a
worker thread: if threads waited in the pool's ``getconn``, they could fill the thread pool
while the requests holding the connections waited for a thread to go on with, and nothing
moved until the pool timed out (a 503 after 10 s). A slot means a free connection, so
``getconn`` then returns at once; waiting longer than the pool timeout answers 503.

Who: ``PrincipalDep`` accepts ``Authorization: Bearer <api key>`` or the session cookie.
A cookie-authenticated unsafe request must carry the session's CSRF token
(:mod:`api.security`). Role dependencies refuse with 403 and an audit event; API keys never
reach authority routes. Presenting a bad key or session answers 401 and is audited; sending
no credentials at all answers 401 without an audit event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import anyio
import anyio.to_thread
import psycopg
import redis
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.concurrency import run_in_threadpool

from api.app import AppState, request_slots
from api.security import check_csrf
from vbs.audit import AuditLog
from vbs.config import Settings
from vbs.db import POOL_TIMEOUT_S
from vbs.errors import Forbidden, Unauthorized
from vbs.principal import Principal
from vbs.services import auth

SESSION_COOKIE = "vbs_session"


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.vbs
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


def get_pool(state: StateDep) -> ConnectionPool:
    return state.pool


def get_redis(state: StateDep) -> redis.Redis:
    return state.redis


def get_audit(state: StateDep) -> AuditLog:
    return state.audit


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]


def _checkout(pool: ConnectionPool) -> psycopg.Connection:
    conn = pool.getconn()
    try:
        conn.autocommit = True
    except BaseException:
        pool.putconn(conn)
        raise
    return conn


def _checkin(pool: ConnectionPool, conn: psycopg.Connection) -> None:
    if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        conn.autocommit = False
    pool.putconn(conn)


async def get_conn(state: StateDep) -> AsyncIterator[psycopg.Connection]:
    """One pooled connection per request, autocommit: use ``with conn.transaction():``.

    The wait for a connection happens on the event loop (a slot), not in a worker thread."""
    slots = state.db_slots
    if slots is None:  # the lifespan sets it; an app state built by hand gets one here
        slots = state.db_slots = anyio.Semaphore(request_slots(state.settings.db_pool_max))
    try:
        with anyio.fail_after(POOL_TIMEOUT_S):
            await slots.acquire()
    except TimeoutError:
        raise PoolTimeout("no database connection became free in time") from None
    try:
        conn = await anyio.to_thread.run_sync(_checkout, state.pool)
        try:
            yield conn
        finally:
            # Giving the connection back must not wait for a free worker thread.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    _checkin, state.pool, conn, limiter=anyio.CapacityLimiter(1)
                )
    finally:
        slots.release()


ConnDep = Annotated[psycopg.Connection, Depends(get_conn)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _audit_refusal(
    conn: psycopg.Connection,
    audit: AuditLog,
    actor: Principal,
    action: str,
    detail: dict[str, object],
) -> None:
    with conn.transaction():
        audit.record(conn, actor, action, detail=detail)


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


async def _audit_bad_credentials(
    request: Request, state: AppState, conn: psycopg.Connection, via: str
) -> None:
    """An API key or session that is not valid: audited as the system, with the caller's IP."""
    await run_in_threadpool(
        _audit_refusal,
        conn,
        state.audit,
        Principal(role="system", ip=client_ip(request)),
        "auth.refused",
        {"via": via, "route": _route_template(request)},
    )


async def get_optional_principal(
    request: Request, state: StateDep, conn: ConnDep
) -> Principal | None:
    """The caller, or None when no credentials were sent (bad credentials raise 401)."""
    ip = client_ip(request)
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        principal = None
        if scheme.lower() == "bearer" and token.strip():
            principal = await run_in_threadpool(auth.resolve_api_key, conn, token.strip(), ip)
        if principal is None:
            await _audit_bad_credentials(request, state, conn, "api_key")
            raise Unauthorized("the API key is not valid")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        info = await run_in_threadpool(auth.resolve_session, conn, state.settings, cookie, ip)
        if info is None:
            await _audit_bad_credentials(request, state, conn, "session")
            raise Unauthorized("the session has ended; sign in again")
        request.state.csrf_token = info.csrf_token
        try:
            await check_csrf(request, info.csrf_token)
        except Forbidden:
            await run_in_threadpool(
                _audit_refusal,
                conn,
                state.audit,
                info.principal,
                "access.refused",
                {"reason": "csrf", "route": _route_template(request)},
            )
            raise
        return info.principal
    return None


OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


async def get_principal(principal: OptionalPrincipalDep) -> Principal:
    if principal is None:
        raise Unauthorized("sign in, or send an API key as 'Authorization: Bearer <key>'")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str, allow_api_key: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only these roles (API keys only when ``allow_api_key``)."""
    allowed = frozenset(roles)

    async def dependency(
        request: Request, principal: PrincipalDep, state: StateDep, conn: ConnDep
    ) -> Principal:
        if principal.role in allowed and (allow_api_key or principal.api_key_id is None):
            return principal
        await run_in_threadpool(
            _audit_refusal,
            conn,
            state.audit,
            principal,
            "access.refused",
            {"reason": "role", "route": _route_template(request), "method": request.method},
        )
        raise Forbidden("your role does not allow this")

    return dependency


ClientPrincipal = Annotated[
    Principal, Depends(require_roles("employer", "registered_body", allow_api_key=True))
]
CaseworkerPrincipal = Annotated[
    Principal, Depends(require_roles("caseworker", "senior_caseworker"))
]
SeniorCaseworkerPrincipal = Annotated[Principal, Depends(require_roles("senior_caseworker"))]
AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
AuthorityPrincipal = Annotated[
    Principal, Depends(require_roles("caseworker", "senior_caseworker", "admin"))
]
