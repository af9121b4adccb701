"""loadtests.peak_memory measures a real child's memory, children of children included."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_peak_memory_counts_a_forked_child() -> None:
    # A parent that forks a child holding 200 MB of its own (not shared) memory.
    code = (
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    b = bytearray(200 * 1024 * 1024)\n"
        "    time.sleep(1.0)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "loadtests.peak_memory", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    m = re.search(r"PSS ([\d,]+) MB, RSS ([\d,]+) MB", out.stderr)
    assert m, out.stderr
    pss = int(m.group(1).replace(",", ""))
    assert pss >= 200, out.stderr


def test_peak_memory_passes_the_exit_status_on() -> None:
    cmd = [sys.executable, "-m", "loadtests.peak_memory"]
    out = subprocess.run(
        [*cmd, sys.executable, "-c", "raise SystemExit(3)"], capture_output=True, text=True
    )
    assert out.returncode == 3
