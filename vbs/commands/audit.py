"""`vbs audit verify` (exit 1 on a break) and `vbs audit checkpoint`."""

from __future__ import annotations

import argparse

from vbs.config import get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="the audit trail")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION")
    asub.required = True
    v = asub.add_parser("verify", help="check the whole hash chain and the checkpoint")
    v.set_defaults(handler=cmd_verify)
    c = asub.add_parser(
        "checkpoint", help="verify new events and move the checkpoint outside the database"
    )
    c.set_defaults(handler=cmd_checkpoint)


def cmd_verify(args: argparse.Namespace) -> int:
    from vbs.audit import audit_log_from_settings
    from vbs.commands.accounts import connect, fail

    settings = get_settings()
    audit = audit_log_from_settings(settings)
    try:
        with connect(settings) as conn:
            report = audit.verify(conn)
    except Exception as exc:
        return fail(exc)
    print(report.summary())
    if report.checkpoint is None:
        print(f"note: no checkpoint at {audit.checkpoint_path}; a cut-off tail cannot be detected")
    return 0 if report.ok else 1


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from vbs.audit import audit_log_from_settings
    from vbs.commands.accounts import connect, fail

    settings = get_settings()
    audit = audit_log_from_settings(settings)
    try:
        with connect(settings) as conn:
            report = audit.checkpoint(conn)
    except Exception as exc:
        return fail(exc)
    print(report.summary())
    return 0 if report.ok else 1
