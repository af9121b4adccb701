"""Shared helpers for the checks, reviews, screening, freshness and retention tests."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from matching.engine import MatchResult
from matching.identity import Identity
from matching.model import Thresholds
from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.principal import Principal
from vbs.repo import accounts
from vbs.repo import batches as batch_repo
from vbs.services import barred_list as bl
from vbs.services.checks import CheckRequest
from vbs.services.matcher_holder import MatcherHolder

SYSTEM_LIST = Principal(role="system")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Actors:
    employer: Principal
    other_employer: Principal
    caseworker: Principal
    caseworker2: Principal


def make_actors(pool: ConnectionPool) -> Actors:
    with transaction(pool) as conn:
        emp = accounts.insert_org(conn, "Acme Care", "employer")
        other = accounts.insert_org(conn, "Other Care", "employer")
        auth = accounts.insert_org(conn, "Authority", "authority")
        u1 = accounts.insert_user(
            conn, emp.id, f"e{uuid.uuid4().hex[:6]}@x.test", "employer", "x", None
        )
        u2 = accounts.insert_user(
            conn, other.id, f"o{uuid.uuid4().hex[:6]}@x.test", "employer", "x", None
        )
        c1 = accounts.insert_user(
            conn, auth.id, f"c{uuid.uuid4().hex[:6]}@x.test", "caseworker", "x", "JBSWY3DPEHPK3PXP"
        )
        c2 = accounts.insert_user(
            conn, auth.id, f"d{uuid.uuid4().hex[:6]}@x.test", "caseworker", "x", "JBSWY3DPEHPK3PXP"
        )
    return Actors(
        employer=Principal(role="employer", org_id=emp.id, org_kind="employer", user_id=u1),
        other_employer=Principal(role="employer", org_id=other.id, org_kind="employer", user_id=u2),
        caseworker=Principal(role="caseworker", org_id=auth.id, org_kind="authority", user_id=c1),
        caseworker2=Principal(role="caseworker", org_id=auth.id, org_kind="authority", user_id=c2),
    )


def new_batch(pool: ConnectionPool, who: Principal) -> uuid.UUID:
    """A real batch row for ``who``'s organisation (identity_check.batch_id refers to it)."""
    assert who.org_id is not None
    with transaction(pool) as conn:
        batch = batch_repo.create_batch(
            conn,
            org_id=who.org_id,
            user_id=who.user_id,
            api_key_id=None,
            file_bytes=0,
            file_sha256=bytes(32),
            eligibility_confirmed=True,
            consent_confirmed=True,
            parts=(),
        )
    return batch.id


def new_holder() -> MatcherHolder:
    return MatcherHolder(Thresholds(match=0.97, possible=0.25))


def bar(
    pool: ConnectionPool,
    audit: AuditLog,
    forenames: str,
    surname: str,
    dob: str,
    lists: str = "children|adults",
    **kw: Any,
) -> uuid.UUID:
    with transaction(pool) as conn:
        res = bl.add_entry(
            conn,
            audit,
            SYSTEM_LIST,
            bl.EntryInput(
                forenames=forenames, surname=surname, date_of_birth=dob, lists=lists, **kw
            ),
            reason="test bar",
        )
    return res.entry_id


def unbar(pool: ConnectionPool, audit: AuditLog, entry_id: uuid.UUID) -> None:
    with transaction(pool) as conn:
        bl.remove_entry(conn, audit, SYSTEM_LIST, entry_id, reason="test removal")


def request(
    forenames: str = "Alice Mary",
    surname: str = "Oyelaran",
    dob: date = date(1980, 3, 12),
    workforce: str = "both",
    reference: str = "REF-1",
    **kw: Any,
) -> CheckRequest:
    return CheckRequest(
        reference=reference,
        forenames=forenames,
        surname=surname,
        date_of_birth=dob,
        workforce=workforce,
        **kw,
    )


def audit_rows(conn: psycopg.Connection[Any]) -> list[tuple[str, str | None, str]]:
    rows = conn.execute(
        "SELECT action, object_id, detail::text FROM audit_event ORDER BY seq"
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def run_vbs(owner_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m vbs ARGS`` on the test database, with a data folder of its own."""
    env = {
        **os.environ,
        "VBS_DATABASE_URL": owner_url,
        "VBS_DATA_DIR": str(data_dir),
        "VBS_AUDIT_KEY": "k" * 32,
    }
    return subprocess.run(
        [sys.executable, "-m", "vbs", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class FaultyHolder(MatcherHolder):
    """A real holder whose matcher can be made to fail (fault injection, not a fake)."""

    fail = True

    def match_now(self, identity: Identity, lists: int) -> tuple[MatchResult, int]:
        if self.fail:
            raise RuntimeError("injected matcher fault")
        return super().match_now(identity, lists)

    def match_many_now(self, identities: Any, lists: Any) -> tuple[list[MatchResult], int]:
        if self.fail:
            raise RuntimeError("injected matcher fault")
        return super().match_many_now(identities, lists)
