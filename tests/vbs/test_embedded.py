from __future__ import annotations

from pathlib import Path

import psycopg

from vbs import embedded


def test_postgres_restarts_in_the_same_process(tmp_path: Path) -> None:
    data = tmp_path / "d"
    try:
        url = embedded.start_postgres(data)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert embedded.stop_postgres(data)
        assert not embedded.postgres_running(data)
        # pgserver caches its handle per folder: a second start must really start it.
        url = embedded.start_postgres(data)
        assert embedded.postgres_running(data)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        embedded.stop_postgres(data)


def test_redis_restarts_and_stops(tmp_path: Path) -> None:
    import redis

    data = tmp_path / "d"
    try:
        url = embedded.start_redis(data)
        redis.Redis.from_url(url).set("k", "v")
        assert embedded.stop_redis(data)
        url = embedded.start_redis(data)
        # append-only file on: the data survived the restart
        assert redis.Redis.from_url(url).get("k") == b"v"
    finally:
        embedded.stop_redis(data)
    assert not embedded.redis_running(data)
