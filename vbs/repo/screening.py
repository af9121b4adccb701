"""SQL for continuous screening: the cursor and the entries a list version added."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from vbs.repo import barred_list as list_repo
from vbs.repo.barred_list import BarredEntry


def lock_cursor(conn: psycopg.Connection[Any]) -> int | None:
    """The last list version screened, row-locked until the transaction ends (serialises
    screeners); None before the first run."""
    row = conn.execute("SELECT version FROM screening_cursor WHERE id FOR UPDATE").fetchone()
    return int(row[0]) if row is not None else None


def init_cursor(conn: psycopg.Connection[Any], version: int) -> int:
    """Create the cursor at ``version`` unless another screener did first; lock it."""
    conn.execute(
        "INSERT INTO screening_cursor (id, version) VALUES (true, %s) ON CONFLICT (id) DO NOTHING",
        (version,),
    )
    got = lock_cursor(conn)
    assert got is not None
    return got


def advance_cursor(conn: psycopg.Connection[Any], version: int) -> None:
    conn.execute(
        "UPDATE screening_cursor SET version = greatest(version, %s), screened_at = now() WHERE id",
        (version,),
    )


def oldest_retained_version(conn: psycopg.Connection[Any]) -> int | None:
    """The lowest list version any retained (identity kept), matched check was checked on."""
    row = conn.execute(
        "SELECT min(list_version) FROM identity_check "
        "WHERE identity_purged_at IS NULL AND list_version IS NOT NULL"
    ).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else None


def added_between(conn: psycopg.Connection[Any], after: int, upto: int) -> list[BarredEntry]:
    """Entries added by list versions in (after, upto] and still barred."""
    cols = ", ".join(f"e.{c.strip()}" for c in list_repo._ENTRY_COLUMNS.split(","))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {cols} FROM barred_entry e "
            "WHERE e.status = 'barred' AND e.created_version > %s AND e.created_version <= %s "
            "ORDER BY e.created_version, e.id",
            (after, upto),
        ).fetchall()
    return [list_repo._entry(r) for r in rows]
