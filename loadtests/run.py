"""`python -m loadtests run`: seed, start the service, run locust, check, verify, report.

    python -m loadtests run --list-size 10000 --users 10 --run-time 30s
    python -m loadtests run --list-size 1000000 --users 160 --run-time 2m --scenario checks

Steps:

1. Servers: ``VBS_DATABASE_URL`` / ``VBS_REDIS_URL`` (or ``--database-url`` /
   ``--redis-url``) if set, else the embedded PostgreSQL and Redis under ``--data-dir``
   (default ``.vbs-load``; stopped again at the end if this run started them). The run gets
   its own database (``vbs_loadtest`` by default, dropped and created afresh) and the
   Redis database it is given is emptied.
2. Migrate and seed (:mod:`loadtests.seed`): the barred list by COPY, accounts and keys,
   the identities each scenario sends, batch files.
3. Start ``vbs serve`` (``--api-workers`` uvicorn workers) and ``--rq-workers`` ``vbs
   worker`` processes, quotas raised through the environment, and wait for ``/readyz``.
4. Run locust headless with ``--csv`` and ``--html`` into ``loadtests/out/``.
5. Print a summary table; check ``loadtests/thresholds.toml`` (``--profile``); verify
   that the database holds exactly one check row and one audit event per accepted check;
   report how the cores were shared. Exit 1 when a threshold or the verification fails.

Cores: when the machine has at least two, locust runs on the last core and the service
(API, workers, and the embedded servers when this run starts them) on the others, with
``os.sched_setaffinity``; ``--no-pin`` lets the scheduler share them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
THRESHOLDS = Path(__file__).resolve().parent / "thresholds.toml"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
DEFAULT_DB = "vbs_loadtest"
CHECK_AUDIT_ACTION = "check.create"

SCENARIOS: dict[str, list[str]] = {
    "checks": ["EmployerUser"],
    "batch": ["BatchUser", "EmployerUser"],
    "caseworker": ["CaseworkerUser", "EmployerUser"],
    "mixed": ["EmployerUser", "BatchUser", "CaseworkerUser"],
}


def parse_duration(text: str) -> int:
    """Locust's run-time forms: ``90``, ``30s``, ``2m``, ``1h30m`` -> seconds."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    parts = re.findall(r"(\d+)\s*([hms])", text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"--run-time: not a duration: {text!r} (use e.g. 30s, 2m, 1h30m)")
    scale = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * scale[u] for n, u in parts)


@dataclass(slots=True)
class Options:
    list_size: int = 10_000
    users: int = 10
    run_time: str = "30s"
    spawn_rate: float | None = None
    scenario: str = "checks"
    user_rate: float = 2.0
    api_workers: int = 2
    rq_workers: int = 2
    caseworkers: int = 2
    batch_users: int = 1
    batch_rows: int = 500
    batch_files: int | None = None
    identities: int | None = None
    database_url: str | None = None
    redis_url: str | None = None
    database_name: str = DEFAULT_DB
    data_dir: Path = ROOT / ".vbs-load"
    out_dir: Path = OUT
    port: int = 0
    profile: str = "target"
    thresholds: Path = THRESHOLDS
    pin: bool = True
    keep_running: bool = False
    seed: int = 7
    prescreen: bool = True
    ready_timeout: float = 900.0
    then: list[Phase] = field(default_factory=list)
    command: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Report:
    exit_code: int
    ledger: dict[str, Any]
    misses: list[str]
    verification: dict[str, Any]
    cores: dict[str, Any]
    out_dir: Path


# --- small helpers ----------------------------------------------------------------------


