"""Checks: one identity against the barred lists its workforce covers, recorded with its
explained result; outcomes ``clear``, ``barred``, ``under_review`` or ``incomplete``.

Flow of :func:`run_check`:

1. validate the request (field-named errors, never personal data in them);
2. match with the process's :class:`MatcherHolder`: read the committed list version (and
   apply new list changes to the index), then match, which needs no database; with a
   connection in autocommit (the API's) no transaction is open meanwhile;
3. one short transaction: share-lock the list version (``list_state``); if a newer version
   committed since the match, match again (the version cannot move while the lock is held),
   so the recorded ``list_version`` is the newest committed one and the check commits
   before any newer version can (continuous screening relies on this); then write the
   check, its candidates, a review item (``possible``) and an alert
   (``barred``/``under_review``), and last the audit event (its lock is held to commit).

Called inside the caller's open transaction, all of it runs in that transaction.

A matcher fault after validation records the check as ``incomplete`` (never ``clear``);
:func:`retry_incomplete` settles it later. A database fault raises and the caller's
transaction rolls back: nothing half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import UUID

import psycopg

from vbs.audit import AuditLog
from vbs.errors import FieldError, Forbidden, ValidationFailed
from vbs.principal import Principal
from vbs.repo import checks as repo
from vbs.repo import reviews as review_repo
from vbs.services.matcher_holder import MatcherHolder, MatchOutcome

log = logging.getLogger(__name__)

Workforce = Literal["children", "adults", "both"]
Gender = Literal["female", "male", "unspecified"]
Outcome = Literal["clear", "barred", "under_review", "incomplete"]

WORKFORCES: frozenset[str] = frozenset({"children", "adults", "both"})
GENDERS: frozenset[str] = frozenset({"female", "male", "unspecified"})
MAX_NAME = 200
MAX_REFERENCE = 100
MAX_PREVIOUS_NAMES = 20
EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """One identity to check (already parsed: the API and the batch reader build it)."""

    reference: str
    forenames: str
    surname: str
    date_of_birth: date
    workforce: str = "both"
    previous_names: tuple[str, ...] = ()
    gender: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a client sees: no score, no matched person, no reason."""

    id: UUID
    reference: str
    outcome: str
    checked_at: datetime
    list_version: int | None


@dataclass(frozen=True, slots=True)
class BatchRowInput:
    row: int  # the batch's own row number (its line number, say)
    request: CheckRequest


@dataclass(slots=True)
class BatchRecordResult:
    """What :func:`record_batch_rows` wrote now (rows already recorded are skipped)."""

    inserted: dict[int, UUID] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    skipped: int = 0


def validate(request: CheckRequest, *, today: date | None = None) -> list[FieldError]:
    """Every failing field, named; messages never quote the value."""
    errors: list[FieldError] = []
    today = today or datetime.now(UTC).date()

    def text(name: str, value: str, limit: int) -> None:
        if not value or not value.strip():
            errors.append(FieldError(name, "must not be empty"))
        elif len(value) > limit:
            errors.append(FieldError(name, f"must be at most {limit} characters"))
        elif any(ord(ch) < 32 for ch in value):
            errors.append(FieldError(name, "must not contain control characters"))

    text("reference", request.reference, MAX_REFERENCE)
    text("forenames", request.forenames, MAX_NAME)
    text("surname", request.surname, MAX_NAME)
    if request.date_of_birth > today:
        errors.append(FieldError("date_of_birth", "must not be in the future"))
    elif request.date_of_birth < EARLIEST_BIRTH:
        errors.append(FieldError("date_of_birth", "must be on or after 1900-01-01"))
    if request.workforce not in WORKFORCES:
        errors.append(FieldError("workforce", "must be one of children, adults, both"))
    if request.gender is not None and request.gender not in GENDERS:
        errors.append(FieldError("gender", "must be one of female, male, unspecified"))
    if len(request.previous_names) > MAX_PREVIOUS_NAMES:
        errors.append(FieldError("previous_names", f"must hold at most {MAX_PREVIOUS_NAMES} names"))
    for i, name in enumerate(request.previous_names):
        text(f"previous_names[{i}]", name, 2 * MAX_NAME)
        if name.strip() and len(name.split()) < 2:
            errors.append(FieldError(f"previous_names[{i}]", "must be a full name"))
    return errors


