"""All batch SQL: batches, their stored files, parsed rows, chunks and row errors.

The batch's check results live in ``identity_check`` (owned by the checks service, which
writes them); this module only reads them for progress and the results file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row, tuple_row

OUTCOMES: tuple[str, ...] = ("clear", "barred", "under_review", "incomplete")
UNFINISHED: tuple[str, ...] = ("received", "parsing", "matching")


@dataclass(frozen=True, slots=True)
class BatchRecord:
    id: UUID
    org_id: UUID
    user_id: UUID | None
    api_key_id: UUID | None
    status: str
    file_bytes: int
    rows_total: int
    rows_failed: int
    chunks_total: int
    failure_reason: str | None
    ingest_job_id: str | None
    ingest_attempts: int
    ingest_enqueued_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    file_purged_at: datetime | None
    lines_parsed: int


_BATCH_COLUMNS = (
    "id, org_id, user_id, api_key_id, status, file_bytes, rows_total, rows_failed, "
    "chunks_total, failure_reason, ingest_job_id, ingest_attempts, ingest_enqueued_at, "
    "created_at, started_at, finished_at, file_purged_at, lines_parsed"
)


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    batch_id: UUID
    chunk_no: int
    first_row: int
    row_count: int
    status: str
    job_id: str | None
    attempts: int
    enqueued_at: datetime | None
    done_at: datetime | None


_CHUNK_COLUMNS = (
    "batch_id, chunk_no, first_row, row_count, status, job_id, attempts, enqueued_at, done_at"
)


@dataclass(frozen=True, slots=True)
class BatchRowRecord:
    """A parsed row awaiting matching (identity fields: personal data, never logged)."""

    batch_id: UUID
    row_no: int
    line_no: int
    reference: str
    forenames: str
    surname: str
    date_of_birth: date
    previous_names: list[str]  # full names
    gender: str | None
    workforce: str


@dataclass(frozen=True, slots=True)
class NewRow:
    row_no: int
    chunk_no: int
    line_no: int
    reference: str
    forenames: str
    surname: str
    date_of_birth: date
    previous_names: Sequence[str]
    gender: str | None
    workforce: str


@dataclass(frozen=True, slots=True)
class Progress:
    rows_matched: int
    outcomes: dict[str, int]


# --- batches --------------------------------------------------------------------------


def create_batch(
    conn: psycopg.Connection[Any],
    *,
    org_id: UUID,
    user_id: UUID | None,
    api_key_id: UUID | None,
    file_bytes: int,
    file_sha256: bytes,
    eligibility_confirmed: bool,
    consent_confirmed: bool,
    parts: Iterable[bytes],
) -> BatchRecord:
    """Insert the batch row and its stored file (in parts) in the caller's transaction."""
    with conn.cursor(row_factory=class_row(BatchRecord)) as cur:
        cur.execute(
            "INSERT INTO batch (org_id, user_id, api_key_id, file_bytes, file_sha256, "
            "eligibility_confirmed, consent_confirmed) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            f"RETURNING {_BATCH_COLUMNS}",
            (
                org_id,
                user_id,
                api_key_id,
                file_bytes,
                file_sha256,
                eligibility_confirmed,
                consent_confirmed,
            ),
        )
        batch = cur.fetchone()
    assert batch is not None
    for part_no, data in enumerate(parts):
        conn.execute(
            "INSERT INTO batch_file (batch_id, part_no, data) VALUES (%s, %s, %s)",
            (batch.id, part_no, data),
        )
    return batch


def get_batch(
    conn: psycopg.Connection[Any], batch_id: UUID, org_id: UUID | None = None
) -> BatchRecord | None:
    """A batch by id; with ``org_id``, only if it belongs to that organisation."""
    with conn.cursor(row_factory=class_row(BatchRecord)) as cur:
        if org_id is None:
            cur.execute(f"SELECT {_BATCH_COLUMNS} FROM batch WHERE id = %s", (batch_id,))
        else:
            cur.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batch WHERE id = %s AND org_id = %s",
                (batch_id, org_id),
            )
        return cur.fetchone()


def list_batches(
    conn: psycopg.Connection[Any], org_id: UUID, limit: int = 100
) -> list[BatchRecord]:
    with conn.cursor(row_factory=class_row(BatchRecord)) as cur:
        cur.execute(
            f"SELECT {_BATCH_COLUMNS} FROM batch WHERE org_id = %s "
            "ORDER BY created_at DESC, id LIMIT %s",
            (org_id, limit),
        )
        return cur.fetchall()


