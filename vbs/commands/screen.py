"""`vbs screen`: run continuous screening once (new list entries against retained checks)."""

from __future__ import annotations

import argparse

from vbs.config import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "screen", help="screen retained checks against list entries added since the last run"
    )
    p.set_defaults(handler=cmd_screen)


def cmd_screen(args: argparse.Namespace) -> int:
    from vbs.audit import audit_log_from_settings
    from vbs.db import app_conninfo, open_pool
    from vbs.services.matcher_holder import MatcherHolder
    from vbs.services.screening import screen_pending

    settings = get_settings()
    audit = audit_log_from_settings(settings)
    holder = MatcherHolder.from_settings(settings)
    pool = open_pool(app_conninfo(settings), min_size=1, max_size=1)
    try:
        with pool.connection() as conn:
            report = screen_pending(conn, holder, audit)
            audit.checkpoint(conn)
    finally:
        pool.close()
    print(
        f"screened list versions {report.from_version}..{report.to_version}: "
        f"{report.new_entries} new entries, {report.checks_screened} checks, "
        f"{len(report.moved_to_review)} moved to review"
    )
    return 0