def outcome_for_band(band: str) -> str:
    if band == "match":
        return "barred"
    if band == "possible":
        return "under_review"
    return "clear"


def _new_check(
    request: CheckRequest,
    principal: Principal,
    organisation_id: UUID,
    outcome: str,
    list_version: int | None,
    matcher_version: str | None,
    *,
    batch_id: UUID | None = None,
    batch_row: int | None = None,
) -> repo.NewCheck:
    return repo.NewCheck(
        organisation_id=organisation_id,
        reference=request.reference,
        forenames=request.forenames,
        surname=request.surname,
        date_of_birth=request.date_of_birth,
        previous_names=list(request.previous_names),
        gender=request.gender,
        workforce=request.workforce,
        outcome=outcome,
        list_version=list_version,
        matcher_version=matcher_version,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        batch_id=batch_id,
        batch_row=batch_row,
    )


def _fresh_match(
    conn: psycopg.Connection[Any], holder: MatcherHolder, request: CheckRequest
) -> MatchOutcome | None:
    """Match at the committed list version (the database read first, then the matching,
    which needs none). None on a matcher fault (the check is then ``incomplete``); database
    errors propagate."""
    try:
        holder.prepare(conn)
        return holder.match_request_now(request)
    except psycopg.Error:
        raise
    except Exception as exc:  # a matcher fault: fail closed to `incomplete`
        log.error("matcher fault during a check: %s", type(exc).__name__)
        return None


def _at_locked_version(
    conn: psycopg.Connection[Any],
    holder: MatcherHolder,
    request: CheckRequest,
    match: MatchOutcome | None,
) -> MatchOutcome | None:
    """Share-lock the list version (in the caller's transaction); match again if a newer
    version committed since ``match`` was made. None (``incomplete``) on a matcher fault."""
    locked = repo.lock_list_version(conn)
    if match is None or match.list_version == locked:
        return match
    # A list change committed after the match: match at the locked version (it cannot move
    # while the lock is held, so the holder's fresh version is this one).
    again = _fresh_match(conn, holder, request)
    if again is not None and again.list_version != locked:
        log.error(
            "matcher at list version %d after the lock on version %d", again.list_version, locked
        )
        return None
    return again


def _match_locked(
    conn: psycopg.Connection[Any], holder: MatcherHolder, request: CheckRequest
) -> MatchOutcome | None:
    """Match, then share-lock the list version, matching again if it moved (all in the
    caller's transaction)."""
    return _at_locked_version(conn, holder, request, _fresh_match(conn, holder, request))


