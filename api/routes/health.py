"""``/healthz`` (process up), ``/readyz`` (database, Redis, registered parts), ``/metrics``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import StateDep
from api.metrics import BATCH_CHECKS, QUEUE_DEPTH

router = APIRouter(tags=["health"])
log = logging.getLogger("vbs.api")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check(name: str, fn: object) -> bool:
    try:
        return bool(fn() if callable(fn) else fn)
    except Exception as exc:
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return False


@router.get("/readyz", responses={503: {"description": "not ready"}})
def readyz(state: StateDep) -> JSONResponse:
    checks: dict[str, bool] = {}

    def db() -> bool:
        with state.pool.connection(timeout=2.0) as conn:
            conn.execute("SELECT 1")
        return True

    checks["database"] = _check("database", db)
    checks["redis"] = _check("redis", lambda: bool(state.redis.ping()))
    for name, fn in state.readiness_checks.items():
        checks[name] = _check(name, fn)
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    if state.queue_depth is not None:
        try:
            for queue, depth in state.queue_depth().items():
                QUEUE_DEPTH.labels(queue).set(depth)
        except Exception as exc:
            log.warning("queue depth unavailable: %s", type(exc).__name__)
    if state.batch_checks is not None:
        try:
            BATCH_CHECKS.set_batch(state.batch_checks())
        except Exception as exc:
            log.warning("batch check counts unavailable: %s", type(exc).__name__)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
