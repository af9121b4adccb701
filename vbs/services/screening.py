"""Continuous screening: every new list entry is matched against the retained checks that
were matched on an older list version; a check that now matches moves to ``under_review``
with a ``screening`` review item, an alert, and a notification for its organisation.

:func:`screen_pending` runs once (the batch worker calls it on a timer; ``vbs screen`` from
the command line). It reads the entries added after the screening cursor and still barred,
builds a tiny :class:`~matching.index.ListIndex` of them only, and matches the retained
checks against it in pages. A hit counts only if the entry was added after the list version
the check was matched on. Checks "in flight" when a version committed are covered: a check
records the list version it share-locked at commit (see :mod:`vbs.services.checks`), so any
check matched on an older version committed before the newer version did, and is seen here.

Idempotent: review items are unique per (check, entry), notifications per (check, version),
alerts per (check, kind, source); the cursor only moves forward, under a row lock that
serialises concurrent screeners.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg

from matching.engine import Engine
from matching.index import ListIndex
from vbs.audit import AuditLog
from vbs.repo import checks as check_repo
from vbs.repo import reviews as review_repo
from vbs.repo import screening as repo
from vbs.repo.barred_list import BarredEntry
from vbs.repo.checks import NewCandidate
from vbs.services.matcher_holder import (
    MatcherHolder,
    entry_identity,
    index_lists,
    lists_for_workforce,
    match_grouped,
    request_identity,
)

log = logging.getLogger(__name__)

PAGE = 2000


@dataclass(slots=True)
class ScreeningReport:
    from_version: int
    to_version: int
    new_entries: int = 0
    checks_screened: int = 0
    hits: int = 0
    moved_to_review: list[UUID] = field(default_factory=list)


def screen_pending(
    conn: psycopg.Connection[Any],
    holder: MatcherHolder,
    audit: AuditLog | None,
    *,
    page: int = PAGE,
) -> ScreeningReport:
    """Screen the retained checks against the entries added since the cursor (one
    transaction; see the module docstring)."""
    with conn.transaction():
        current = check_repo.current_list_version(conn)
        cursor = repo.lock_cursor(conn)
        if cursor is None:
            cursor = repo.init_cursor(conn, 0)
        report = ScreeningReport(cursor, current)
        if current <= cursor:
            return report
        oldest = repo.oldest_retained_version(conn)
        lower = max(cursor, oldest if oldest is not None else current)
        entries = repo.added_between(conn, lower, current) if lower < current else []
        report.new_entries = len(entries)
        if entries:
            _screen(conn, holder, entries, current, report, page)
        repo.advance_cursor(conn, current)
        if audit is not None and (entries or report.moved_to_review):
            audit.record(
                conn,
                None,
                "screening.run",
                "list_version",
                str(current),
                {
                    "from_version": cursor,
                    "to_version": current,
                    "new_entries": report.new_entries,
                    "checks_screened": report.checks_screened,
                    "hits": report.hits,
                    "moved_to_review": len(report.moved_to_review),
                },
            )
    if report.moved_to_review:
        log.info(
            "screening to list version %d moved %d checks to review",
            current,
            len(report.moved_to_review),
        )
    return report


def _screen(
    conn: psycopg.Connection[Any],
    holder: MatcherHolder,
    entries: list[BarredEntry],
    current: int,
    report: ScreeningReport,
    page: int,
) -> None:
    index = ListIndex()
    index.add_many([(str(e.id), entry_identity(e), index_lists(e.lists)) for e in entries])
    engine = Engine(index, holder.thresholds)
    created = {e.id: e.created_version for e in entries}
    after: UUID | None = None
    while True:
        checks = check_repo.retained_checks_before(conn, current, after, page)
        if not checks:
            break
        after = checks[-1].id
        todo = [c for c in checks if c.outcome != "barred" and c.date_of_birth is not None]
        report.checks_screened += len(todo)
        if not todo:
            continue
        identities = [
            request_identity(
                c.forenames or "",
                c.surname or "",
                c.date_of_birth,  # type: ignore[arg-type]  # filtered above
                c.previous_names or (),
                c.gender,
            )
            for c in todo
        ]
        results = match_grouped(
            engine, identities, [lists_for_workforce(c.workforce) for c in todo]
        )
        for check, result in zip(todo, results, strict=True):
            hits = [
                cand
                for cand in result.candidates
                if cand.band in ("match", "possible")
                and created[UUID(str(cand.key))] > (check.list_version or 0)
            ]
            if not hits:
                continue
            _record_hits(conn, check, hits, current, report)


def _record_hits(
    conn: psycopg.Connection[Any],
    check: check_repo.CheckRow,
    hits: list[Any],
    current: int,
    report: ScreeningReport,
) -> None:
    new_items = []
    for cand in hits:
        entry_id = UUID(str(cand.key))
        item = review_repo.insert_item(conn, check.id, "screening", entry_id=entry_id)
        if item is not None:
            new_items.append(cand)
    if not new_items:
        return  # screened before: nothing new
    report.hits += len(new_items)
    rank = check_repo.next_candidate_rank(conn, check.id)
    check_repo.insert_candidates(
        conn,
        check.id,
        current,
        [
            NewCandidate(
                rank=rank + i,
                entry_id=UUID(str(c.key)),
                probability=float(c.probability),
                band=str(c.band),
                explanation=c.explanation(),
            )
            for i, c in enumerate(new_items)
        ],
        source="screening",
    )
    locked = check_repo.get_check(conn, check.id, for_update=True)
    if locked is None or locked.outcome == "barred":
        return
    if locked.outcome != "under_review":
        check_repo.set_outcome(conn, check.id, "under_review")
        report.moved_to_review.append(check.id)
    check_repo.insert_alert(conn, check.id, check.organisation_id, "under_review", "screening")
    check_repo.insert_notification(
        conn, check.organisation_id, check.id, "screening", "under_review", current
    )
