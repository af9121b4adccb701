"""The FastAPI application: ``create_app(settings) -> FastAPI``.

The lifespan opens the app-role connection pool, the Redis client and the audit log and
keeps them on an :class:`AppState` at ``app.state.vbs``; routers come from the modules named
in :data:`ROUTER_MODULES` (each exposes ``router``). Errors are mapped once, in
:mod:`api.problems`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
import redis
from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from api import problems
from api.metrics import MetricsMiddleware
from api.security import SecurityHeadersMiddleware
from vbs.audit import AuditLog, audit_log_from_settings
from vbs.config import Settings, get_settings

log = logging.getLogger("vbs.api")

# Modules exposing ``router`` (an APIRouter), included in this order. Other parts add theirs.
ROUTER_MODULES: tuple[str, ...] = (
    "api.routes.health",
    "api.routes.auth",
    "api.routes.admin",
    "api.routes.cases",
    "api.routes.referrals",
    "api.routes.list",
    "api.routes.checks",
    "api.routes.reviews",
    "api.routes.alerts",
    "api.routes.notifications",
    "api.routes.batches",
    "api.pages.assets",
    "api.pages.signin",
    "api.pages.employer",
    "api.pages.batches",
    "api.pages.casework",
    "api.pages.admin",
)

AUDIT_CHECKPOINT_INTERVAL_S = 5.0


@dataclass
class AppState:
    """What the lifespan opened. Other parts add fields (with defaults) below the marker."""

    settings: Settings
    pool: ConnectionPool
    redis: redis.Redis
    audit: AuditLog
    # name -> callable returning True when that part is ready (used by /readyz).
    readiness_checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    # queue name -> jobs waiting (used by /metrics for the vbs_queue_depth gauge).
    queue_depth: Callable[[], Mapping[str, int]] | None = None
    # outcome -> batch rows checked by every worker (/metrics: vbs_checks_total{source="batch"}).
    batch_checks: Callable[[], Mapping[str, int]] | None = None
    # --- other parts' fields go below (keep defaults so AppState(...) above still works) ---
    extras: dict[str, Any] = field(default_factory=dict)
    # The process's matcher holder (vbs.services.matcher_holder.MatcherHolder).
    matcher: Any = None
    # The batch queue (RQ, ids only): api.routes.batches enqueues after its commit.
    batch_queue: Any = None
    # Connection slots of the requests (see api.deps.get_conn and request_slots below).
    db_slots: anyio.Semaphore | None = None


# Connections kept back from requests for the process's own work: the audit checkpoint,
# /readyz, the matcher's warm-up, and the second connection of a batch upload or download.
DB_RESERVED_CONNECTIONS = 2


def request_slots(pool_max: int) -> int:
    """How many requests may hold a pooled connection at once (``api.deps.get_conn``)."""
    return max(1, pool_max - DB_RESERVED_CONNECTIONS)


def redis_client(settings: Settings) -> redis.Redis:
    """A Redis client on the configured URL, or on the embedded server (started if needed)."""
    url = settings.redis_url
    if not url:
        from vbs import embedded

        url = embedded.start_redis(settings.data_dir)
    # Fail fast when Redis is down (the request then answers 503): two quick retries.
    return redis.Redis.from_url(
        url,
        socket_timeout=5.0,
        socket_connect_timeout=2.0,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
    )


def open_core(settings: Settings, stack: ExitStack) -> AppState:
    """Open the pool, Redis and audit log; register their closing on ``stack``."""
    from vbs.db import app_conninfo, open_pool

    pool = open_pool(
        app_conninfo(settings), min_size=settings.db_pool_min, max_size=settings.db_pool_max
    )
    stack.callback(pool.close)
    r = redis_client(settings)
    stack.callback(r.close)
    audit = audit_log_from_settings(settings)
    return AppState(settings=settings, pool=pool, redis=r, audit=audit)


def checkpoint_audit(state: AppState) -> None:
    """Move the audit checkpoint forward over committed events (see vbs.audit)."""
    with state.pool.connection() as conn:
        report = state.audit.checkpoint(conn)
    if not report.ok:
        log.error("audit chain check failed at seq %s: %s", report.broken_seq, report.problem)


async def _checkpoint_loop(state: AppState) -> None:
    while True:
        await asyncio.sleep(AUDIT_CHECKPOINT_INTERVAL_S)
        try:
            await asyncio.to_thread(checkpoint_audit, state)
        except Exception as exc:  # keep serving; the next round tries again
            log.warning("audit checkpoint failed: %s", type(exc).__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    conf = settings if settings is not None else get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            state = open_core(conf, stack)
            app.state.vbs = state
            state.db_slots = anyio.Semaphore(request_slots(conf.db_pool_max))
            # --- other parts' startup goes here (the matcher holder, the queue...) -------
            # Set fields on `state`, add readiness checks to `state.readiness_checks`, and
            # register cleanup with `stack.callback(...)` (run in reverse order at shutdown).
            # -------------------------------------------------------------------------
            import threading

            from vbs.services import matcher_holder

            state.matcher = matcher_holder.MatcherHolder.from_settings(conf)
            state.readiness_checks["matcher"] = lambda: bool(state.matcher.ready)
            threading.Thread(
                target=matcher_holder.warm, args=(state.matcher, state.pool), daemon=True
            ).start()
            from batch import queue as batch_queue

            state.batch_queue = batch_queue.get_queue(batch_queue.connect(conf))
            stack.callback(state.batch_queue.connection.close)
            if state.queue_depth is None:
                state.queue_depth = functools.partial(batch_queue.depth, state.batch_queue)
            if state.batch_checks is None:
                from batch import metrics as batch_metrics

                state.batch_checks = functools.partial(
                    batch_metrics.batch_checks, state.batch_queue.connection
                )
            task = asyncio.create_task(_checkpoint_loop(state))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                try:
                    checkpoint_audit(state)
                except Exception as exc:
                    log.warning("final audit checkpoint failed: %s", type(exc).__name__)

    app = FastAPI(
        title="vbs",
        version="0.1.0",
        description="Vetting and barring check service: JSON API under /v1.",
        lifespan=lifespan,
    )
    problems.install(app)
    # Middleware: the last added is the outermost.
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(problems.CatchAllMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)
    document_problems(app)
    return app


# --- the OpenAPI document: errors as they really are (problem+json) -------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457). `errors` lists each failing field on 422.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_PROBLEM_DESCRIPTIONS = {
    "401": "Not signed in: no credentials, or a bad, revoked or expired key or session",
    "403": "Not allowed: the caller's role, or a missing or wrong CSRF token",
    "404": "Not found (another organisation's resource is not found either)",
    "413": "Payload too large",
    "415": "Unsupported file",
    "422": "Validation failed: `errors` names each failing field",
    "429": "Too many requests: see Retry-After",
    "503": "Service unavailable: the database, Redis or the matcher; see Retry-After",
}
_QUOTA_LIMITED = {("post", "/v1/checks"), ("post", "/v1/batches"), ("post", "/v1/auth/login")}


def _problem_statuses(method: str, path: str, op: dict[str, Any]) -> list[str]:
    statuses = ["422"] if "422" in op.get("responses", {}) else []
    if not path.startswith("/v1/"):
        return statuses
    statuses += ["401", "503"]
    if not path.startswith("/v1/auth/"):
        statuses.append("403")
    if "{" in path:
        statuses.append("404")
    if (method, path) in _QUOTA_LIMITED:
        statuses.append("429")
    if (method, path) == ("post", "/v1/batches"):
        statuses += ["413", "415", "422"]
    return statuses


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what errors really look like: every error is
    ``application/problem+json`` (not FastAPI's default ``HTTPValidationError``), and the
    401/403/404/429/503 answers each operation can give are listed."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, item in schema.get("paths", {}).items():
            for method, op in item.items():
                responses = op.setdefault("responses", {})
                for status in _problem_statuses(method, path, op):
                    # A route's own description stays (FastAPI's default 422 one does not).
                    own = responses.get(status, {}).get("description")
                    if status == "422" or not own:
                        own = _PROBLEM_DESCRIPTIONS[status]
                    responses[status] = {"description": own, "content": content}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