def lock_batch(
    conn: psycopg.Connection[Any], batch_id: UUID, *, skip_locked: bool = False
) -> BatchRecord | None:
    """The batch row, locked until the transaction ends (None if absent or, with
    ``skip_locked``, if another transaction holds it)."""
    suffix = " SKIP LOCKED" if skip_locked else ""
    with conn.cursor(row_factory=class_row(BatchRecord)) as cur:
        cur.execute(
            f"SELECT {_BATCH_COLUMNS} FROM batch WHERE id = %s FOR UPDATE{suffix}", (batch_id,)
        )
        return cur.fetchone()


def set_ingest_job(conn: psycopg.Connection[Any], batch_id: UUID, job_id: str) -> None:
    conn.execute(
        "UPDATE batch SET ingest_job_id = %s, ingest_attempts = ingest_attempts + 1, "
        "ingest_enqueued_at = now() WHERE id = %s",
        (job_id, batch_id),
    )


def start_parsing(conn: psycopg.Connection[Any], batch_id: UUID) -> None:
    conn.execute(
        "UPDATE batch SET status = 'parsing', started_at = coalesce(started_at, now()) "
        "WHERE id = %s AND status IN ('received', 'parsing')",
        (batch_id,),
    )


def iter_file(conn: psycopg.Connection[Any], batch_id: UUID) -> Iterator[bytes]:
    """The stored file's bytes, one part at a time (bounded memory)."""
    part_no = 0
    while True:
        row = conn.execute(
            "SELECT data FROM batch_file WHERE batch_id = %s AND part_no = %s",
            (batch_id, part_no),
        ).fetchone()
        if row is None:
            return
        yield bytes(row[0])
        part_no += 1


def try_session_lock(conn: psycopg.Connection[Any], key: int) -> bool:
    """A session-level advisory lock (held across transactions until unlocked or the
    connection ends), without waiting."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def session_unlock(conn: psycopg.Connection[Any], key: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def record_parse_progress(
    conn: psycopg.Connection[Any],
    batch_id: UUID,
    *,
    lines_parsed: int,
    rows_total: int,
    rows_failed: int,
    chunks: int,
) -> None:
    """After a committed segment: where parsing got to, and the counts so far."""
    conn.execute(
        "UPDATE batch SET lines_parsed = %s, rows_total = %s, rows_failed = %s, "
        "chunks_total = %s WHERE id = %s",
        (lines_parsed, rows_total, rows_failed, chunks, batch_id),
    )


def copy_rows(conn: psycopg.Connection[Any], batch_id: UUID, rows: Iterable[NewRow]) -> None:
    """Bulk insert parsed rows with COPY."""
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY batch_row (batch_id, row_no, chunk_no, line_no, reference, forenames, "
            "surname, date_of_birth, previous_names, gender, workforce) FROM STDIN"
        ) as copy,
    ):
        for r in rows:
            previous = json.dumps(list(r.previous_names))
            copy.write_row(
                (
                    batch_id,
                    r.row_no,
                    r.chunk_no,
                    r.line_no,
                    r.reference,
                    r.forenames,
                    r.surname,
                    r.date_of_birth,
                    previous,
                    r.gender,
                    r.workforce,
                )
            )


def copy_errors(
    conn: psycopg.Connection[Any], batch_id: UUID, errors: Iterable[tuple[int, str | None, str]]
) -> None:
    """Bulk insert row errors: (line_no, reference or None, reason)."""
    with (
        conn.cursor() as cur,
        cur.copy("COPY batch_error (batch_id, line_no, reference, reason) FROM STDIN") as copy,
    ):
        for line_no, reference, reason in errors:
            copy.write_row((batch_id, line_no, reference, reason))


def insert_chunks(
    conn: psycopg.Connection[Any], batch_id: UUID, chunks: Sequence[tuple[int, int, int, str]]
) -> None:
    """Chunks as (chunk_no, first_row, row_count, job_id), all pending, their jobs to be
    enqueued after the commit."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO batch_chunk (batch_id, chunk_no, first_row, row_count, job_id, "
            "attempts, enqueued_at) VALUES (%s, %s, %s, %s, %s, 1, now()) "
            "ON CONFLICT (batch_id, chunk_no) DO NOTHING",
            [(batch_id, n, first, count, job) for n, first, count, job in chunks],
        )


