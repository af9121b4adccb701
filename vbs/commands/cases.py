"""`vbs cases advance-overdue`: the scheduled job closing representations past their deadline."""

from __future__ import annotations

import argparse

from vbs.config import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cases", help="barring cases")
    csub = p.add_subparsers(dest="cases_command", metavar="ACTION")
    csub.required = True
    adv = csub.add_parser(
        "advance-overdue",
        help="move cases whose representations deadline has passed on to decision",
    )
    adv.set_defaults(handler=cmd_advance_overdue)


def cmd_advance_overdue(args: argparse.Namespace) -> int:
    from vbs.audit import audit_log_from_settings
    from vbs.db import app_conninfo, open_pool
    from vbs.services.cases import advance_overdue

    settings = get_settings()
    audit = audit_log_from_settings(settings)
    pool = open_pool(app_conninfo(settings), min_size=1, max_size=1)
    try:
        with pool.connection() as conn:
            with conn.transaction():
                moved = advance_overdue(conn, audit)
            audit.checkpoint(conn)
    finally:
        pool.close()
    print(f"{len(moved)} case(s) moved on: representations deadline passed")
    for case_id in moved:
        print(f"  {case_id}")
    return 0
