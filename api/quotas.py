"""Quotas against enumeration of the list (Redis fixed windows, fail closed).

Four counters per request: the caller (the API key, else the signed-in user) per minute
and per UTC day, and the caller's organisation per minute and per day, with limits from
settings (``quota_rate_per_minute``, ``quota_daily_volume``, ``quota_org_rate_per_minute``,
``quota_org_daily_volume``). Over any limit: 429 with ``Retry-After`` (seconds to the end of
the window that is full) and a ``quota.exceeded`` audit event; a refused request does not
use up quota. Redis unreachable -> 503 (nothing is checked without the quota).

Routes use ``CheckQuota`` after their role dependency:
``def create(principal: ClientPrincipal, _quota: CheckQuota, ...)``; a batch upload calls
:func:`consume` with its row count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import psycopg
import redis
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.deps import ConnDep, PrincipalDep, StateDep
from vbs.audit import AuditLog
from vbs.config import Settings
from vbs.errors import TooManyRequests
from vbs.principal import Principal

_DAY = 86_400


@dataclass(frozen=True, slots=True)
class _Window:
    key: str
    limit: int
    ttl: int
    retry_after: int
    minute: bool = False  # a per-minute rate window (else a daily volume)


def _windows(settings: Settings, principal: Principal, now: float) -> list[_Window]:
    minute = int(now // 60)
    day = int(now // _DAY)
    to_minute_end = 60 - int(now % 60)
    to_day_end = _DAY - int(now % _DAY)
    out: list[_Window] = []
    if principal.api_key_id is not None:
        who = f"key:{principal.api_key_id}"
    elif principal.user_id is not None:
        who = f"user:{principal.user_id}"
    else:
        who = f"ip:{principal.ip}"
    out.append(
        _Window(
            f"vbs:quota:{who}:m:{minute}",
            settings.quota_rate_per_minute,
            120,
            to_minute_end,
            minute=True,
        )
    )
    out.append(
        _Window(f"vbs:quota:{who}:d:{day}", settings.quota_daily_volume, 2 * _DAY, to_day_end)
    )
    if principal.org_id is not None:
        org = f"org:{principal.org_id}"
        out.append(
            _Window(
                f"vbs:quota:{org}:m:{minute}",
                settings.quota_org_rate_per_minute,
                120,
                to_minute_end,
                minute=True,
            )
        )
        out.append(
            _Window(
                f"vbs:quota:{org}:d:{day}", settings.quota_org_daily_volume, 2 * _DAY, to_day_end
            )
        )
    return out


def consume(
    r: redis.Redis,
    settings: Settings,
    principal: Principal,
    amount: int = 1,
    *,
    per_minute: int | None = None,
) -> None:
    """Use ``amount`` units of every quota of this caller, or raise TooManyRequests.

    ``per_minute`` (default: ``amount``) is what the per-minute windows count instead: a
    batch upload passes 1 there (one request) and its row count as ``amount`` (the daily
    volumes), so a file larger than a minute's rate is not refused for ever."""
    windows = _windows(settings, principal, time.time())
    minute_amount = amount if per_minute is None else per_minute
    amounts = [minute_amount if w.minute else amount for w in windows]
    pipe = r.pipeline(transaction=True)
    for w, n in zip(windows, amounts, strict=True):
        pipe.set(w.key, 0, ex=w.ttl, nx=True)  # Redis 6 has no EXPIRE NX
        pipe.incrby(w.key, n)
    results = pipe.execute()
    counts = [int(results[i * 2 + 1]) for i in range(len(windows))]
    over = [w for w, c in zip(windows, counts, strict=True) if c > w.limit]
    if over:
        undo = r.pipeline(transaction=True)
        for w, n in zip(windows, amounts, strict=True):
            undo.decrby(w.key, n)
        undo.execute()
        raise TooManyRequests(max(w.retry_after for w in over), "quota exceeded; try again later")


def _audit_exceeded(
    audit: AuditLog, conn: psycopg.Connection, principal: Principal, route: str
) -> None:
    with conn.transaction():
        audit.record(conn, principal, "quota.exceeded", detail={"route": route})


async def check_quota(
    request: Request, principal: PrincipalDep, state: StateDep, conn: ConnDep
) -> Principal:
    try:
        await run_in_threadpool(consume, state.redis, state.settings, principal, 1)
    except TooManyRequests:
        route = str(getattr(request.scope.get("route"), "path", request.url.path))
        await run_in_threadpool(_audit_exceeded, state.audit, conn, principal, route)
        raise
    return principal


CheckQuota = Annotated[Principal, Depends(check_quota)]
