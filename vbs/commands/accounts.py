"""`vbs org create`, `vbs user create|disable`, `vbs apikey create|revoke`.

Commands connect as the restricted application role, each in one transaction whose audit
event (actor: system) is written last; the audit checkpoint moves forward after commit.
Secrets (generated passwords, TOTP secrets, API keys) are printed once and never stored.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import psycopg

from vbs.config import Settings, get_settings

if TYPE_CHECKING:
    from vbs.audit import AuditLog

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("org", help="organisations")
    osub = p.add_subparsers(dest="org_command", metavar="ACTION")
    osub.required = True
    c = osub.add_parser("create", help="create an organisation; prints its id")
    c.add_argument("name")
    c.add_argument("--kind", required=True, choices=["employer", "registered_body", "authority"])
    c.set_defaults(handler=cmd_org_create)

    p = sub.add_parser("user", help="users")
    usub = p.add_subparsers(dest="user_command", metavar="ACTION")
    usub.required = True
    c = usub.add_parser(
        "create",
        help="create a user (password from stdin, or generated and printed once)",
    )
    c.add_argument("email")
    c.add_argument("--org", required=True, help="organisation id")
    c.add_argument(
        "--role",
        required=True,
        choices=["employer", "registered_body", "caseworker", "senior_caseworker", "admin"],
    )
    c.set_defaults(handler=cmd_user_create)
    d = usub.add_parser("disable", help="disable a user: sessions and their API keys stop")
    d.add_argument("user", metavar="EMAIL", help="email address (or user id)")
    d.set_defaults(handler=cmd_user_disable)

    p = sub.add_parser("apikey", help="API keys of employers and registered bodies")
    ksub = p.add_subparsers(dest="apikey_command", metavar="ACTION")
    ksub.required = True
    c = ksub.add_parser("create", help="create a key; prints `id: KEY_ID`, then the key")
    c.add_argument("--org", required=True, help="organisation id")
    c.add_argument("--label", default=None)
    c.set_defaults(handler=cmd_apikey_create)
    r = ksub.add_parser("revoke", help="revoke a key at once")
    r.add_argument("key_id", metavar="KEY_ID")
    r.set_defaults(handler=cmd_apikey_revoke)


@contextmanager
def connect(settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection as the application role (autocommit; use ``conn.transaction()``)."""
    from vbs.db import app_conninfo

    with psycopg.connect(app_conninfo(settings), autocommit=True) as conn:
        yield conn


def run_audited(fn: Callable[[psycopg.Connection, AuditLog], T]) -> T:
    """Run ``fn`` in one transaction with the configured audit log, then move the audit
    checkpoint forward."""
    from vbs.audit import audit_log_from_settings

    settings = get_settings()
    audit = audit_log_from_settings(settings)
    with connect(settings) as conn:
        with conn.transaction():
            result = fn(conn, audit)
        audit.checkpoint(conn)
    return result


def fail(exc: Exception) -> int:
    from vbs.errors import ValidationFailed, VbsError

    if isinstance(exc, ValidationFailed):
        for e in exc.errors:
            print(f"error: {e.field}: {e.message}", file=sys.stderr)
        return 2
    if isinstance(exc, VbsError):
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    if isinstance(exc, psycopg.errors.UndefinedTable):
        print("error: the database is not migrated; run `vbs migrate`", file=sys.stderr)
        return 2
    if isinstance(exc, psycopg.OperationalError):
        print("error: cannot reach the database", file=sys.stderr)
        return 3
    raise exc


def cmd_org_create(args: argparse.Namespace) -> int:
    from vbs.services import accounts

    try:
        org = run_audited(
            lambda conn, audit: accounts.create_org(conn, audit, None, args.name, args.kind)
        )
    except Exception as exc:
        return fail(exc)
    print(org.id)
    return 0


def read_password_from_stdin() -> str | None:
    """The first line of stdin when it is not a terminal; None (generate one) otherwise."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    return line or None


def cmd_user_create(args: argparse.Namespace) -> int:
    from vbs.services import accounts

    password = read_password_from_stdin()
    try:
        new = run_audited(
            lambda conn, audit: accounts.create_user(
                conn, audit, None, args.org, args.email, args.role, password
            ),
        )
    except Exception as exc:
        return fail(exc)
    print(f"id: {new.id}")
    print(f"role: {new.role}")
    if new.generated_password:
        print(f"password: {new.generated_password}  (shown once)")
    if new.totp_secret:
        print(f"totp_secret: {new.totp_secret}  (shown once)")
        print(f"otpauth_uri: {new.totp_uri}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    from vbs.services import accounts

    try:
        user = run_audited(lambda conn, audit: accounts.disable_user(conn, audit, None, args.user))
    except Exception as exc:
        return fail(exc)
    print(f"disabled user {user.id}: sessions ended, API keys they created revoked")
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from vbs.services import accounts

    try:
        new = run_audited(
            lambda conn, audit: accounts.create_api_key(conn, audit, None, args.org, args.label),
        )
    except Exception as exc:
        return fail(exc)
    print(f"id: {new.id}")
    print("key (shown once, store it now):")
    print(new.key)
    return 0


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    from vbs.services import accounts

    try:
        key = run_audited(
            lambda conn, audit: accounts.revoke_api_key(conn, audit, None, args.key_id)
        )
    except Exception as exc:
        return fail(exc)
    print(f"revoked {key.id}")
    return 0
