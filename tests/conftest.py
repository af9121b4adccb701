"""Real servers for the tests: never fakes.

PostgreSQL: ``VBS_TEST_DATABASE_URL`` (a server URL; CI points it at 127.0.0.1:5432), or
else the embedded server under ``.vbs-test/``. Each test session gets its own fresh
database, migrated from empty, dropped at the end. Tables are emptied before each test that
asks for ``db``.

Redis: ``VBS_TEST_REDIS_URL`` or the embedded server; the chosen database is emptied per
test that asks for ``redis_conn``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from vbs import embedded
from vbs.config import Settings
from vbs.db import app_conninfo, open_pool
from vbs.migrate import migrate
from vbs.repo import schema

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA_DIR = ROOT / ".vbs-test"
APP_ROLE = "vbs_app"


def _server_url() -> str:
    url = os.environ.get("VBS_TEST_DATABASE_URL")
    if url:
        return url
    embedded.start_postgres(TEST_DATA_DIR)
    return embedded.postgres_url(TEST_DATA_DIR)


def _redis_url() -> str:
    url = os.environ.get("VBS_TEST_REDIS_URL")
    if url:
        return url
    embedded.start_redis(TEST_DATA_DIR)
    return embedded.redis_url(TEST_DATA_DIR, db=0)


def with_database(conninfo: str, dbname: str) -> str:
    params = conninfo_to_dict(conninfo)
    params["dbname"] = dbname
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


@pytest.fixture(scope="session")
def owner_url() -> Iterator[str]:
    """A fresh, migrated database for this test session (URL of its owner)."""
    server = _server_url()
    name = f"vbs_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server, autocommit=True) as conn:
        schema.create_database_if_missing(conn, name)
    url = with_database(server, name)
    migrate(url, APP_ROLE)
    yield url
    with psycopg.connect(server, autocommit=True) as conn:
        schema.drop_database(conn, name)


@pytest.fixture(scope="session")
def app_url(owner_url: str) -> str:
    return app_conninfo(Settings(database_url=owner_url, app_db_role=APP_ROLE), owner_url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _redis_url()


@pytest.fixture(scope="session")
def pool(app_url: str) -> Iterator[ConnectionPool]:
    p = open_pool(app_url, min_size=1, max_size=8)
    yield p
    p.close()


def _clean_tables(owner_url: str) -> None:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        # Replica mode skips user triggers, so the audit table's guards let the test reset.
        conn.execute("SET session_replication_role = replica")
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'schema_migration'"
        ).fetchall()
        if rows:
            names = ", ".join(f'"{r[0]}"' for r in rows)
            conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE".encode())


@pytest.fixture
def db(owner_url: str, pool: ConnectionPool) -> ConnectionPool:
    """The app-role pool over freshly emptied tables."""
    _clean_tables(owner_url)
    return pool


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    yield r
    r.flushdb()
    r.close()


@pytest.fixture
def settings(owner_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test servers, with a private data folder."""
    return Settings(
        database_url=owner_url,
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        app_db_role=APP_ROLE,
        cookie_secure=False,
    )
