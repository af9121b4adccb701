"""`vbs up` on a fresh data folder: embedded servers, migrations, the API (and the worker),
a clean stop on Ctrl-C that also stops the embedded servers it started."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vbs import embedded

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Output:
    """Collects a child's output in a thread (so its pipe never fills)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._stream = proc.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def join(self) -> None:
        self._thread.join(timeout=10)
        self._stream.close()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data folder outside pytest's private tmp root (the embedded PostgreSQL runs
    as the `pgserver` user and must reach it; pytest resets its root to mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="vbs-up-test-"))
    yield path / "data"
    shutil.rmtree(path, ignore_errors=True)


def _run_up(data: Path, *extra: str) -> tuple[subprocess.Popen[str], Output, int, Path]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBS_")}
    env.update({"VBS_DATA_DIR": str(data), "VBS_PORT": str(port), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "vbs", "up", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, Output(proc), port, data


def _wait_healthy(proc: subprocess.Popen[str], out: Output, port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vbs up exited early ({proc.returncode}):\n{out.text}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"vbs up never became healthy:\n{out.text}")


def _stop(proc: subprocess.Popen[str], out: Output) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    out.join()
    return code


def test_up_fresh_data_folder_and_clean_stop(data_dir: Path) -> None:
    proc, out, port, data = _run_up(data_dir)
    try:
        _wait_healthy(proc, out, port)
        assert embedded.postgres_running(data) and embedded.redis_running(data)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert ready.json()["checks"]["database"] is True
    finally:
        code = _stop(proc, out)
    assert code == 0, out.text
    assert not embedded.postgres_running(data), out.text
    assert not embedded.redis_running(data), out.text
    assert "stopped embedded PostgreSQL and Redis" in out.text


def test_up_demo_prints_working_sign_in(data_dir: Path) -> None:
    proc, out, port, data = _run_up(data_dir, "--demo")
    try:
        _wait_healthy(proc, out, port)
        m = re.search(r"employer@demo\.vbs\.test\s+password: (\S+)", out.text)
        assert m, out.text
        res = httpx.post(
            f"http://127.0.0.1:{port}/v1/auth/login",
            json={"email": "employer@demo.vbs.test", "password": m.group(1)},
            timeout=30,
        )
        assert res.status_code == 200 and res.json()["role"] == "employer"
        assert re.search(r"caseworker@demo\.vbs\.test.*\n.*TOTP secret: [A-Z2-7]+", out.text)
        key = re.search(r"employer API key \(id [0-9a-f-]+\): (vbs_\S+)", out.text)
        assert key, out.text
        me = httpx.get(
            f"http://127.0.0.1:{port}/v1/auth/me",
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=30,
        )
        assert me.status_code == 200 and me.json()["role"] == "employer"
    finally:
        code = _stop(proc, out)
    assert code == 0, out.text
    assert not embedded.postgres_running(data) and not embedded.redis_running(data)
