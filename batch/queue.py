"""The RQ queue: Redis connection from settings, and enqueue helpers that pass ids only.

Jobs carry a batch id (and a chunk number): never names, dates of birth or references.
They are serialised as JSON (``rq.serializers.JSONSerializer``), with an explicit timeout,
retries for faults, and result/failure TTLs. Redis is not the source of truth: every job
is recorded in PostgreSQL (``batch.ingest_job_id``, ``batch_chunk.job_id``) and the
reconciler (:mod:`batch.reconcile`) enqueues again whatever a lost job left pending.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from vbs import embedded
from vbs.config import Settings

QUEUE_NAME = "vbs-batch"

INGEST_FUNC = "batch.jobs.ingest"
CHUNK_FUNC = "batch.jobs.match_chunk"

INGEST_TIMEOUT_S = 900  # parse up to 100,000 rows
CHUNK_TIMEOUT_S = 600  # match one chunk (it retries a database outage inside)
RESULT_TTL_S = 3600  # the result of a finished job is not needed: PostgreSQL has it
FAILURE_TTL_S = 7 * 24 * 3600  # keep failed jobs a week for diagnosis
QUEUED_TTL_S = 24 * 3600  # a job queued longer than this is dropped; the reconciler re-enqueues
RETRIES = 3

# Job states in which a job will still run without help.
LIVE_STATES: frozenset[str] = frozenset(
    s.value for s in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
)


def redis_url(settings: Settings) -> str:
    """The configured Redis, or the embedded one under the data folder (started if needed)."""
    return settings.redis_url or embedded.start_redis(settings.data_dir)


def connect(settings: Settings, *, for_worker: bool = False) -> redis.Redis:
    """A Redis client for RQ (bytes responses, as RQ needs).

    The API's client fails fast (a short socket timeout); a worker's blocks on dequeue,
    so it has no read timeout but checks the connection's health.
    """
    url = redis_url(settings)
    if for_worker:
        return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def get_queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)


def new_job_id(kind: str, batch_id: UUID, chunk_no: int | None = None) -> str:
    """A fresh job id; it names the batch (an opaque id) and never personal data."""
    suffix = uuid.uuid4().hex[:12]
    if chunk_no is None:
        return f"{kind}-{batch_id}-{suffix}"
    return f"{kind}-{batch_id}-{chunk_no}-{suffix}"


def _options(timeout: int, job_id: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "job_timeout": timeout,
        "result_ttl": RESULT_TTL_S,
        "failure_ttl": FAILURE_TTL_S,
        "ttl": QUEUED_TTL_S,
        "retry": Retry(max=RETRIES),
    }


def enqueue_ingest(queue: Queue, batch_id: UUID, job_id: str) -> Job:
    return queue.enqueue(INGEST_FUNC, str(batch_id), **_options(INGEST_TIMEOUT_S, job_id))


def enqueue_chunk(queue: Queue, batch_id: UUID, chunk_no: int, job_id: str) -> Job:
    return queue.enqueue(CHUNK_FUNC, str(batch_id), chunk_no, **_options(CHUNK_TIMEOUT_S, job_id))


def job_state(queue: Queue, job_id: str | None) -> str | None:
    """The job's RQ status, or None if Redis no longer has it."""
    if job_id is None:
        return None
    job = Job.fetch_many([job_id], connection=queue.connection, serializer=JSONSerializer)[0]
    if job is None:
        return None
    status = job.get_status(refresh=False)
    if status is None:
        return None
    return str(status.value if isinstance(status, JobStatus) else status)


def depth(queue: Queue) -> dict[str, int]:
    """Jobs waiting in the queue (for /metrics); empty when Redis cannot be reached."""
    try:
        return {queue.name: int(queue.count)}
    except redis.RedisError:
        return {}
