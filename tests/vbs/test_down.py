"""`vbs down` while `vbs up` runs on the same data folder: it stops `vbs up` first (API,
worker, then the embedded servers), never leaving the service up without its database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vbs.test_up import ROOT, _run_up, _stop, _wait_healthy, data_dir  # noqa: F401
from vbs import embedded

pytestmark = pytest.mark.slow


def test_down_stops_a_running_up_and_its_servers(data_dir: Path) -> None:  # noqa: F811
    proc, out, port, data = _run_up(data_dir)
    try:
        _wait_healthy(proc, out, port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VBS_")}
        env["VBS_DATA_DIR"] = str(data)
        down = subprocess.run(
            [sys.executable, "-m", "vbs", "down"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert down.returncode == 0, down.stdout + down.stderr
        assert "stopping vbs up" in down.stdout
        code = proc.wait(timeout=10)  # already gone when `vbs down` returns
    finally:
        if proc.poll() is None:
            _stop(proc, out)
    out.join()
    assert code == 0, out.text
    assert not embedded.postgres_running(data) and not embedded.redis_running(data)
    assert not (data / "run" / "vbs-up.pid").exists()