def finish_parsing(
    conn: psycopg.Connection[Any], batch_id: UUID, *, rows_total: int, rows_failed: int, chunks: int
) -> str:
    """Record the parse; the batch goes to `matching`, or `complete` with nothing to match."""
    status = "matching" if chunks else "complete"
    conn.execute(
        "UPDATE batch SET status = %s, rows_total = %s, rows_failed = %s, chunks_total = %s, "
        "finished_at = CASE WHEN %s = 'complete' THEN now() END WHERE id = %s",
        (status, rows_total, rows_failed, chunks, status, batch_id),
    )
    return status


def fail_batch(conn: psycopg.Connection[Any], batch_id: UUID, reason: str) -> None:
    conn.execute(
        "UPDATE batch SET status = 'failed', failure_reason = %s, finished_at = now(), "
        "started_at = coalesce(started_at, now()) WHERE id = %s",
        (reason, batch_id),
    )


def complete_if_done(conn: psycopg.Connection[Any], batch_id: UUID) -> bool:
    """Mark the batch complete if no chunk is pending. The caller holds the batch lock,
    so two chunks finishing at once cannot both miss the last pending one."""
    row = conn.execute(
        "UPDATE batch SET status = 'complete', finished_at = now() "
        "WHERE id = %s AND status = 'matching' AND NOT EXISTS "
        "(SELECT 1 FROM batch_chunk WHERE batch_id = %s AND status = 'pending') RETURNING id",
        (batch_id, batch_id),
    ).fetchone()
    return row is not None


# --- chunks ---------------------------------------------------------------------------


def pending_chunks(conn: psycopg.Connection[Any], batch_id: UUID) -> list[ChunkRecord]:
    with conn.cursor(row_factory=class_row(ChunkRecord)) as cur:
        cur.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM batch_chunk WHERE batch_id = %s "
            "AND status = 'pending' ORDER BY chunk_no",
            (batch_id,),
        )
        return cur.fetchall()


def set_chunk_job(
    conn: psycopg.Connection[Any], batch_id: UUID, chunk_no: int, job_id: str
) -> None:
    conn.execute(
        "UPDATE batch_chunk SET job_id = %s, attempts = attempts + 1, enqueued_at = now() "
        "WHERE batch_id = %s AND chunk_no = %s AND status = 'pending'",
        (job_id, batch_id, chunk_no),
    )


def lock_chunk(
    conn: psycopg.Connection[Any], batch_id: UUID, chunk_no: int, *, skip_locked: bool = False
) -> ChunkRecord | None:
    """The chunk row, locked until the transaction ends: a second run of the same chunk
    waits here, then finds it done."""
    suffix = " SKIP LOCKED" if skip_locked else ""
    with conn.cursor(row_factory=class_row(ChunkRecord)) as cur:
        cur.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM batch_chunk WHERE batch_id = %s AND chunk_no = %s "
            f"FOR UPDATE{suffix}",
            (batch_id, chunk_no),
        )
        return cur.fetchone()


def chunk_rows(
    conn: psycopg.Connection[Any], batch_id: UUID, chunk_no: int
) -> list[BatchRowRecord]:
    with conn.cursor(row_factory=class_row(BatchRowRecord)) as cur:
        cur.execute(
            "SELECT batch_id, row_no, line_no, reference, forenames, surname, date_of_birth, "
            "previous_names, gender, workforce FROM batch_row "
            "WHERE batch_id = %s AND chunk_no = %s ORDER BY row_no",
            (batch_id, chunk_no),
        )
        return cur.fetchall()


def finish_chunk(conn: psycopg.Connection[Any], batch_id: UUID, chunk_no: int) -> None:
    """Mark the chunk done and drop its rows (their identities now live in the checks)."""
    conn.execute(
        "UPDATE batch_chunk SET status = 'done', done_at = now() "
        "WHERE batch_id = %s AND chunk_no = %s",
        (batch_id, chunk_no),
    )
    conn.execute(
        "DELETE FROM batch_row WHERE batch_id = %s AND chunk_no = %s", (batch_id, chunk_no)
    )


# --- progress and results -------------------------------------------------------------


def progress(conn: psycopg.Connection[Any], batch_id: UUID) -> Progress:
    """Checks recorded so far for the batch, by their outcome as it is now."""
    rows = conn.execute(
        "SELECT outcome, count(*) FROM identity_check WHERE batch_id = %s GROUP BY outcome",
        (batch_id,),
    ).fetchall()
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for outcome, count in rows:
        outcomes[str(outcome)] = int(count)
    return Progress(rows_matched=sum(outcomes.values()), outcomes=outcomes)


