"""``/v1/batches``: upload a batch file, follow its progress, download results and errors.

Clients only (employer or registered body: a user or an API key), their own organisation
only: another organisation's batch answers 404.

The upload is read as a stream (python-multipart's push parser over ``request.stream()``):
the size and row limits, the encoding and the header are checked as the bytes arrive, into
a temporary spool file, so one byte over the limit answers 413 before the rest is read and
nothing is stored. Only then, in one transaction, the batch row and the stored file are
written with the upload's audit event; the ``ingest`` job is enqueued after the commit (if
Redis is down then, the reconciler enqueues it later: the batch is accepted either way).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import psycopg
import redis
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import ClientPrincipal, ConnDep, StateDep
from api.quotas import consume
from batch import export
from batch import queue as q
from batch.ingest import UploadScanner
from vbs.errors import (
    FieldError,
    NotFound,
    PayloadTooLarge,
    UnsupportedFile,
    ValidationFailed,
)
from vbs.principal import Principal
from vbs.repo import batches as repo

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

log = logging.getLogger("vbs.api.batches")

router = APIRouter(prefix="/v1", tags=["batches"])

PART_BYTES = 1024 * 1024  # stored file parts
MAX_FIELD_BYTES = 64  # the declaration fields are "true"
MAX_PARTS = 8
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers, beyond the file itself
DECLARATIONS = ("eligibility_confirmed", "consent_confirmed")


Status = Literal["received", "parsing", "matching", "complete", "failed"]


class BatchAccepted(BaseModel):
    id: UUID
    status: Status


class Outcomes(BaseModel):
    clear: int
    barred: int
    under_review: int
    incomplete: int


class BatchOut(BaseModel):
    id: UUID
    status: Status
    rows_total: int
    rows_processed: int
    rows_failed: int
    outcomes: Outcomes
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    failure_reason: str | None = None


class BatchSummary(BaseModel):
    id: UUID
    status: Status
    rows_total: int
    rows_failed: int
    created_at: datetime
    finished_at: datetime | None


class BatchList(BaseModel):
    batches: list[BatchSummary]


async def guard_length(request: Request, state: StateDep) -> None:
    """Refuse at once a request whose declared length cannot fit under the file limit
    (before anything reads the body)."""
    declared = request.headers.get("content-length")
    limit = state.settings.batch_max_bytes
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"file: larger than the limit of {limit} bytes")


LengthGuard = Annotated[None, Depends(guard_length)]


# --- upload ---------------------------------------------------------------------------


class _Upload:
    """Receives multipart callbacks: the `file` part into the scanner and a spool file."""

    def __init__(self, scanner: UploadScanner, spool: IO[bytes]) -> None:
        self.scanner = scanner
        self.spool = spool
        self.sha256 = hashlib.sha256()
        self.fields: dict[str, bytearray] = {}
        self.files = 0
        self.parts = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._current: str | None = None
        self._is_file = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise _invalid("body", f"more than {MAX_PARTS} form fields")
        self._headers = {}
        self._current = None
        self._is_file = False

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).decode("latin-1").lower()] = bytes(
            self._header_value
        )
        self._header_field = bytearray()
        self._header_value = bytearray()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", errors="replace")
        self._current = name
        if name == "file":
            self.files += 1
            if self.files > 1:
                raise _invalid("file", "send one file per batch")
            self._is_file = True
        elif name in self.fields:
            raise _invalid(name, "given more than once")
        else:
            self.fields[name] = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = bytes(data[start:end])
        if self._is_file:
            self.scanner.feed(chunk)
            self.sha256.update(chunk)
            self.spool.write(chunk)
        elif self._current is not None:
            value = self.fields[self._current]
            value += chunk
            if len(value) > MAX_FIELD_BYTES:
                raise _invalid(self._current[:40], "value too long")

    def declarations(self) -> None:
        problems = []
        for name in DECLARATIONS:
            value = bytes(self.fields.get(name, b"")).decode("utf-8", errors="replace").strip()
            if value.lower() != "true":
                problems.append(FieldError(name, "must be true"))
        if problems:
            raise ValidationFailed(problems)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, message)])


def _boundary(request: Request) -> bytes:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise UnsupportedFile("send the batch as multipart/form-data with the file in 'file'")
    return params[b"boundary"]


async def _receive(request: Request, upload: _Upload) -> None:
    """Stream the body through the multipart parser (limits enforced as bytes arrive)."""
    parser = MultipartParser(_boundary(request), upload.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
    except RuntimeError:
        # The body was already read (a session's CSRF check reads the form): use it.
        await _from_parsed_form(request, upload)
        return
    except ClientDisconnect:
        raise _invalid("file", "the upload was interrupted") from None
    parser.finalize()


async def _from_parsed_form(request: Request, upload: _Upload) -> None:
    """The web form's path: its CSRF field was checked by reading the whole form first
    (Starlette spooled the file to disk); scan that copy, then close it."""
    form = await request.form()
    try:
        for name in DECLARATIONS:
            value = form.get(name)
            if isinstance(value, str):
                upload.fields[name] = bytearray(value.encode()[: MAX_FIELD_BYTES + 1])
        file = form.get("file")
        if file is None or isinstance(file, str):
            return
        upload.files = 1
        while chunk := await file.read(64 * 1024):
            upload.scanner.feed(chunk)
            upload.sha256.update(chunk)
            upload.spool.write(chunk)
    finally:
        await form.close()


def _store(
    state: Any, principal: Principal, upload: _Upload, rows: int
) -> tuple[repo.BatchRecord, str]:
    assert principal.org_id is not None
    upload.spool.seek(0)

    def parts() -> Iterator[bytes]:
        while data := upload.spool.read(PART_BYTES):
            yield data

    with state.pool.connection() as conn, conn.transaction():
        batch = repo.create_batch(
            conn,
            org_id=principal.org_id,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            file_bytes=upload.scanner.size,
            file_sha256=upload.sha256.digest(),
            eligibility_confirmed=True,
            consent_confirmed=True,
            parts=parts(),
        )
        job_id = q.new_job_id("ingest", batch.id)
        repo.set_ingest_job(conn, batch.id, job_id)
        state.audit.record(
            conn,
            principal,
            "batch.submit",
            "batch",
            str(batch.id),
            {"bytes": upload.scanner.size, "rows": rows},
        )
    return batch, job_id


UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", *DECLARATIONS],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "eligibility_confirmed": {"type": "string", "enum": ["true"]},
                    "consent_confirmed": {"type": "string", "enum": ["true"]},
                },
            }
        }
    },
}


@router.post(
    "/batches",
    status_code=202,
    response_model=BatchAccepted,
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def create_batch(
    request: Request, _length: LengthGuard, principal: ClientPrincipal, state: StateDep
) -> JSONResponse:
    """Upload a batch file (multipart: `file`, `eligibility_confirmed=true`,
    `consent_confirmed=true`). See docs/batch-files.md for the format and limits."""
    settings = state.settings
    scanner = UploadScanner(settings.batch_max_bytes, settings.batch_max_rows)
    with tempfile.SpooledTemporaryFile(max_size=PART_BYTES) as spool:
        upload = _Upload(scanner, spool)
        await _receive(request, upload)
        if upload.files == 0:
            raise _invalid("file", "attach the batch file in the form field 'file'")
        scanner.finish()
        upload.declarations()
        rows = scanner.data_rows
        if rows:
            # Rows count against the daily volumes; the upload is one request per minute.
            await run_in_threadpool(consume, state.redis, settings, principal, rows, per_minute=1)
        batch, job_id = await run_in_threadpool(_store, state, principal, upload, rows)
    # After the commit: enqueue the ingest job (ids only). The job id was recorded with the
    # batch, so if Redis is unreachable now the reconciler finds the job missing later.
    queue = getattr(state, "batch_queue", None)
    if queue is not None:
        try:
            await run_in_threadpool(q.enqueue_ingest, queue, batch.id, job_id)
        except redis.RedisError as exc:
            log.warning("batch %s: enqueue failed (%s)", batch.id, type(exc).__name__)
    body = BatchAccepted(id=batch.id, status="received")
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/batches/{batch.id}"},
    )


# --- progress and downloads -----------------------------------------------------------


def _own_batch(
    conn: psycopg.Connection[Any], principal: Principal, batch_id: UUID
) -> repo.BatchRecord:
    if principal.org_id is None:
        raise NotFound("no such batch")
    batch = repo.get_batch(conn, batch_id, principal.org_id)
    if batch is None:
        raise NotFound("no such batch")
    return batch


@router.get("/batches", response_model=BatchList)
def list_batches(principal: ClientPrincipal, conn: ConnDep) -> BatchList:
    """The organisation's batches, newest first (at most 100)."""
    if principal.org_id is None:
        return BatchList(batches=[])
    rows = repo.list_batches(conn, principal.org_id)
    return BatchList(
        batches=[
            BatchSummary(
                id=b.id,
                status=b.status,  # type: ignore[arg-type]
                rows_total=b.rows_total,
                rows_failed=b.rows_failed,
                created_at=b.created_at,
                finished_at=b.finished_at,
            )
            for b in rows
        ]
    )


