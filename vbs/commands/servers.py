"""`vbs migrate`, `vbs db url|shell`, `vbs down`: the servers and the schema."""

from __future__ import annotations

import argparse
import os
import shutil

from vbs.config import get_settings


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
    os.execv(psql, [psql, url])
    return 0  # pragma: no cover


def cmd_down(args: argparse.Namespace) -> int:
    from vbs import embedded

    settings = get_settings()
    embedded.stop(settings.data_dir)
    print("embedded servers stopped")
    return 0
