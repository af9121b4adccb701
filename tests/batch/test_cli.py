"""`vbs batch submit` against a real HTTP server and a real `vbs worker`; `vbs batch
reconcile`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn
from psycopg_pool import ConnectionPool

from api.app import create_app
from tests.api.conftest import Accounts
from tests.batch.conftest import bar_people, rows_file
from tests.batch.test_faults import start_worker, worker_env  # noqa: F401  (fixture)
from vbs.config import Settings

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_url(
    batch_settings: Settings, db: ConnectionPool, redis_conn: redis.Redis
) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(batch_settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_submit_uploads_follows_and_prints_where_the_results_are(
    live_url: str,
    accounts: Accounts,
    batch_settings: Settings,
    audit: Any,
    db: ConnectionPool,
    tmp_path: Path,
    start_worker: Callable[..., subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    bar_people(db, audit)
    key = accounts.api_key(kind="registered_body")
    assert key.api_key is not None
    worker = start_worker(batch_settings)
    path = tmp_path / "applicants.csv"
    path.write_bytes(rows_file(8) + b"bad,,X,1980-01-01,both\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBS_")}
    env["VBS_API_KEY"] = key.api_key
    done = subprocess.run(
        [sys.executable, "-m", "vbs", "batch", "submit", str(path), "--url", live_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    worker.terminate()
    assert done.returncode == 0, done.stderr
    assert "status:  complete" in done.stdout
    assert "rows:    9 (1 refused)" in done.stdout
    assert f"results: {live_url}/v1/batches/" in done.stdout
    assert "/results.csv" in done.stdout and "/errors.csv" in done.stdout
    assert "row" in done.stderr  # the progress bar


def test_submit_reports_a_refused_file(live_url: str, accounts: Accounts, tmp_path: Path) -> None:
    key = accounts.api_key(kind="registered_body")
    assert key.api_key is not None
    path = tmp_path / "bad.csv"
    path.write_bytes(b"reference,name\nr,x\n")
    done = subprocess.run(
        [sys.executable, "-m", "vbs", "batch", "submit", str(path)],
        env={**os.environ, "VBS_API_URL": live_url, "VBS_API_KEY": key.api_key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "upload refused (422)" in done.stderr and "unknown column" in done.stderr


def test_reconcile_command(batch_settings: Settings, db: ConnectionPool) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vbs", "batch", "reconcile", "--stale-after", "0"],
        env=worker_env(batch_settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "0 ingest(s) and 0 chunk(s) enqueued again" in done.stdout
