"""`vbs up --demo --port N` prints sign-in and curl instructions for port N (they named
VBS_PORT's default, 8000, whatever --port said); on a port already taken, `vbs up` never
says it is running, and stops with its servers."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vbs.test_up import ROOT, Output, _free_port, _stop, _wait_healthy, data_dir  # noqa: F401
from vbs import embedded

pytestmark = pytest.mark.slow


def test_demo_instructions_name_the_port_given(data_dir: Path) -> None:  # noqa: F811
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBS_")}
    env.update({"VBS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "vbs", "up", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = Output(proc)
    try:
        _wait_healthy(proc, out, port)
    finally:
        code = _stop(proc, out)
    assert code == 0, out.text
    assert re.search(rf"Sign in at http://127\.0\.0\.1:{port}/ ", out.text), out.text
    assert re.search(rf"curl .*http://127\.0\.0\.1:{port}/v1/auth/me", out.text), out.text
    assert ":8000" not in out.text
    assert not embedded.postgres_running(data_dir)


def test_a_taken_port_is_reported_and_nothing_claims_to_run(data_dir: Path) -> None:  # noqa: F811
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("VBS_")}
        env.update({"VBS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
        proc = subprocess.run(
            [sys.executable, "-m", "vbs", "up", "--port", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    assert "address already in use" in text
    assert "vbs is running" not in text
    assert "stopped embedded PostgreSQL and Redis" in text
    assert not embedded.postgres_running(data_dir) and not embedded.redis_running(data_dir)
