"""`vbs batch submit` as a new user meets it: it finds the local service on the port
`vbs up` listens on, and an unreachable API is a clear one-line error, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vbs.commands.batch import api_base
from vbs.config import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_api_base_follows_host_and_port_when_no_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VBS_API_URL", raising=False)
    monkeypatch.delenv("VBS_HOST", raising=False)
    assert api_base(Settings(port=8765)) == "http://127.0.0.1:8765"
    assert api_base(Settings(host="0.0.0.0", port=9000))  # noqa: S104 == "http://127.0.0.1:9000"
    assert api_base(Settings(host="::1", port=9001)) == "http://[::1]:9001"


def test_api_base_prefers_the_option_then_the_configured_url() -> None:
    s = Settings(port=8765, api_url="https://vbs.example.org/")
    assert api_base(s) == "https://vbs.example.org"
    assert api_base(s, "http://10.0.0.5:8000/") == "http://10.0.0.5:8000"


def test_submit_to_an_unreachable_api_names_the_url_without_a_traceback(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    csv = tmp_path / "b.csv"
    csv.write_text("reference,forenames,surname,date_of_birth\nA-1,Ann,Lee,1990-01-01\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VBS_API_URL", "VBS_HOST")}
    env["VBS_PORT"] = str(port)
    env["VBS_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, "-m", "vbs", "batch", "submit", str(csv), "--api-key", "vbs_x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"cannot reach the API at http://127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
