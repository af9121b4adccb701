"""PostgreSQL connections: the owner URL (migrations), the restricted app role, the pool.

The pool is opened by whoever owns the process's lifetime (the API's lifespan, a worker's
start, a CLI command), never at import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from vbs import embedded
from vbs.config import Settings

DEFAULT_DATABASE = "vbs"
# How long a caller waits for a pooled connection before giving up (the API answers 503).
POOL_TIMEOUT_S = 10.0


def owner_conninfo(settings: Settings) -> str:
    """The URL migrations run with: the configured one, or the embedded server's `vbs` db."""
    if settings.database_url:
        return settings.database_url
    embedded.start_postgres(settings.data_dir)
    server = embedded.postgres_url(settings.data_dir)
    ensure_database(server, DEFAULT_DATABASE)
    return embedded.postgres_url(settings.data_dir, DEFAULT_DATABASE)


def app_conninfo(settings: Settings, owner: str | None = None) -> str:
    """The same server and database, connecting as the restricted application role."""
    base = owner if owner is not None else owner_conninfo(settings)
    params = conninfo_to_dict(base)
    params.pop("password", None)
    params["user"] = settings.app_db_role
    params.setdefault("application_name", "vbs")
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def ensure_database(server_conninfo: str, name: str) -> None:
    """Create database `name` on the server if it does not exist."""
    from vbs.repo import schema

    with psycopg.connect(server_conninfo, autocommit=True) as conn:
        schema.create_database_if_missing(conn, name)


def open_pool(conninfo: str, *, min_size: int = 2, max_size: int = 10) -> ConnectionPool:
    pool: ConnectionPool = ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=POOL_TIMEOUT_S,
        kwargs={"autocommit": False},
        check=ConnectionPool.check_connection,
    )
    pool.open(wait=True, timeout=30.0)
    return pool


@contextmanager
def transaction(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """One transaction on a pooled connection: commit on success, roll back on error."""
    with pool.connection() as conn, conn.transaction():
        yield conn
