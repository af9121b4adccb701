"""`vbs purge --older-than 90d`: erase check identities and batch files past retention."""

from __future__ import annotations

import argparse
import sys

from vbs.config import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "purge",
        help="remove check identities and stored batch files past retention "
        "(outcomes and audit events stay)",
    )
    p.add_argument(
        "--older-than",
        default=None,
        help="age such as 90d, 12w or 48h (default: VBS_RETENTION_DAYS days)",
    )
    p.set_defaults(handler=cmd_purge)


def cmd_purge(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from vbs.audit import audit_log_from_settings
    from vbs.db import app_conninfo, open_pool
    from vbs.errors import ValidationFailed
    from vbs.services.retention import parse_age, purge

    settings = get_settings()
    try:
        age = (
            parse_age(args.older_than)
            if args.older_than is not None
            else timedelta(days=settings.retention_days)
        )
    except ValidationFailed as exc:
        print(f"vbs purge: {exc.detail}", file=sys.stderr)
        return 2
    audit = audit_log_from_settings(settings)
    pool = open_pool(app_conninfo(settings), min_size=1, max_size=1)
    try:
        with pool.connection() as conn:
            report = purge(conn, audit, age)
            audit.checkpoint(conn)
    finally:
        pool.close()
    print(
        f"purged {report.checks_purged} check identities and "
        f"{report.batch_files_purged} batch files older than {report.cutoff.isoformat()}"
    )
    return 0