@router.get("/batches/{batch_id}", response_model=BatchOut)
def get_batch(batch_id: UUID, principal: ClientPrincipal, conn: ConnDep) -> BatchOut:
    """Progress: rows processed so far, refused rows, and outcomes as they are now."""
    batch = _own_batch(conn, principal, batch_id)
    progress = repo.progress(conn, batch_id)
    return BatchOut(
        id=batch.id,
        status=batch.status,  # type: ignore[arg-type]
        rows_total=batch.rows_total,
        rows_processed=progress.rows_matched + batch.rows_failed,
        rows_failed=batch.rows_failed,
        outcomes=Outcomes(**progress.outcomes),
        created_at=batch.created_at,
        started_at=batch.started_at,
        finished_at=batch.finished_at,
        failure_reason=batch.failure_reason,
    )


def _download(state: Any, kind: str, batch_id: UUID) -> StreamingResponse:
    pool = state.pool

    def pieces() -> Iterator[str]:
        with pool.connection() as conn:
            if kind == "results":
                yield from export.results_csv(repo.iter_results(conn, batch_id))
            else:
                yield from export.errors_csv(repo.iter_errors(conn, batch_id))

    return StreamingResponse(
        pieces(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}-{kind}.csv"'},
    )


@router.get("/batches/{batch_id}/results.csv", response_class=StreamingResponse)
def results_csv(
    batch_id: UUID, principal: ClientPrincipal, conn: ConnDep, state: StateDep
) -> StreamingResponse:
    """`reference,outcome,check_id` for every matched row, outcomes as they are now."""
    _own_batch(conn, principal, batch_id)
    return _download(state, "results", batch_id)


@router.get("/batches/{batch_id}/errors.csv", response_class=StreamingResponse)
def errors_csv(
    batch_id: UUID, principal: ClientPrincipal, conn: ConnDep, state: StateDep
) -> StreamingResponse:
    """`line,reference,reason` for every refused row."""
    _own_batch(conn, principal, batch_id)
    return _download(state, "errors", batch_id)
