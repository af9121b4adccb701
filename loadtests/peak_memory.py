"""Peak memory of a command and every process it forks, as the kernel accounts it.

    python -m loadtests.peak_memory vbs match LIST.csv CHECKS.csv -o OUT.csv --no-progress

Runs the command, samples the proportional set size (PSS: shared pages divided among the
processes sharing them, so forked workers sharing an index copy-on-write are not counted
twice) and the resident set size of the whole process tree every 0.1 s from
``/proc/<pid>/smaps_rollup``, and prints the peaks after the command's own output. Linux
only. The exit status is the command's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    out += tree(int(child))
    except OSError:
        pass
    return out


def sample(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in kB of the process tree under ``pid``."""
    pss = rss = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except OSError:
            pass
    return pss, rss


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    proc = subprocess.Popen(args)
    peak_pss = peak_rss = 0
    while proc.poll() is None:
        pss, rss = sample(proc.pid)
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        time.sleep(0.1)
    print(
        f"peak memory of the process tree: PSS {peak_pss / 1024:,.0f} MB, "
        f"RSS {peak_rss / 1024:,.0f} MB (sampled every 0.1 s)",
        file=sys.stderr,
    )
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
