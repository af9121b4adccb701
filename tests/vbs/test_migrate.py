from __future__ import annotations

import psycopg

from vbs.migrate import migrate, migration_files


def test_migrations_recorded_and_idempotent(owner_url: str) -> None:
    # The session fixture already migrated from empty; a second run applies nothing.
    assert migrate(owner_url, "vbs_app") == []
    with psycopg.connect(owner_url) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM schema_migration").fetchall()}
    assert names == {n for n, _ in migration_files()}


def test_app_role_cannot_create_tables(app_url: str) -> None:
    with psycopg.connect(app_url) as conn:
        try:
            conn.execute("CREATE TABLE sneaky (id int)")
        except psycopg.errors.InsufficientPrivilege:
            return
    raise AssertionError("the app role could create a table")
