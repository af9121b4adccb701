"""Retention: past the retention period, check identities and stored batch files go;
outcomes, match bands and audit events stay.

A check a caseworker still has to decide on (a pending review item) keeps its identity
until decided: the decision needs it. The candidates' explanations, which quote compared
values, and the reasons given with disputes are erased with the identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from vbs.audit import AuditLog
from vbs.errors import FieldError, ValidationFailed
from vbs.repo import checks as check_repo

_AGE_RE = re.compile(r"^\s*(\d{1,5})\s*([dhw]?)\s*$")


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: datetime
    checks_purged: int
    batch_files_purged: int


def parse_age(text: str) -> timedelta:
    """'90d', '12w', '48h' or a bare number of days."""
    m = _AGE_RE.match(text)
    if m is None or int(m.group(1)) <= 0:
        raise ValidationFailed(
            [FieldError("older_than", "expected a positive age such as 90d, 12w or 48h")]
        )
    n, unit = int(m.group(1)), m.group(2) or "d"
    return {"d": timedelta(days=n), "w": timedelta(weeks=n), "h": timedelta(hours=n)}[unit]


def purge(
    conn: psycopg.Connection[Any],
    audit: AuditLog | None,
    older_than: timedelta,
    *,
    now: datetime | None = None,
) -> PurgeReport:
    """Purge identities and batch files older than ``older_than`` (one transaction)."""
    cutoff = (now or datetime.now(UTC)) - older_than
    with conn.transaction():
        checks = check_repo.purge_identities(conn, cutoff)
        files = _purge_batch_files(conn, cutoff)
        if audit is not None:
            audit.record(
                conn,
                None,
                "retention.purge",
                None,
                None,
                {
                    "cutoff": cutoff.isoformat(),
                    "checks_purged": checks,
                    "batch_files_purged": files,
                },
            )
    return PurgeReport(cutoff, checks, files)


def _purge_batch_files(conn: psycopg.Connection[Any], cutoff: datetime) -> int:
    """The batch repository's own purge (the batch tables are not ours), if present."""
    try:
        from vbs.repo import batches
    except ImportError:  # pragma: no cover - the batch part not installed
        return 0
    fn = getattr(batches, "purge_files", None)
    if fn is None:  # pragma: no cover
        return 0
    return int(fn(conn, cutoff))
