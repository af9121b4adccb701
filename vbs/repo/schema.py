"""SQL for databases, roles and the migration record."""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql

MIGRATION_LOCK_KEY = 0x7B5_0001


def create_database_if_missing(conn: psycopg.Connection, name: str) -> None:
    row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if row is None:
        # autocommit connection: a concurrent creator wins, and that is fine.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def lock_migrations(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))


def ensure_migration_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migration (
            name text PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def applied_migrations(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM schema_migration").fetchall()}


def record_migration(conn: psycopg.Connection, name: str) -> None:
    conn.execute("INSERT INTO schema_migration (name) VALUES (%s)", (name,))


def ensure_app_role(conn: psycopg.Connection, role: str) -> None:
    """Create the restricted login role if missing and grant it data access only.

    The role owns nothing, so it cannot alter tables or triggers; on ``audit_event`` it may
    only read and insert.
    """
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    ident = sql.Identifier(role)
    if exists is None:
        # A concurrent migration of another database may create the (cluster-wide) role
        # first: a savepoint keeps the surrounding transaction usable.
        with contextlib.suppress(psycopg.errors.DuplicateObject), conn.transaction():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    dbname = conn.execute("SELECT current_database()").fetchone()
    assert dbname is not None
    conn.execute(
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(dbname[0]), ident
        )
    )
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
    conn.execute(
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            ident
        )
    )
    conn.execute(
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident)
    )
    conn.execute(sql.SQL("REVOKE ALL ON schema_migration FROM {}").format(ident))
    conn.execute(sql.SQL("GRANT SELECT ON schema_migration TO {}").format(ident))
    has_audit = conn.execute("SELECT to_regclass('public.audit_event')").fetchone()
    if has_audit is not None and has_audit[0] is not None:
        conn.execute(
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM {}").format(ident)
        )
