"""`vbs list import FILE.csv`, `vbs list show-version`: the barred list from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vbs.config import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("list", help="the barred lists (children, adults)")
    lsub = p.add_subparsers(dest="list_command", metavar="ACTION")
    lsub.required = True
    imp = lsub.add_parser(
        "import",
        help="import a list file in one transaction (all or nothing, errors by line)",
        description=(
            "CSV with a header: list_id,forenames,surname,date_of_birth,previous_names,lists "
            "and optional gender, barred_on, case_reference. Dates YYYY-MM-DD, YYYY-MM or YYYY; "
            "previous_names: full names separated by '|'; lists: children, adults or "
            "children|adults."
        ),
    )
    imp.add_argument("file", type=Path, help="the list file (UTF-8 CSV)")
    imp.add_argument("--reason", default="list import", help="recorded in the list history")
    imp.add_argument(
        "--no-duplicates",
        action="store_true",
        help="skip matching the new entries against the list for likely duplicates",
    )
    imp.set_defaults(handler=cmd_import)
    ver = lsub.add_parser("show-version", help="print the current list version and entry count")
    ver.set_defaults(handler=cmd_show_version)


def cmd_import(args: argparse.Namespace) -> int:
    from vbs.audit import audit_log_from_settings
    from vbs.db import app_conninfo, open_pool
    from vbs.errors import VbsError
    from vbs.principal import SYSTEM
    from vbs.services import barred_list
    from vbs.services.barred_list import DuplicateFinder

    settings = get_settings()
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"vbs list import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    audit = audit_log_from_settings(settings)
    pool = open_pool(app_conninfo(settings), min_size=1, max_size=1)
    finder: DuplicateFinder | None = None
    try:
        with pool.connection() as conn:
            if not args.no_duplicates:
                from vbs.services.matcher_holder import MatcherHolder

                holder = MatcherHolder.from_settings(settings)
                holder.load(conn)
                conn.commit()
                finder = holder
            try:
                with conn.transaction():
                    result = barred_list.import_csv(
                        conn, audit, SYSTEM, data, reason=args.reason, finder=finder
                    )
            except VbsError as exc:
                errors = getattr(exc, "errors", None)
                print(f"vbs list import: {args.file}: {exc.detail}", file=sys.stderr)
                for err in errors or []:
                    print(f"  {err.field}: {err.message}", file=sys.stderr)
                print("nothing was imported", file=sys.stderr)
                return 1
            audit.checkpoint(conn)
    finally:
        pool.close()
    print(f"imported {result.count} entries at list version {result.version}")
    if finder is None:
        print("duplicates not checked (--no-duplicates)")
    else:
        print(f"{len(result.duplicates)} new entries look like someone already listed")
        for line, entry_id, cands in result.duplicates:
            found = ", ".join(f"{c.entry_id} ({c.band}, {c.probability:.3f})" for c in cands)
            print(f"  line {line}: entry {entry_id} may duplicate {found}")
    return 0


def cmd_show_version(args: argparse.Namespace) -> int:
    from vbs.db import app_conninfo, open_pool
    from vbs.repo import barred_list as repo

    settings = get_settings()
    pool = open_pool(app_conninfo(settings), min_size=1, max_size=1)
    try:
        with pool.connection() as conn, conn.transaction():
            version = repo.current_version(conn)
            active = repo.count_active(conn)
    finally:
        pool.close()
    print(f"list version {version}: {active} barred entries")
    return 0
