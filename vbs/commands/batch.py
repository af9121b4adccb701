"""`vbs worker`, `vbs batch submit FILE.csv`, `vbs batch reconcile`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from vbs.config import Settings, get_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "worker",
        help="run a batch worker (RQ) with the matcher index kept in memory",
        description="Run a batch worker: matches batch chunks, and on timers reconciles "
        "lost jobs, screens checks against new list entries and advances case deadlines. "
        "Run several, on one machine or many, against the same PostgreSQL and Redis.",
    )
    p.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    p.add_argument("--reconcile-every", type=float, default=30.0, metavar="SECONDS")
    p.add_argument(
        "--stale-after",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="re-enqueue pending work whose job was enqueued this long ago and is gone",
    )
    p.add_argument("--screen-every", type=float, default=60.0, metavar="SECONDS")
    p.add_argument("--deadlines-every", type=float, default=300.0, metavar="SECONDS")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("batch", help="batch files: submit one, reconcile lost jobs")
    bsub = p.add_subparsers(dest="batch_command", metavar="ACTION")
    bsub.required = True
    s = bsub.add_parser(
        "submit",
        help="upload a batch file through the API and follow it until it is done",
    )
    s.add_argument("file", type=Path, metavar="FILE.csv")
    s.add_argument("--url", help="the API's base URL (default: VBS_API_URL)")
    s.add_argument("--api-key", help="an API key (default: VBS_API_KEY)")
    s.add_argument("--no-wait", action="store_true", help="upload and print the batch id only")
    s.add_argument("--poll", type=float, default=1.0, metavar="SECONDS")
    s.set_defaults(handler=cmd_submit)
    r = bsub.add_parser("reconcile", help="re-enqueue batch work whose job was lost")
    r.add_argument("--stale-after", type=float, default=120.0, metavar="SECONDS")
    r.set_defaults(handler=cmd_reconcile)


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("VBS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_worker(args: argparse.Namespace) -> int:
    from batch.worker import Timers, run_worker

    _logging()
    timers = Timers(
        reconcile_every=args.reconcile_every,
        stale_after=args.stale_after,
        screen_every=args.screen_every,
        deadlines_every=args.deadlines_every,
    )
    return run_worker(get_settings(), burst=args.burst, timers=timers)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from batch import queue as q
    from batch.reconcile import reconcile
    from vbs.audit import audit_log_from_settings
    from vbs.db import app_conninfo, open_pool

    settings = get_settings()
    pool = open_pool(app_conninfo(settings), min_size=1, max_size=2)
    connection = q.connect(settings)
    try:
        report = reconcile(
            pool,
            q.get_queue(connection),
            audit_log_from_settings(settings),
            stale_after=timedelta(seconds=args.stale_after),
        )
    finally:
        pool.close()
        connection.close()
    print(report.summary())
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    import httpx
    from tqdm import tqdm

    settings = get_settings()
    base = api_base(settings, args.url)
    key = args.api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    if not key:
        print("vbs batch submit: an API key is needed (--api-key or VBS_API_KEY)", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"vbs batch submit: no such file: {args.file}", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60.0) as client:
            with args.file.open("rb") as fh:
                response = client.post(
                    "/v1/batches",
                    files={"file": (args.file.name, fh, "text/csv")},
                    data={"eligibility_confirmed": "true", "consent_confirmed": "true"},
                )
            if response.status_code != 202:
                print(
                    f"upload refused ({response.status_code}): {_problem(response)}",
                    file=sys.stderr,
                )
                return 1
            batch_id = response.json()["id"]
            print(f"batch {batch_id} accepted", file=sys.stderr)
            if args.no_wait:
                print(batch_id)
                return 0
            status = _follow(client, batch_id, args.poll, tqdm)
    except httpx.TransportError as exc:
        print(
            f"vbs batch submit: cannot reach the API at {base} ({type(exc).__name__}); "
            "is `vbs up` running? Set --url or VBS_API_URL",
            file=sys.stderr,
        )
        return 1
    print(f"status:  {status['status']}")
    print(
        f"rows:    {status['rows_total']} ({status['rows_failed']} refused); "
        + ", ".join(f"{k} {v}" for k, v in status["outcomes"].items())
    )
    print(f"results: {base}/v1/batches/{batch_id}/results.csv")
    print(f"errors:  {base}/v1/batches/{batch_id}/errors.csv")
    return 0 if status["status"] == "complete" else 1


def api_base(settings: Settings, given: str | None = None) -> str:
    """The API's base URL: ``--url``, else ``VBS_API_URL``, else the local service at
    ``VBS_HOST``/``VBS_PORT`` (so a `vbs up` on another port is found without more set)."""
    if given:
        return given.rstrip("/")
    if "api_url" in settings.model_fields_set:
        return settings.api_url.rstrip("/")
    host = settings.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104  (a wildcard listen address)
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _follow(client: Any, batch_id: str, poll: float, tqdm: Any) -> dict[str, Any]:
    bar = tqdm(total=0, unit="row", desc="batch", file=sys.stderr)
    try:
        while True:
            response = client.get(f"/v1/batches/{batch_id}")
            if response.status_code == 200:
                status: dict[str, Any] = response.json()
                if status["rows_total"] and bar.total != status["rows_total"]:
                    bar.reset(total=status["rows_total"])
                bar.n = status["rows_processed"]
                bar.set_postfix_str(status["status"])
                bar.refresh()
                if status["status"] in ("complete", "failed"):
                    return status
            elif response.status_code != 503:
                raise SystemExit(f"progress refused ({response.status_code}): {_problem(response)}")
            time.sleep(poll)
    finally:
        bar.close()


def _problem(response: Any) -> str:
    try:
        body = response.json()
        return str(body.get("detail") or body.get("title") or body)
    except ValueError:
        return str(response.text[:200])
