"""`vbs migrate`, `vbs db url|shell`, `vbs down`: the servers and the schema."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from vbs.config import Settings, get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="apply database migrations (idempotent)")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("db", help="the database the service connects to")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dbsub.required = True
    u = dbsub.add_parser("url", help="print the database URL (embedded or configured)")
    u.add_argument("--app", action="store_true", help="the restricted application role's URL")
    u.set_defaults(handler=cmd_db_url)
    s = dbsub.add_parser("shell", help="open psql on the database")
    s.set_defaults(handler=cmd_db_shell)

    p = sub.add_parser("down", help="stop the embedded PostgreSQL and Redis")
    p.set_defaults(handler=cmd_down)


def cmd_migrate(args: argparse.Namespace) -> int:
    from vbs.db import owner_conninfo
    from vbs.migrate import migrate

    settings = get_settings()
    applied = migrate(owner_conninfo(settings), settings.app_db_role)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def cmd_db_url(args: argparse.Namespace) -> int:
    from vbs.db import app_conninfo, owner_conninfo

    settings = get_settings()
    owner = owner_conninfo(settings)
    print(app_conninfo(settings, owner) if args.app else owner)
    return 0


def cmd_db_shell(args: argparse.Namespace) -> int:
    from vbs.db import owner_conninfo

    settings = get_settings()
    url = owner_conninfo(settings)
    psql = shutil.which("psql")
    if psql is None:
        from pgserver._commands import POSTGRES_BIN_PATH

        psql = str(POSTGRES_BIN_PATH / "psql")
    os.execv(psql, [psql, url])  # noqa: S606  (psql takes over this process)
    return 0  # pragma: no cover


def cmd_down(args: argparse.Namespace) -> int:
    from vbs import embedded

    settings = get_settings()
    if not stop_running_up(settings):
        return 1
    embedded.stop(settings.data_dir)
    print("embedded servers stopped")
    return 0


UP_STOP_TIMEOUT_S = 60.0


def stop_running_up(settings: Settings) -> bool:
    """Stop a `vbs up` running on this data folder (SIGTERM: it stops the API and worker,
    then its servers), so `vbs down` never leaves the service running without its
    database. False if it did not stop in time."""
    import signal
    import time

    from vbs.commands.serve import up_pid_file

    path = up_pid_file(settings)
    try:
        pid = int(path.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return True  # none running (or no /proc to tell): nothing to stop
    if b"vbs" not in cmdline or b"up" not in cmdline.split(b"\0"):
        return True  # a stale file: that process id now belongs to something else
    os.kill(pid, signal.SIGTERM)
    print(f"stopping vbs up (pid {pid})...", flush=True)
    deadline = time.monotonic() + UP_STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.2)
    print(f"error: vbs up (pid {pid}) did not stop within {UP_STOP_TIMEOUT_S:.0f} s")
    return False


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its parent has not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
