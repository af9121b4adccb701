"""`vbs serve` (the API under uvicorn) and `vbs up [--demo]` (everything, until Ctrl-C).

`vbs up` starts the embedded PostgreSQL and Redis when no URLs are configured (re-using
ones already running), migrates, optionally loads the demo accounts and list, then runs
`vbs serve` and (when that command exists) `vbs worker` as child processes. On Ctrl-C or
SIGTERM, or when a child dies, it stops the children and then the embedded servers it
started itself (servers it found running are left to whoever started them).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from vbs.config import Settings, get_settings

CHILD_STOP_TIMEOUT_S = 15.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the API and web pages (uvicorn)")
    p.add_argument("--host", default=None, help="default: VBS_HOST (127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="default: VBS_PORT (8000)")
    p.add_argument("--no-migrate", action="store_true", help="skip applying migrations")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("up", help="start everything (embedded servers, API, worker)")
    p.add_argument("--demo", action="store_true", help="load demo accounts and a demo list")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(handler=cmd_up)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from vbs.db import owner_conninfo
    from vbs.migrate import migrate

    settings = get_settings()
    if not args.no_migrate:
        migrate(owner_conninfo(settings), settings.app_db_role)
    host = args.host or settings.host
    port = args.port or settings.port
    if args.workers > 1:
        # Several processes: uvicorn imports the factory in each (settings from the env).
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            workers=args.workers,
            # A worker builds the whole list's index at start-up, holding the GIL for long
            # stretches: uvicorn's default 5 s health ping would kill and restart it.
            timeout_worker_healthcheck=120,
            host=host,
            port=port,
            proxy_headers=True,
            server_header=False,
            log_level="info",
        )
        return 0
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=True,
        server_header=False,
        log_level="info",
    )
    return 0


# --- vbs up -------------------------------------------------------------------------


@dataclass
class Started:
    postgres: bool = False
    redis: bool = False


def start_servers(settings: Settings) -> Started:
    from vbs import embedded

    started = Started()
    if not settings.database_url and not embedded.postgres_running(settings.data_dir):
        embedded.start_postgres(settings.data_dir)
        started.postgres = True
    if not settings.redis_url and not embedded.redis_running(settings.data_dir):
        embedded.start_redis(settings.data_dir)
        started.redis = True
    return started


def stop_servers(settings: Settings, started: Started) -> bool:
    """Stop the embedded servers this process started; False if one could not be stopped."""
    from vbs import embedded

    ok = True
    for name, on, stop in (
        ("Redis", started.redis, embedded.stop_redis),
        ("PostgreSQL", started.postgres, embedded.stop_postgres),
    ):
        if not on:
            continue
        try:
            stop(settings.data_dir)
        except Exception as exc:
            ok = False
            print(f"error: could not stop the embedded {name}: {exc}", file=sys.stderr)
    return ok


def has_command(name: str) -> bool:
    from vbs.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return name in action.choices
    return False


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["VBS_DATA_DIR"] = str(settings.data_dir.resolve())
    env["XDG_RUNTIME_DIR"] = str(settings.run_dir)
    return env


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when `vbs up` dies, even by SIGKILL, so
    the API and the worker are never left running orphaned (Linux prctl; else a no-op)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=_die_with_parent)


def _answers(host: str, port: int) -> bool:
    """True once the API answers /healthz on host:port."""
    import httpx

    if host in ("", "0.0.0.0", "::"):  # noqa: S104  (a wildcard listen address)
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    try:
        return httpx.get(f"http://{host}:{port}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + CHILD_STOP_TIMEOUT_S
    for child in children:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def up_pid_file(settings: Settings) -> Path:
    """Where a running `vbs up` leaves its process id (so `vbs down` can stop it first)."""
    return settings.run_dir / "vbs-up.pid"


def write_up_pid(settings: Settings) -> None:
    path = up_pid_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")


def cmd_up(args: argparse.Namespace) -> int:
    from vbs.db import owner_conninfo
    from vbs.migrate import migrate

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop_requested = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in handled}
    started = Started()
    children: list[subprocess.Popen[bytes]] = []
    code = 0
    try:
        write_up_pid(settings)
        started = start_servers(settings)
        applied = migrate(owner_conninfo(settings), settings.app_db_role)
        print(f"database ready ({len(applied)} migration(s) applied)", flush=True)
        host = args.host or settings.host
        port = args.port or settings.port
        if args.demo:
            load_demo(settings, host, port)
        env = _child_env(settings)
        serve = [sys.executable, "-m", "vbs", "serve", "--no-migrate"]
        serve += ["--host", host, "--port", str(port)]
        # Own sessions: Ctrl-C reaches only this process, which then stops each child once
        # (a second signal would make the worker abandon a job in progress).
        children.append(_spawn(serve, env))
        if has_command("worker"):
            worker = [sys.executable, "-m", "vbs", "worker"]
            children.append(_spawn(worker, env))
        else:
            print("(no `vbs worker` command yet: batches will wait in the queue)", flush=True)
        announced = False
        while not stop_requested:
            dead = [c for c in children if c.poll() is not None]
            if dead:
                print(f"a child process exited (code {dead[0].returncode}); stopping", flush=True)
                code = 1
                break
            # Say it runs once it answers (not before: the port may be taken).
            if not announced and _answers(host, port):
                print(f"vbs is running at http://{host}:{port}/  (Ctrl-C to stop)", flush=True)
                announced = True
            time.sleep(0.2)
    except Exception as exc:
        print(f"error: vbs up failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        _stop_children(children)
        if not stop_servers(settings, started):
            code = 1
        for s, h in previous.items():
            signal.signal(s, h)
        up_pid_file(settings).unlink(missing_ok=True)
        stopped = [
            n for n, on in (("PostgreSQL", started.postgres), ("Redis", started.redis)) if on
        ]
        if stopped:
            print(f"stopped embedded {' and '.join(stopped)}", flush=True)
    return code


# --- the demo -----------------------------------------------------------------------

DEMO_ORGS = (
    ("Demo Employer Ltd", "employer"),
    ("Demo Registered Body", "registered_body"),
    ("Safeguarding Authority (demo)", "authority"),
)
DEMO_USERS = (
    ("employer@demo.vbs.test", "employer", "employer"),
    ("registered.body@demo.vbs.test", "registered_body", "registered_body"),
    ("caseworker@demo.vbs.test", "caseworker", "authority"),
    ("senior.caseworker@demo.vbs.test", "senior_caseworker", "authority"),
    ("admin@demo.vbs.test", "admin", "authority"),
)
# Invented people (any likeness is chance): the demo barred list.
DEMO_LIST_CSV = """list_id,forenames,surname,date_of_birth,previous_names,lists,gender
DEMO-0001,John Michael,Smithson,1975-03-14,,children|adults,male
DEMO-0002,Sarah,Blackwood,1982-11-02,Sarah Greene,children,female
DEMO-0003,Mohammed,Al-Rashid,1990-07-21,,adults,male
DEMO-0004,Katherine,O'Donnell,1968-01-30,Kate Murphy,children|adults,female
DEMO-0005,Piotr,Kowalczyk,1987-05-09,,children,male
DEMO-0006,Aisha,Okonkwo,1993-09-17,,adults,female
DEMO-0007,William James,Hargreaves,1959-12-05,Bill Hargreaves,children,male
DEMO-0008,Chloe,Fairbairn,1999-04-11,,children|adults,female
DEMO-0009,Gareth,Llewellyn,1979-08-23,,adults,male
DEMO-0010,Siobhan,McAllister,1984-02-28,Siobhan Reilly,children,female
DEMO-0011,Daniel,Whitcombe,1971-06-06,,children|adults,male
DEMO-0012,Priya,Raghunathan,1988-10-19,,adults,female
"""


def load_demo(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Create (or refresh) the demo organisations, accounts and list; print how to sign in.

    Re-running resets the demo users' passwords and prints them again; TOTP secrets stay.
    """
    import importlib.util

    from vbs.audit import audit_log_from_settings
    from vbs.commands.accounts import connect
    from vbs.principal import SYSTEM
    from vbs.repo import accounts as repo
    from vbs.services import accounts

    audit = audit_log_from_settings(settings)
    lines: list[str] = []
    with connect(settings) as conn:
        with conn.transaction():
            orgs = {(o.name, o.kind): o.id for o in repo.list_orgs(conn, limit=10_000)}
            org_ids: dict[str, object] = {}
            for name, kind in DEMO_ORGS:
                oid = orgs.get((name, kind))
                if oid is None:
                    oid = accounts.create_org(conn, audit, SYSTEM, name, kind).id
                org_ids[kind] = oid
            for email, role, kind in DEMO_USERS:
                password = accounts.generate_password()
                existing = repo.get_user_by_email(conn, email)
                if existing is None:
                    new = accounts.create_user(
                        conn, audit, SYSTEM, str(org_ids[kind]), email, role, password
                    )
                    secret = new.totp_secret
                else:
                    accounts.set_password(conn, audit, SYSTEM, existing.id, password)
                    secret = existing.totp_secret
                line = f"  {role:<18} {email:<34} password: {password}"
                if secret:
                    line += (
                        f"\n  {'':<18} TOTP secret: {secret}  ({accounts.totp_uri(secret, email)})"
                    )
                lines.append(line)
            key = accounts.create_api_key(conn, audit, SYSTEM, str(org_ids["employer"]), "demo key")
        list_note = "demo list: not loaded (the barred list service is not available yet)"
        if importlib.util.find_spec("vbs.services.barred_list") is not None:
            from vbs.services import barred_list

            with conn.transaction():
                if barred_list.current_version(conn) == 0:
                    result = barred_list.import_csv(
                        conn, audit, SYSTEM, DEMO_LIST_CSV.encode(), reason="demo list"
                    )
                    list_note = f"demo list: {len(result.entry_ids)} entries loaded"
                else:
                    list_note = "demo list: the list already has entries; left as it is"
        audit.checkpoint(conn)
    print("Demo accounts (passwords are new each time `vbs up --demo` runs):")
    print("\n".join(lines))
    print(f"  employer API key (id {key.id}): {key.key}")
    print(list_note)
    host, port = host or settings.host, port or settings.port
    print(
        f"Sign in at http://{host}:{port}/ with an email and password above; caseworkers, "
        "senior caseworkers and admins also give the 6-digit code from an authenticator app "
        'set up with their TOTP secret (or: python -c "import pyotp; '
        "print(pyotp.TOTP('SECRET').now())\")."
    )
    print(
        f"API: curl -H 'Authorization: Bearer {key.key}' http://{host}:{port}/v1/auth/me",
        flush=True,
    )