def iter_results(conn: psycopg.Connection[Any], batch_id: UUID) -> Iterator[tuple[str, str, UUID]]:
    """(reference, outcome now, check id) for each matched row, in file order."""
    with conn.cursor(row_factory=tuple_row) as cur:
        for row in cur.stream(
            "SELECT reference, outcome, id FROM identity_check WHERE batch_id = %s "
            "ORDER BY batch_row",
            (batch_id,),
        ):
            yield str(row[0]), str(row[1]), row[2]


def iter_errors(
    conn: psycopg.Connection[Any], batch_id: UUID
) -> Iterator[tuple[int, str | None, str]]:
    with conn.cursor(row_factory=tuple_row) as cur:
        for row in cur.stream(
            "SELECT line_no, reference, reason FROM batch_error WHERE batch_id = %s "
            "ORDER BY line_no",
            (batch_id,),
        ):
            yield int(row[0]), row[1], str(row[2])


def results_per_row(conn: psycopg.Connection[Any], batch_id: UUID) -> dict[int, int]:
    """batch_row -> number of checks recorded for it (a test and audit aid: always 1)."""
    rows = conn.execute(
        "SELECT batch_row, count(*) FROM identity_check WHERE batch_id = %s GROUP BY batch_row",
        (batch_id,),
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


# --- reconciliation -------------------------------------------------------------------


def unfinished_ingests(
    conn: psycopg.Connection[Any], older_than: datetime, max_attempts: int = 1_000_000
) -> list[UUID]:
    """Batches still `received`/`parsing` whose ingest was enqueued before ``older_than``
    (or never), skipping those a worker holds locked right now."""
    rows = conn.execute(
        "SELECT id FROM batch WHERE status IN ('received', 'parsing') "
        "AND (ingest_enqueued_at IS NULL OR ingest_enqueued_at < %s) AND ingest_attempts < %s "
        "ORDER BY created_at FOR UPDATE SKIP LOCKED",
        (older_than, max_attempts),
    ).fetchall()
    return [r[0] for r in rows]


def stale_pending_chunks(
    conn: psycopg.Connection[Any],
    older_than: datetime,
    limit: int = 10_000,
    max_attempts: int = 1_000_000,
) -> list[ChunkRecord]:
    """Pending chunks enqueued before ``older_than`` (or never) that no transaction holds
    locked (a running chunk holds its row lock until it commits)."""
    with conn.cursor(row_factory=class_row(ChunkRecord)) as cur:
        cur.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM batch_chunk WHERE status = 'pending' "
            "AND (enqueued_at IS NULL OR enqueued_at < %s) AND attempts < %s "
            "ORDER BY batch_id, chunk_no LIMIT %s FOR UPDATE SKIP LOCKED",
            (older_than, max_attempts, limit),
        )
        return cur.fetchall()


def exhausted_work(conn: psycopg.Connection[Any], max_attempts: int) -> int:
    """Pending chunks and unparsed batches the reconciler has given up on (to report)."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM batch_chunk WHERE status = 'pending' AND attempts >= %s)"
        " + (SELECT count(*) FROM batch WHERE status IN ('received', 'parsing') "
        "AND ingest_attempts >= %s)",
        (max_attempts, max_attempts),
    ).fetchone()
    return int(row[0]) if row else 0


def matching_batches_without_pending(conn: psycopg.Connection[Any]) -> list[UUID]:
    """Batches in `matching` with no pending chunk (a crash between commit and check)."""
    rows = conn.execute(
        "SELECT b.id FROM batch b WHERE b.status = 'matching' AND NOT EXISTS "
        "(SELECT 1 FROM batch_chunk c WHERE c.batch_id = b.id AND c.status = 'pending')"
    ).fetchall()
    return [r[0] for r in rows]


def try_advisory_lock(conn: psycopg.Connection[Any], key: int) -> bool:
    """A transaction-scoped advisory lock, without waiting."""
    row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


# --- retention ------------------------------------------------------------------------


def purge_files(conn: psycopg.Connection[Any], finished_before: datetime) -> int:
    """Delete stored files and leftover rows of batches finished before the cutoff.

    Batch records, row errors and the checks' outcomes stay; returns the batches purged.
    """
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM batch WHERE file_purged_at IS NULL AND finished_at < %s "
            "AND status IN ('complete', 'failed') FOR UPDATE SKIP LOCKED",
            (finished_before,),
        ).fetchall()
    ]
    if not ids:
        return 0
    conn.execute("DELETE FROM batch_file WHERE batch_id = ANY(%s)", (ids,))
    conn.execute("DELETE FROM batch_row WHERE batch_id = ANY(%s)", (ids,))
    conn.execute("UPDATE batch SET file_purged_at = now() WHERE id = ANY(%s)", (ids,))
    return len(ids)
