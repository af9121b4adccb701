"""Apply the plain SQL files in ``vbs/migrations/`` in name order, each recorded once."""

from __future__ import annotations

from importlib import resources

import psycopg

from vbs.repo import schema


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("vbs") / "migrations"
    files = sorted(
        (p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir() if p.name.endswith(".sql")
    )
    return files


def migrate(owner_conninfo: str, app_role: str) -> list[str]:
    """Bring the database up to date; return the names applied now (idempotent)."""
    applied_now: list[str] = []
    with psycopg.connect(owner_conninfo) as conn, conn.transaction():
        schema.lock_migrations(conn)
        schema.ensure_migration_table(conn)
        done = schema.applied_migrations(conn)
        for name, text in migration_files():
            if name in done:
                continue
            conn.execute(text.encode())  # plain SQL file, no parameters
            schema.record_migration(conn, name)
            applied_now.append(name)
        schema.ensure_app_role(conn, app_role)
    return applied_now