@contextmanager
def _before_writing(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Where a check's match reads the database: as it comes in autocommit or in the
    caller's open transaction; on an idle connection that is not in autocommit, in a short
    transaction of its own, so that the check's writing transaction is a real one (not a
    savepoint of an implicit transaction nobody commits)."""
    if conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        yield
    else:
        with conn.transaction():
            yield


def _write_result(
    conn: psycopg.Connection[Any],
    check_id: UUID,
    organisation_id: UUID,
    match: MatchOutcome,
    *,
    source: str = "check",
) -> str:
    """Candidates, review item and alert for a matched check; returns its outcome."""
    outcome = outcome_for_band(match.band)
    repo.insert_candidates(conn, check_id, match.list_version, match.candidates, source)
    if outcome == "under_review":
        review_repo.insert_item(conn, check_id, "possible_match")
    if outcome in ("barred", "under_review"):
        repo.insert_alert(conn, check_id, organisation_id, outcome, source)
    return outcome


def run_check(
    conn: psycopg.Connection[Any],
    holder: MatcherHolder,
    audit: AuditLog,
    principal: Principal,
    request: CheckRequest,
) -> CheckResult:
    """Check one identity for the principal's organisation (see the module docstring)."""
    if not principal.is_client or principal.org_id is None:
        raise Forbidden("only an employer or registered body can run a check")
    errors = validate(request)
    if errors:
        raise ValidationFailed(errors)
    org_id = principal.org_id
    # Match first, holding no transaction: the matcher needs only the committed version.
    with _before_writing(conn):
        first = _fresh_match(conn, holder, request)
    with conn.transaction():
        match = _at_locked_version(conn, holder, request, first)
        outcome = outcome_for_band(match.band) if match is not None else "incomplete"
        check_id, checked_at = repo.insert_check(
            conn,
            _new_check(
                request,
                principal,
                org_id,
                outcome,
                match.list_version if match else None,
                match.matcher_version if match else None,
            ),
        )
        if match is not None:
            _write_result(conn, check_id, org_id, match)
        audit.record(
            conn,
            principal,
            "check.create",
            "check",
            str(check_id),
            {
                "outcome": outcome,
                "workforce": request.workforce,
                "list_version": match.list_version if match else None,
                "candidates": len(match.candidates) if match else 0,
            },
        )
    return CheckResult(
        check_id, request.reference, outcome, checked_at, match.list_version if match else None
    )


def retry_incomplete(
    conn: psycopg.Connection[Any],
    holder: MatcherHolder,
    audit: AuditLog | None,
    *,
    check_ids: Sequence[UUID] | None = None,
    batch_id: UUID | None = None,
    limit: int = 500,
) -> dict[str, int]:
    """Match ``incomplete`` checks again and settle them; one transaction per check.

    Returns counts by new outcome (a check still failing stays ``incomplete``).
    """
    ids = (
        list(check_ids)
        if check_ids is not None
        else repo.incomplete_check_ids(conn, limit, batch_id)
    )
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()
    counts: dict[str, int] = {}
    for check_id in ids:
        with conn.transaction():
            row = repo.get_check(conn, check_id, for_update=True)
            if row is None or row.outcome != "incomplete" or row.identity_purged_at is not None:
                continue
            assert row.forenames is not None and row.surname is not None
            assert row.date_of_birth is not None
            request = CheckRequest(
                reference=row.reference,
                forenames=row.forenames,
                surname=row.surname,
                date_of_birth=row.date_of_birth,
                workforce=row.workforce,
                previous_names=tuple(row.previous_names or ()),
                gender=row.gender,
            )
            match = _match_locked(conn, holder, request)
            if match is None:
                counts["incomplete"] = counts.get("incomplete", 0) + 1
                continue
            outcome = _write_result(conn, check_id, row.organisation_id, match)
            repo.set_outcome(
                conn,
                check_id,
                outcome,
                list_version=match.list_version,
                matcher_version=match.matcher_version,
            )
            if audit is not None and row.batch_id is None:
                audit.record(
                    conn,
                    None,
                    "check.retry",
                    "check",
                    str(check_id),
                    {"outcome": outcome, "list_version": match.list_version},
                )
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def record_batch_rows(
    conn: psycopg.Connection[Any],
    holder: MatcherHolder,
    batch_id: UUID,
    organisation_id: UUID,
    rows: Sequence[BatchRowInput],
) -> BatchRecordResult:
    """Match and record many batch rows in the caller's transaction, idempotently.

    For the batch worker's ``match_chunk``: call it inside the transaction that also marks
    the chunk done. Each row becomes an ``identity_check`` with ``batch_id`` and
    ``batch_row`` = ``BatchRowInput.row``; ``INSERT ... ON CONFLICT (batch_id, batch_row) DO
    NOTHING`` skips rows already recorded, so running a chunk twice (even at once) leaves
    one result per row. Rows must be valid (:func:`validate` them first, and record bad
    rows as row errors). Candidates, review items and alerts are written only for rows
    inserted now. A matcher fault records every row as ``incomplete`` (never ``clear``);
    :func:`retry_incomplete` with ``batch_id`` settles them. No audit event per row: the
    batch is audited per batch by its caller. Returns the ids inserted now by row number
    and the count of each outcome written now.
    """
    result = BatchRecordResult()
    if not rows:
        return result
    with conn.transaction():
        matches = _match_many_locked(conn, holder, [r.request for r in rows])
        system = Principal(role="system", org_id=organisation_id)
        new_checks = []
        for r, m in zip(rows, matches, strict=True):
            outcome = outcome_for_band(m.band) if m is not None else "incomplete"
            new_checks.append(
                _new_check(
                    r.request,
                    system,
                    organisation_id,
                    outcome,
                    m.list_version if m else None,
                    m.matcher_version if m else None,
                    batch_id=batch_id,
                    batch_row=r.row,
                )
            )
        inserted = repo.insert_batch_checks(conn, new_checks)
        result.inserted = inserted
        result.skipped = len(rows) - len(inserted)
        candidates: list[tuple[UUID, int, repo.NewCandidate]] = []
        possible: list[UUID] = []
        alerts: list[tuple[UUID, UUID, str]] = []
        for r, m, c in zip(rows, matches, new_checks, strict=True):
            check_id = inserted.get(r.row)
            if check_id is None:
                continue
            result.outcomes[c.outcome] = result.outcomes.get(c.outcome, 0) + 1
            if m is None:
                continue
            candidates.extend((check_id, m.list_version, cand) for cand in m.candidates)
            if c.outcome == "under_review":
                possible.append(check_id)
            if c.outcome in ("barred", "under_review"):
                alerts.append((check_id, organisation_id, c.outcome))
        # Bulk writes: a chunk costs a few round trips, not a few per row.
        repo.insert_candidates_many(conn, candidates)
        review_repo.insert_possible_items(conn, possible)
        repo.insert_alerts_many(conn, alerts, "check")
    return result


