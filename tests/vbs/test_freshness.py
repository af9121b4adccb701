"""Freshness: a bar (or removal) committed by another process is seen by the very next
check in this process, with a big index, and without rebuilding the index.

The list has 20,000 entries here; ``VBS_FRESHNESS_LIST_SIZE=1000000`` runs the same test at
the size of the real list (a few minutes on a small machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from tests.vbs.checks_support import Actors, new_holder, request
from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.repo import barred_list as list_repo
from vbs.repo.barred_list import NewEntry
from vbs.services import checks

ROOT = Path(__file__).resolve().parents[2]
LIST_SIZE = int(os.environ.get("VBS_FRESHNESS_LIST_SIZE", "20000"))
# The check right after another process's bar: fresh, and fast (no rebuild).
MAX_FRESH_CHECK_SECONDS = 3.0

BAR_SCRIPT = """
import sys, uuid
from pathlib import Path
import psycopg
from vbs.audit import AuditLog
from vbs.principal import Principal
from vbs.services import barred_list as bl

url, action, arg, folder = sys.argv[1:5]
audit = AuditLog(b"k" * 32, Path(folder) / "sub-checkpoint.json")
with psycopg.connect(url) as conn, conn.transaction():
    who = Principal(role="system")
    if action == "add":
        res = bl.add_entry(conn, audit, who, bl.EntryInput(
            forenames="Zebedee Ottoline", surname="Quarrington-Vale",
            date_of_birth=arg, lists="children|adults"), reason="bar from another process")
        print(res.entry_id)
    else:
        bl.remove_entry(conn, audit, who, uuid.UUID(arg), reason="removed by another process")
        print(arg)
"""


def load_big_list(pool: ConnectionPool, n: int) -> None:
    first = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda"]
    last = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies"]
    entries = (
        NewEntry(
            forenames=f"{first[i % 8]} {first[(i // 8) % 8]}",
            surname=f"{last[(i // 64) % 8]}{i}",
            date_of_birth=f"{1940 + i % 60:04d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            previous_names=(),
            gender=None,
            lists=3,
            barred_on=date(2020, 1, 1),
        )
        for i in range(n)
    )
    with transaction(pool) as conn:
        version = list_repo.next_version(conn)
        list_repo.copy_entries(conn, entries, version, by_user=None, by_role="system", reason="x")


def run_other_process(app_url: str, action: str, arg: str, folder: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", BAR_SCRIPT, app_url, action, arg, str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.slow
def test_a_bar_from_another_process_is_seen_at_once_without_a_rebuild(
    db: ConnectionPool, app_url: str, audit: AuditLog, actors: Actors, tmp_path: Path
) -> None:
    load_big_list(db, LIST_SIZE)
    holder = new_holder()
    person = request(forenames="Zebedee Ottoline", surname="Quarrington-Vale", dob=date(1977, 5, 9))
    with transaction(db) as conn:
        before = checks.run_check(conn, holder, audit, actors.employer, person)
    assert before.outcome == "clear"
    assert holder.size == LIST_SIZE and holder.rebuilds == 1

    entry_id = run_other_process(app_url, "add", "1977-05-09", tmp_path)
    started = time.perf_counter()
    with transaction(db) as conn:
        after = checks.run_check(conn, holder, audit, actors.employer, person)
    assert time.perf_counter() - started < MAX_FRESH_CHECK_SECONDS
    assert after.outcome == "barred"
    assert after.list_version == before.list_version + 1  # type: ignore[operator]
    assert holder.rebuilds == 1 and holder.size == LIST_SIZE + 1

    run_other_process(app_url, "remove", entry_id, tmp_path)
    with transaction(db) as conn:
        removed = checks.run_check(conn, holder, audit, actors.employer, person)
    assert removed.outcome == "clear"
    assert removed.list_version == before.list_version + 2  # type: ignore[operator]
    assert holder.rebuilds == 1
    assert uuid.UUID(entry_id)
