"""CI smoke of the load tests: a ~20-second locust run against a small list, for real.

The runner seeds its own database on the test PostgreSQL server, starts `vbs serve` and a
`vbs worker`, runs every scenario (employers, a registered body, a caseworker) headless,
and verifies the database afterwards. Only correctness is asserted (a floor on requests,
no failures, one check row and one audit event per accepted check): CI machines are too
noisy for latency thresholds.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from loadtests.run import Options, run
from tests.conftest import with_database
from vbs.repo import schema

pytestmark = pytest.mark.slow

MIN_CHECKS = 40
# The run empties its Redis database and runs its own RQ workers: keep it apart from the
# database the other tests (and other people's test runs on this server) use.
SMOKE_REDIS_DB = 11


def _other_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(db))]
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def test_locust_smoke_run(owner_url: str, redis_url: str, tmp_path: Path) -> None:
    opts = Options(
        list_size=2_000,
        users=6,
        run_time="20s",
        spawn_rate=6,
        scenario="mixed",
        user_rate=2.0,
        api_workers=1,
        rq_workers=1,
        caseworkers=1,
        batch_users=1,
        batch_rows=50,
        batch_files=3,
        identities=1_500,
        database_url=with_database(owner_url, "postgres"),
        redis_url=_other_redis_db(redis_url, SMOKE_REDIS_DB),
        database_name=f"{conninfo_to_dict(owner_url)['dbname']}_load",
        out_dir=tmp_path / "out",
        profile="smoke",
        pin=False,
        ready_timeout=180,
    )
    try:
        report = run(opts)
    finally:
        with psycopg.connect(opts.database_url, autocommit=True) as conn:
            schema.drop_database(conn, opts.database_name)

    ledger = report.ledger
    entries = {(e["method"], e["name"]): e for e in ledger["entries"]}
    checks = entries.get(("POST", "/v1/checks"))
    assert checks is not None, f"no check requests: {sorted(entries)}"
    assert checks["requests"] >= MIN_CHECKS
    assert ledger["total"]["failures"] == 0, json.dumps(ledger["errors"])[:2000]
    # Every kind of identity was sent and answered as its truth says.
    assert ledger["wrong_outcomes"] == 0
    assert sum(ledger["outcomes"]["clear"].values()) > 0
    assert sum(ledger["outcomes"]["barred"].values()) > 0
    # The caseworker read the queue; the registered body's batch came back verified.
    assert entries.get(("GET", "/v1/reviews"), {}).get("requests", 0) > 0
    assert ledger["batches"], "no batch completed within the run"
    assert all(b["wrong"] == 0 for b in ledger["batches"])
    # The database holds one check row and one audit event per accepted check.
    v = report.verification
    assert v["ok"], v
    assert v["accepted_checks"] == v["check_rows"] == len(ledger["check_ids"]) > 0
    assert report.misses == []
    assert report.exit_code == 0
    assert (tmp_path / "out" / "mixed.html").exists()
    assert (tmp_path / "out" / "mixed_stats.csv").exists()
