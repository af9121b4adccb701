"""`vbs down` while `vbs up` runs on the same data folder: it stops `vbs up` first (API,
worker, then the embedded servers), never leaving the service up without its database.
And if `vbs up` is killed outright, its API and worker stop with it (no orphans)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.vbs.test_up import ROOT, _run_up, _stop, _wait_healthy, data_dir  # noqa: F401
from vbs import embedded
from vbs.commands.servers import _running

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


def _vbs_down(data: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBS_")}
    env["VBS_DATA_DIR"] = str(data)
    subprocess.run([sys.executable, "-m", "vbs", "down"], cwd=ROOT, env=env, timeout=120)


def test_api_and_worker_stop_when_up_is_killed(data_dir: Path) -> None:  # noqa: F811
    proc, out, port, data = _run_up(data_dir)
    try:
        _wait_healthy(proc, out, port)
        listing = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
        children = [int(pid) for pid in listing.split()]
        assert len(children) == 2  # `vbs serve` and `vbs worker`
        proc.kill()  # SIGKILL: `vbs up` cannot stop them itself
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in children if _running(pid)] == []
    finally:
        if proc.poll() is None:
            _stop(proc, out)
        _vbs_down(data)  # the embedded servers outlive a killed `vbs up` until `vbs down`
    out.join()
    assert not embedded.postgres_running(data) and not embedded.redis_running(data)
