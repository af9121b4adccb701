"""Batch checks counted for Prometheus, across processes and machines.

A batch row is matched by an RQ worker: another process than the API, often on another
machine. The API serves ``/metrics`` from its own process's registry (no multiprocess
mode), which a worker cannot reach, and nothing scrapes a worker. So a worker adds each
chunk's outcomes, once the chunk has committed, to one Redis hash (``HINCRBY``: atomic,
shared by every worker), and the API reads the hash when ``/metrics`` is scraped and
serves it as ``vbs_checks_total{source="batch"}``, as it serves ``vbs_queue_depth`` from
Redis. It is a service-wide figure, the same on every API process.

Only counts travel (an outcome name and a number), never anything about a row. A chunk
counts once: a chunk found already done changes nothing, and the count is added after
the commit (a worker killed between the commit and the ``HINCRBY`` loses that chunk's
count; an empty Redis starts the counter again from zero, which Prometheus reads as a
counter reset). PostgreSQL stays the source of truth for what was recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import redis

log = logging.getLogger(__name__)

BATCH_CHECKS_KEY = "vbs:metrics:batch_checks"


def count_batch_checks(connection: redis.Redis, outcomes: Mapping[str, int]) -> None:
    """Add a committed chunk's outcome counts; a Redis fault is logged, never raised."""
    if not any(outcomes.values()):
        return
    try:
        with connection.pipeline(transaction=True) as pipe:
            for outcome, n in outcomes.items():
                if n:
                    pipe.hincrby(BATCH_CHECKS_KEY, outcome, n)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("batch check count not recorded: %s", type(exc).__name__)


def batch_checks(connection: redis.Redis) -> dict[str, int]:
    """Batch checks recorded by every worker so far, by outcome; empty if Redis is away."""
    try:
        raw = connection.hgetall(BATCH_CHECKS_KEY)
    except redis.RedisError:
        return {}
    return {_text(k): int(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