def _log(msg: str) -> None:
    print(f"[loadtest {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def _pinner(cpus: set[int] | None) -> Callable[[], None] | None:
    if not cpus:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def _thread_ids(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def pin_tree(pid: int, cpus: set[int]) -> int:
    """Pin every thread of a process and its descendants; return how many threads."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    pinned = 0
    for proc in procs:
        for tid in _thread_ids(proc.pid):
            try:
                os.sched_setaffinity(tid, cpus)
                pinned += 1
            except OSError:
                continue
    return pinned


def _tree_cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
    return total


def _named_cpu_seconds(names: set[str]) -> float:
    total = 0.0
    for p in psutil.process_iter(["name"]):
        try:
            if p.info["name"] in names:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


# --- servers ----------------------------------------------------------------------------


@dataclass(slots=True)
class Servers:
    owner_url: str
    redis_url: str
    started_embedded: bool
    postgres_pid: int | None
    redis_pid: int | None = None


def _with_database(conninfo: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(conninfo)
    params["dbname"] = dbname
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def _prepare_servers(opts: Options) -> Servers:
    import psycopg
    import redis

    from vbs import embedded
    from vbs.repo import schema

    db_url = opts.database_url or os.environ.get("VBS_DATABASE_URL") or None
    redis_url = opts.redis_url or os.environ.get("VBS_REDIS_URL") or None
    started = False
    pg_pid: int | None = None
    redis_pid: int | None = None
    if db_url is None or redis_url is None:
        data_dir = opts.data_dir
        was_pg = embedded.postgres_running(data_dir)
        was_redis = embedded.redis_running(data_dir)
        if db_url is None:
            db_url = embedded.start_postgres(data_dir)
            pid_file = embedded.pg_dir(data_dir) / "postmaster.pid"
            pg_pid = int(pid_file.read_text().splitlines()[0])
        if redis_url is None:
            redis_url = embedded.start_redis(data_dir)
            pid_text = (embedded.redis_dir(data_dir) / "redis.pid").read_text().strip()
            redis_pid = int(pid_text) if pid_text.isdigit() else None
        started = not (was_pg and was_redis)
    with psycopg.connect(db_url, autocommit=True) as conn:
        schema.drop_database(conn, opts.database_name)
        schema.create_database_if_missing(conn, opts.database_name)
    owner_url = _with_database(db_url, opts.database_name)
    r = redis.Redis.from_url(redis_url)
    try:
        r.flushdb()
    finally:
        r.close()
    return Servers(owner_url, redis_url, started, pg_pid, redis_pid)


# --- the service ------------------------------------------------------------------------


class Service:
    """`vbs serve` and `vbs worker` processes, each in its own process group."""

    def __init__(
        self, opts: Options, servers: Servers, cpus: set[int] | None, audit_key: str
    ) -> None:
        self.opts = opts
        self.audit_key = audit_key
        self.servers = servers
        self.cpus = cpus
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port = opts.port or _free_port()
        self.log_dir = opts.out_dir / "logs"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        data_dir = self.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "VBS_DATABASE_URL": self.servers.owner_url,
                "VBS_REDIS_URL": self.servers.redis_url,
                "VBS_DATA_DIR": str(data_dir),
                "VBS_HOST": "127.0.0.1",
                "VBS_PORT": str(self.port),
                "VBS_COOKIE_SECURE": "false",
                # The load is the point: quotas far above it (they are still enforced).
                "VBS_QUOTA_RATE_PER_MINUTE": "100000000",
                "VBS_QUOTA_DAILY_VOLUME": "1000000000",
                "VBS_QUOTA_ORG_RATE_PER_MINUTE": "100000000",
                "VBS_QUOTA_ORG_DAILY_VOLUME": "1000000000",
                "VBS_LOGIN_MAX_FAILURES": "1000",
                "VBS_AUDIT_KEY": self.audit_key,
                "XDG_RUNTIME_DIR": str(data_dir / "run"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        (data_dir / "run").mkdir(parents=True, exist_ok=True)
        (data_dir / "run").chmod(0o700)
        env.update(self.opts.extra_env)
        return env

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "vbs", *args],
            env=self.env(),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.opts.api_workers > 1:
            serve += ["--workers", str(self.opts.api_workers)]
        self._spawn("api", serve)
        for i in range(self.opts.rq_workers):
            self._spawn(f"worker-{i + 1}", ["worker"])

    @property
    def data_dir(self) -> Path:
        return self.opts.out_dir / "service-data"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"a service process exited with {proc.returncode} before the service "
                        f"was ready; see {self.log_dir}"
                    )
            try:
                with urlopen(f"{self.url}/readyz", timeout=5) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
                    last = f"status {resp.status}"
            except (URLError, OSError) as exc:
                last = str(exc)
            time.sleep(1.0)
        raise RuntimeError(f"service not ready after {timeout:.0f}s ({last}); see {self.log_dir}")

    def pin(self) -> int:
        """Pin every thread of every service process to the service's cores.

        Done once the service is ready: the index builds at start-up use every core.
        Returns the number of threads pinned.
        """
        if not self.cpus:
            return 0
        return sum(pin_tree(pid, self.cpus) for pid in self.pids())

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# --- locust -----------------------------------------------------------------------------


def run_locust(
    opts: Options,
    phase: Phase,
    host: str,
    plan_path: Path,
    ledger_path: Path,
    cpus: set[int] | None,
) -> tuple[int, float]:
    """Run locust headless; return (its exit code, wall seconds)."""
    prefix = opts.out_dir / phase.scenario
    spawn_rate = opts.spawn_rate or max(1.0, phase.users / 10)
    args = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "-u",
        str(phase.users),
        "-r",
        str(spawn_rate),
        "-t",
        phase.run_time,
        "--stop-timeout",
        "30",
        "--csv",
        str(prefix),
        "--html",
        str(prefix) + ".html",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "1",
        *SCENARIOS[phase.scenario],
    ]
    env = dict(os.environ)
    env.update(
        {
            "VBS_LOADTEST_PLAN": str(plan_path),
            "VBS_LOADTEST_LEDGER": str(ledger_path),
            "VBS_LOADTEST_USER_RATE": str(opts.user_rate),
            "VBS_LOADTEST_CASEWORKERS": str(opts.caseworkers),
            "VBS_LOADTEST_BATCH_USERS": str(opts.batch_users),
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    opts.out_dir.joinpath("logs").mkdir(parents=True, exist_ok=True)
    log = (opts.out_dir / "logs" / f"locust-{phase.scenario}.log").open("wb")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            args,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_pinner(cpus),
            check=False,
            timeout=phase.seconds + 300,
        )
    finally:
        log.close()
    return proc.returncode, time.monotonic() - started


# --- thresholds, summary, verification --------------------------------------------------


def check_thresholds(ledger: dict[str, Any], path: Path, profile: str) -> list[str]:
    rules = tomllib.loads(path.read_text(encoding="utf-8")).get("profile", {}).get(profile)
    if rules is None:
        return [f"no profile {profile!r} in {path}"]
    rows = {(r["method"] or "", r["name"]): r for r in ledger["entries"]}
    rows[("", "Aggregated")] = ledger["total"]
    misses: list[str] = []
    for rule in rules:
        key = (rule.get("method", ""), rule["name"])
        label = f"{key[0]} {key[1]}".strip()
        row = rows.get(key)
        if row is None or not row["requests"]:
            if rule.get("required"):
                misses.append(f"{label}: no requests")
            continue
        ratio = row["failures"] / row["requests"]
        if "max_failure_ratio" in rule and ratio > rule["max_failure_ratio"]:
            misses.append(
                f"{label}: failure ratio {ratio:.4f} > {rule['max_failure_ratio']}"
                f" ({row['failures']} of {row['requests']})"
            )
        for pct in ("p95_ms", "p99_ms"):
            if pct in rule and row[pct] is not None and row[pct] > rule[pct]:
                misses.append(f"{label}: {pct[:3]} {row[pct]:.0f} ms > {rule[pct]} ms")
        if "min_rps" in rule:
            rps = row["steady_rps"] if row["steady_rps"] is not None else row["rps"]
            if rps < rule["min_rps"]:
                misses.append(f"{label}: {rps:.1f} req/s < {rule['min_rps']} req/s")
        if "min_requests" in rule and row["requests"] < rule["min_requests"]:
            misses.append(f"{label}: {row['requests']} requests < {rule['min_requests']}")
    return misses


def _fmt(v: float | None, spec: str = ".0f") -> str:
    return "-" if v is None else format(v, spec)


def summary_table(ledger: dict[str, Any]) -> str:
    head = (
        f"{'request':<38} {'reqs':>7} {'fails':>6} {'req/s':>7} {'steady':>7} "
        f"{'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in [*sorted(ledger["entries"], key=lambda r: r["name"]), ledger["total"]]:
        label = f"{r['method']} {r['name']}".strip()
        lines.append(
            f"{label[:38]:<38} {r['requests']:>7} {r['failures']:>6} {_fmt(r['rps'], '.1f'):>7} "
            f"{_fmt(r['steady_rps'], '.1f'):>7} {_fmt(r['p50_ms']):>6} {_fmt(r['p95_ms']):>6} "
            f"{_fmt(r['p99_ms']):>6} {_fmt(r['max_ms']):>7}"
        )
    return "\n".join(lines)


def verify_database(owner_url: str, plan: dict[str, Any], ledger: dict[str, Any]) -> dict[str, Any]:
    """One check row and one audit event per accepted check, and nothing more."""
    from uuid import UUID

    import psycopg

    from vbs.repo import loadtest as repo

    accepted = [UUID(i) for i in ledger["check_ids"]]
    orgs = [UUID(i) for i in plan["employer_org_ids"]]
    with psycopg.connect(owner_url) as conn:
        rows = set(repo.single_check_ids(conn, orgs))
        events = repo.audit_events_per_object(conn, CHECK_AUDIT_ACTION, accepted)
        actions = repo.audit_actions(conn, int(plan.get("audit_seq_before", 0)))
        outcomes = repo.outcome_counts(conn, orgs)
        pending = repo.pending_reviews(conn)
        versions = repo.matcher_versions(conn, orgs)
    accepted_set = set(accepted)
    missing_rows = accepted_set - rows
    extra_rows = rows - accepted_set
    no_event = [i for i in accepted if events.get(str(i), 0) == 0]
    many_events = [i for i in accepted if events.get(str(i), 0) > 1]
    ok = (
        len(accepted) == len(accepted_set)
        and not missing_rows
        and not extra_rows
        and not no_event
        and not many_events
    )
    return {
        "ok": ok,
        "accepted_checks": len(accepted),
        "distinct_ids": len(accepted_set),
        "check_rows": len(rows),
        "missing_rows": len(missing_rows),
        "rows_without_201": len(extra_rows),
        "checks_without_audit_event": len(no_event),
        "checks_with_several_events": len(many_events),
        "audit_actions": actions,
        "outcomes_in_db": outcomes,
        "pending_reviews": pending,
        # The pre-screen's matcher and thresholds must be the service's: a code change in
        # between (a shared working tree) shows here and explains wrong outcomes.
        "matcher_versions": versions,
        "prescreen_matcher": plan.get("matcher"),
    }


# --- the whole run ----------------------------------------------------------------------


def _split_cores(pin: bool) -> tuple[set[int] | None, set[int] | None, str]:
    cpus = _cpus()
    if not pin:
        return None, None, f"not pinned: {len(cpus)} core(s) shared by the scheduler"
    if len(cpus) < 2:
        return None, None, "not pinned: only one core available"
    locust = {cpus[-1]}
    service = set(cpus[:-1])
    return (
        service,
        locust,
        f"service (API, workers, embedded servers) on core(s) {sorted(service)}, locust on "
        f"core {cpus[-1]}, from readiness on (seeding and index builds use every core)",
    )


@dataclass(slots=True)
class Phase:
    """One locust run against the seeded service."""

    scenario: str
    users: int
    run_time: str

    @property
    def seconds(self) -> int:
        return parse_duration(self.run_time)


def parse_phase(text: str) -> Phase:
    """``SCENARIO:USERS:RUN_TIME`` (``--then batch:41:3m``)."""
    parts = text.split(":")
    if len(parts) != 3 or parts[0] not in SCENARIOS or not parts[1].isdigit():
        raise argparse.ArgumentTypeError(
            f"expected SCENARIO:USERS:RUN_TIME (e.g. batch:40:3m), not {text!r}"
        )
    try:
        parse_duration(parts[2])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Phase(parts[0], int(parts[1]), parts[2])


def _identities_needed(opts: Options, phase: Phase) -> int:
    return max(1_000, int(phase.users * opts.user_rate * phase.seconds * 1.15))


def _split_plan(plan_path: Path, phases: list[Phase], needs: list[int]) -> list[Path]:
    """One plan per phase: its own slice of the identities and of the batch files."""
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    lines = (plan_path.parent / plan["identities"]).read_text(encoding="utf-8").splitlines()
    files: list[str] = list(plan["batch_files"])
    batch_phases = [i for i, ph in enumerate(phases) if ph.scenario in ("batch", "mixed")]
    per_batch_phase = max(1, len(files) // max(1, len(batch_phases))) if files else 0
    out: list[Path] = []
    start = 0
    total = sum(needs)
    for i, phase in enumerate(phases):
        share = len(lines) * needs[i] // total if total else 0
        part = lines[start : start + share] if i < len(phases) - 1 else lines[start:]
        start += share
        ident = f"identities-{i + 1}.jsonl"
        (plan_path.parent / ident).write_text("\n".join(part) + "\n", encoding="utf-8")
        mine: list[str] = []
        if i in batch_phases:
            k = batch_phases.index(i)
            mine = files[k * per_batch_phase : (k + 1) * per_batch_phase]
        phase_plan = {**plan, "identities": ident, "batch_files": mine}
        path = plan_path.parent / f"plan-{i + 1}-{phase.scenario}.json"
        path.write_text(json.dumps(phase_plan, indent=1), encoding="utf-8")
        out.append(path)
    return out


def run(opts: Options) -> Report:
    """Seed, start the service, run every phase, stop; the report of the last phase
    (exit code 1 if any phase missed)."""
    from loadtests import seed as seeding
    from vbs.migrate import migrate

    if opts.scenario not in SCENARIOS:
        raise ValueError(f"--scenario: one of {', '.join(SCENARIOS)}")
    phases = [Phase(opts.scenario, opts.users, opts.run_time), *opts.then]
    if opts.out_dir.exists():
        for child in ("logs", "service-data", "seed"):
            shutil.rmtree(opts.out_dir / child, ignore_errors=True)
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    service_cpus, locust_cpus, pin_note = _split_cores(opts.pin)
    _log(f"cores: {pin_note}")
    servers = _prepare_servers(opts)
    audit_key = os.environ.get("VBS_AUDIT_KEY") or secrets.token_hex(32)
    service: Service | None = None
    try:
        t0 = time.monotonic()
        from vbs.config import Settings

        settings = Settings(database_url=servers.owner_url)
        migrate(servers.owner_url, settings.app_db_role)
        _log(f"migrated {opts.database_name} in {time.monotonic() - t0:.1f}s")

        needs = [_identities_needed(opts, ph) for ph in phases]
        if opts.identities:
            needs = [max(1, opts.identities * n // sum(needs)) for n in needs]
        batch_phases = [ph for ph in phases if ph.scenario in ("batch", "mixed")]
        batch_files = (
            opts.batch_files
            if opts.batch_files is not None
            else sum(max(2, ph.seconds // 20) for ph in batch_phases)
        )
        seed_dir = opts.out_dir / "seed"
        plan_path = seeding.seed(
            servers.owner_url,
            seed_dir,
            list_size=opts.list_size,
            identities=sum(needs),
            caseworkers=max(opts.caseworkers, 1),
            batch_files=batch_files if batch_phases else 0,
            batch_rows=opts.batch_rows,
            seed=opts.seed,
            audit_key=audit_key,
            data_dir=opts.out_dir / "service-data",
            screen=opts.prescreen,
            log=_log,
        )
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
        _log(f"seeded: {json.dumps(plan['timings'])}")
        phase_plans = _split_plan(plan_path, phases, needs)

        service = Service(opts, servers, service_cpus, audit_key)
        t0 = time.monotonic()
        service.start()
        service.wait_ready(opts.ready_timeout)
        ready_s = time.monotonic() - t0
        _log(f"service ready at {service.url} in {ready_s:.1f}s")
        if service_cpus:
            # Seeding and the index builds used every core; the measurement does not.
            threads = service.pin()
            for pid in (servers.postgres_pid, servers.redis_pid):
                if pid is not None:
                    threads += pin_tree(pid, service_cpus)
            _log(f"service pinned to core(s) {sorted(service_cpus)}: {threads} threads")

        accepted_so_far: list[str] = []
        reports: list[Report] = []
        for i, (phase, phase_plan) in enumerate(zip(phases, phase_plans, strict=True)):
            reports.append(
                _run_phase(
                    opts,
                    i + 1,
                    phase,
                    phase_plan,
                    plan,
                    servers,
                    service,
                    locust_cpus,
                    pin_note,
                    accepted_so_far,
                    ready_s,
                )
            )
        if opts.keep_running:
            _log(f"service left running at {service.url}; Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        last = reports[-1]
        last.exit_code = 1 if any(r.exit_code for r in reports) else 0
        return last
    finally:
        if service is not None:
            service.stop()
        if servers.started_embedded:
            from vbs import embedded

            embedded.stop(opts.data_dir)


def _run_phase(
    opts: Options,
    number: int,
    phase: Phase,
    plan_path: Path,
    plan: dict[str, Any],
    servers: Servers,
    service: Service,
    locust_cpus: set[int] | None,
    pin_note: str,
    accepted_so_far: list[str],
    ready_s: float,
) -> Report:
    load_before = os.getloadavg()
    core_before = psutil.cpu_times(percpu=True)
    svc_before = _tree_cpu_seconds(service.pids())
    pg_before = (
        _tree_cpu_seconds([servers.postgres_pid])
        if servers.postgres_pid
        else _named_cpu_seconds({"postgres", "postmaster"})
    )
    _log(
        f"phase {number}: locust scenario {phase.scenario}, {phase.users} users, "
        f"{phase.run_time}, {opts.user_rate}/s per employer user"
    )
    ledger_path = plan_path.with_suffix(".ledger.json")
    code, wall = run_locust(opts, phase, service.url, plan_path, ledger_path, locust_cpus)
    svc_after = _tree_cpu_seconds(service.pids())
    pg_after = (
        _tree_cpu_seconds([servers.postgres_pid])
        if servers.postgres_pid
        else _named_cpu_seconds({"postgres", "postmaster"})
    )
    core_after = psutil.cpu_times(percpu=True)
    if not ledger_path.exists():
        raise RuntimeError(
            f"locust wrote no ledger (exit {code}); see {opts.out_dir / 'logs' / 'locust.log'}"
        )
    ledger = json.loads(ledger_path.read_text(encoding="utf-8"))
    shutil.copy(ledger_path, opts.out_dir / f"{phase.scenario}_ledger.json")

    cores: dict[str, Any] = {
        "pinning": pin_note,
        "wall_seconds": round(wall, 1),
        "machine": f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB",
        "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
    }
    per_core = {}
    for i, (a, b) in enumerate(zip(core_before, core_after, strict=True)):
        busy = (b.user + b.system + b.nice + b.irq + b.softirq) - (
            a.user + a.system + a.nice + a.irq + a.softirq
        )
        total = busy + (b.idle - a.idle) + (getattr(b, "iowait", 0) - getattr(a, "iowait", 0))
        per_core[f"cpu{i}"] = round(100 * busy / total, 1) if total else None
    cores["busy_percent"] = per_core
    cores["cpu_seconds"] = {
        "service (api + workers)": round(svc_after - svc_before, 1),
        "postgresql": round(pg_after - pg_before, 1),
        "locust": ledger.get("locust_cpu_seconds"),
    }
    accepted = len(ledger.get("check_ids", []))
    if accepted:
        # Per accepted single check (other requests of the run are included in the CPU).
        cores["cpu_ms_per_check"] = {
            k: round(1000 * v / accepted, 2)
            for k, v in cores["cpu_seconds"].items()
            if isinstance(v, int | float)
        }
    cores["postgresql_scope"] = (
        "embedded server started for this run"
        if servers.postgres_pid
        else "every process named postgres on the machine (a shared server)"
    )

    print()
    print(f"phase {number}: {phase.scenario}, {phase.users} users, {phase.run_time}")
    print(summary_table(ledger))
    print()
    misses = check_thresholds(ledger, opts.thresholds, opts.profile)
    accepted_so_far.extend(ledger["check_ids"])
    verification = verify_database(
        servers.owner_url, plan, {**ledger, "check_ids": list(accepted_so_far)}
    )
    print(f"outcomes by kind: {json.dumps(ledger['outcomes'])}")
    if ledger.get("batches"):
        print(f"batches: {json.dumps(ledger['batches'])}")
    if ledger.get("decisions"):
        print(f"review decisions: {json.dumps(ledger['decisions'])}")
    if ledger.get("errors"):
        print("errors:")
        for e in ledger["errors"][:20]:
            print(f"  {e['count']:>6} x {e['method']} {e['name']}: {e['error'][:160]}")
    print(f"cores: {json.dumps(cores)}")
    print(f"database (all phases so far): {json.dumps(verification)}")
    if not verification["ok"]:
        misses.append("database verification failed (see 'database' above)")
    if misses:
        print(f"thresholds ({opts.profile}) MISSED:")
        for m in misses:
            print(f"  - {m}")
    else:
        print(f"thresholds ({opts.profile}): all met")
    report = {
        "command": opts.command,
        "phase": {"number": number, **asdict(phase)},
        "options": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in ((f, getattr(opts, f)) for f in opts.__slots__)  # type: ignore[attr-defined]
            if k not in ("extra_env", "then")
        },
        "seed_timings": plan["timings"],
        "prescreen": plan.get("prescreen"),
        "service_ready_seconds": round(ready_s, 1),
        "cores": cores,
        "verification": verification,
        "misses": misses,
        "locust_exit": code,
        "outcomes": ledger["outcomes"],
        "batches": ledger.get("batches"),
        "total": ledger["total"],
        "entries": ledger["entries"],
    }
    text = json.dumps(report, indent=1)
    (opts.out_dir / f"{phase.scenario}_report.json").write_text(text, encoding="utf-8")
    history = opts.out_dir / "history"
    history.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (history / f"{stamp}-{phase.scenario}-{opts.list_size}.json").write_text(text, encoding="utf-8")
    return Report(1 if misses else 0, ledger, misses, verification, cores, opts.out_dir)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m loadtests run")
    p.add_argument("--list-size", type=int, default=10_000, help="barred list entries to seed")
    p.add_argument("--users", type=int, default=10, help="locust users")
    p.add_argument("--run-time", default="30s", help="e.g. 30s, 2m")
    p.add_argument("--spawn-rate", type=float, default=None, help="users started per second")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="checks")
    p.add_argument(
        "--user-rate",
        type=float,
        default=2.0,
        help="checks per second per employer user (0: as fast as answers come)",
    )
    p.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--rq-workers", type=int, default=2, help="`vbs worker` processes")
    p.add_argument("--caseworkers", type=int, default=2, help="caseworker users (fixed count)")
    p.add_argument("--batch-users", type=int, default=1, help="registered-body users")
    p.add_argument("--batch-rows", type=int, default=500, help="rows per batch file")
    p.add_argument("--batch-files", type=int, default=None, help="batch files to prepare")
    p.add_argument("--identities", type=int, default=None, help="identities to prepare")
    p.add_argument("--database-url", default=None, help="server URL (else VBS_DATABASE_URL)")
    p.add_argument("--redis-url", default=None, help="Redis URL (else VBS_REDIS_URL)")
    p.add_argument("--database-name", default=DEFAULT_DB, help="database created for the run")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".vbs-load")
    p.add_argument("--out-dir", type=Path, default=OUT)
    p.add_argument("--port", type=int, default=0, help="API port (0: a free one)")
    p.add_argument("--profile", default="target", help="threshold profile (target, smoke)")
    p.add_argument("--thresholds", type=Path, default=THRESHOLDS)
    p.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin cores")
    p.add_argument("--keep-running", action="store_true", help="leave the service up after")
    p.add_argument(
        "--then",
        action="append",
        type=parse_phase,
        default=[],
        metavar="SCENARIO:USERS:RUN_TIME",
        help="a further locust run on the same service and seeded list (repeatable)",
    )
    p.add_argument("--seed", type=int, default=7, help="random seed of the synthetic data")
    p.add_argument(
        "--no-prescreen",
        dest="prescreen",
        action="store_false",
        help="send identities whose truth the matcher itself disagrees with",
    )
    return p


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        list_size=args.list_size,
        users=args.users,
        run_time=args.run_time,
        spawn_rate=args.spawn_rate,
        scenario=args.scenario,
        user_rate=args.user_rate,
        api_workers=args.api_workers,
        rq_workers=args.rq_workers,
        caseworkers=args.caseworkers,
        batch_users=args.batch_users,
        batch_rows=args.batch_rows,
        batch_files=args.batch_files,
        identities=args.identities,
        database_url=args.database_url,
        redis_url=args.redis_url,
        database_name=args.database_name,
        data_dir=args.data_dir,
        out_dir=args.out_dir,
        port=args.port,
        profile=args.profile,
        thresholds=args.thresholds,
        pin=args.pin,
        keep_running=args.keep_running,
        seed=args.seed,
        prescreen=args.prescreen,
        then=list(args.then),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        parse_duration(args.run_time)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    opts = options_from(args)
    opts.command = "python -m loadtests run " + " ".join(argv if argv is not None else sys.argv[1:])
    report = run(opts)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