def _match_many_locked(
    conn: psycopg.Connection[Any], holder: MatcherHolder, requests: Sequence[CheckRequest]
) -> list[MatchOutcome | None]:
    def attempt() -> list[MatchOutcome | None]:
        try:
            return list(holder.match_requests(conn, requests))
        except psycopg.Error:
            raise
        except Exception as exc:
            log.error("matcher fault during a batch chunk: %s", type(exc).__name__)
            return [None] * len(requests)

    outcomes = attempt()
    for _ in range(3):
        locked = repo.lock_list_version(conn)
        versions = {o.list_version for o in outcomes if o is not None}
        if not versions or versions == {locked}:
            return outcomes
        outcomes = attempt()
    return [None] * len(requests)


# Reads for the client's own organisation ------------------------------------------------


def get_for_org(conn: psycopg.Connection[Any], principal: Principal, check_id: UUID) -> CheckResult:
    """A check of the caller's organisation; another organisation's check is NotFound."""
    from vbs.errors import NotFound

    if principal.org_id is None or not principal.is_client:
        raise NotFound("no such check")
    row = repo.get_org_check(conn, principal.org_id, check_id)
    if row is None:
        raise NotFound("no such check")
    return CheckResult(row.id, row.reference, row.outcome, row.checked_at, row.list_version)


def search_for_org(
    conn: psycopg.Connection[Any], principal: Principal, reference: str
) -> list[CheckResult]:
    if principal.org_id is None or not principal.is_client:
        return []
    if not reference.strip() or len(reference) > MAX_REFERENCE or "\x00" in reference:
        raise ValidationFailed([FieldError("reference", "must be 1-100 characters, no NUL")])
    return [
        CheckResult(r.id, r.reference, r.outcome, r.checked_at, r.list_version)
        for r in repo.find_by_reference(conn, principal.org_id, reference)
    ]
