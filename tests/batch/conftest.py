"""Batch fixtures: an organisation, a small barred list, a worker context on the test
servers, and a burst SimpleWorker over the real Redis (emptied per test)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
import redis
from psycopg_pool import ConnectionPool
from rq.serializers import JSONSerializer

from batch import jobs
from batch.worker import BatchWorker
from tests.api.conftest import accounts, app, app_state, client  # noqa: F401  (API fixtures)
from vbs.audit import AuditLog
from vbs.config import Settings
from vbs.db import transaction
from vbs.principal import Principal
from vbs.repo import accounts as accounts_repo
from vbs.repo import batches as repo
from vbs.services import barred_list as bl

BARRED = [
    ("Jonathan", "Smithers", "1980-05-17"),
    ("Priya", "Ramaswamy", "1975-11-02"),
    ("Grzegorz", "Brzęczyszczykiewicz", "1969-01-30"),
    ("Aoife", "Ní Bhraonáin", "1990-07-07"),
]
PART = 1024 * 1024  # the upload route's stored part size
FILLER_SURNAMES = ["Taylor", "Evans", "Khan", "Okafor", "Murphy", "Nguyen", "Rossi", "Kowalski"]
FILLER_FORENAMES = ["Alice", "Bilal", "Chloe", "Dmitri", "Efua", "Farah", "George", "Hana"]


@dataclass(frozen=True, slots=True)
class Client:
    principal: Principal
    org_id: UUID


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(b"k" * 32, tmp_path / "audit-checkpoint.json")


@pytest.fixture
def client_org(db: ConnectionPool) -> Client:
    with transaction(db) as conn:
        org = accounts_repo.insert_org(conn, f"Body {secrets.token_hex(3)}", "registered_body")
        user = accounts_repo.insert_user(
            conn, org.id, f"rb{secrets.token_hex(4)}@x.test", "registered_body", "x", None
        )
    principal = Principal(
        role="registered_body", org_id=org.id, org_kind="registered_body", user_id=user
    )
    return Client(principal, org.id)


def bar_people(pool: ConnectionPool, audit: AuditLog, filler: int = 40) -> None:
    """The barred people above plus ``filler`` others, on both lists."""
    people = list(BARRED)
    for i in range(filler):
        people.append(
            (
                FILLER_FORENAMES[i % len(FILLER_FORENAMES)],
                FILLER_SURNAMES[(i // len(FILLER_FORENAMES)) % len(FILLER_SURNAMES)],
                f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            )
        )
    system = Principal(role="system")
    with transaction(pool) as conn:
        for fore, sur, dob in people:
            bl.add_entry(
                conn,
                audit,
                system,
                bl.EntryInput(forenames=fore, surname=sur, date_of_birth=dob, lists=3),
                reason="test bar",
            )


@pytest.fixture
def barred(db: ConnectionPool, audit: AuditLog) -> None:
    bar_people(db, audit)


@pytest.fixture
def batch_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"batch_chunk_size": 3})


@pytest.fixture
def ctx(
    batch_settings: Settings, db: ConnectionPool, redis_conn: redis.Redis, barred: None
) -> Iterator[jobs.WorkerContext]:
    """The worker context a `vbs worker` builds once (index loaded), installed for jobs."""
    context = jobs.build_context(batch_settings, connection=redis_conn, pool_size=4)
    jobs.install(context)
    yield context
    jobs.install(None)
    context.pool.close()


def store_batch(pool: ConnectionPool, owner: Client, data: bytes) -> UUID:
    """What the upload route stores (bypassing its checks, so tests can store anything)."""
    with transaction(pool) as conn:
        batch = repo.create_batch(
            conn,
            org_id=owner.org_id,
            user_id=owner.principal.user_id,
            api_key_id=owner.principal.api_key_id,
            file_bytes=len(data),
            file_sha256=hashlib.sha256(data).digest(),
            eligibility_confirmed=True,
            consent_confirmed=True,
            parts=[data[i : i + PART] for i in range(0, len(data), PART)] or [b""],
        )
    return batch.id


def burst(ctx: jobs.WorkerContext) -> None:
    """Run every queued job in this process with a burst SimpleWorker."""
    worker = BatchWorker([ctx.queue], connection=ctx.queue.connection, serializer=JSONSerializer)
    worker.work(burst=True, logging_level="WARNING")


def rows_file(n: int, *, start: int = 0) -> bytes:
    """``n`` good rows: the barred people first, then people not on the list."""
    lines = [b"reference,forenames,surname,date_of_birth,workforce"]
    for i in range(start, start + n):
        if i < len(BARRED):
            fore, sur, dob = BARRED[i]
        else:
            fore, sur = f"Person{i}x", f"Unlisted{i}y"
            dob = f"19{60 + i % 40}-0{1 + i % 9}-1{i % 9}"
        lines.append(f"ref-{i},{fore},{sur},{dob},both".encode())
    return b"\n".join(lines) + b"\n"
