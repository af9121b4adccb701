"""Batch benchmark: one big file from upload to complete results, with N `vbs worker`s,
and the single-check latency measured while it runs.

    python -m loadtests.bench_batch --list-size 1000000 --rows 100000 --workers 2

1. A fresh database ``vbs_bench_batch`` on ``--database-url`` (the machine's PostgreSQL by
   default), migrated; the synthetic list of ``loadtests.synth`` (cached under
   ``loadtests/out/cache/``) COPYed in at one list version (``loadtests.seed``); a
   registered body and an employer with API keys.
2. The batch file: the first ``--rows`` synthetic checks (``checks.csv`` is already in the
   batch format), ``workforce`` both.
3. ``vbs serve`` and ``--workers`` ``vbs worker`` processes on that database and
   ``--redis-url``; the clock starts once every process has built its index (workers are
   long-lived: their start is not part of a batch's time).
4. Upload (``POST /v1/batches``), then poll ``GET /v1/batches/{id}`` until ``complete``;
   meanwhile one client sends single checks (``POST /v1/checks``) one after another and
   records their latency.
5. Verify every accepted row has exactly one result, print the figures and write them to
   ``loadtests/out/bench_batch.json``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "loadtests" / "out"
DB_NAME = "vbs_bench_batch"


def _log(msg: str) -> None:
    print(f"[bench-batch {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _with_db(url: str, name: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def prepare_database(server_url: str) -> str:
    import psycopg

    from vbs.migrate import migrate
    from vbs.repo import schema

    with psycopg.connect(server_url, autocommit=True) as conn:
        schema.drop_database(conn, DB_NAME)
        schema.create_database_if_missing(conn, DB_NAME)
    owner = _with_db(server_url, DB_NAME)
    migrate(owner, "vbs_app")
    return owner


def batch_file(folder: Path, rows: int) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["reference", "forenames", "surname", "date_of_birth", "previous_names"])
    with (folder / "checks.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        idx = [header.index(c) for c in ("reference", "forenames", "surname", "date_of_birth")]
        prev = header.index("previous_names") if "previous_names" in header else None
        for i, row in enumerate(reader):
            if i >= rows:
                break
            w.writerow([row[j] for j in idx] + [row[prev] if prev is not None else ""])
    return out.getvalue().encode()


class Service:
    def __init__(self, env: dict[str, str], workers: int, log_dir: Path) -> None:
        self.env = env
        self.workers = workers
        self.log_dir = log_dir
        self.port = _free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, args: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("wb") as log:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vbs", *args],
                    env=self.env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def start(self) -> None:
        serve = ["serve", "--no-migrate", "--host", "127.0.0.1", "--port", str(self.port)]
        self._spawn("serve", serve)
        for i in range(self.workers):
            self._spawn(f"worker-{i + 1}", ["worker", "--screen-every", "0"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise SystemExit(
                        f"a service process exited ({p.returncode}); see {self.log_dir}"
                    )
            ready = 0
            for i in range(self.workers):
                text = (self.log_dir / f"worker-{i + 1}.log").read_text(errors="replace")
                ready += "Listening on" in text
            try:
                api = httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                api = False
            if api and ready == self.workers:
                return
            time.sleep(1)
        raise SystemExit("the service did not become ready")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def single_checks(url: str, key: str, stop: threading.Event, out: list[float]) -> None:
    import httpx

    i = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
        while not stop.is_set():
            i += 1
            body = {
                "reference": f"single-{i}",
                "forenames": "Alexandra",
                "surname": f"Benchmarkson{i}",
                "date_of_birth": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 9}",
                "workforce": "both",
                "eligibility_confirmed": True,
                "consent_confirmed": True,
            }
            t0 = time.perf_counter()
            r = c.post("/v1/checks", json=body, timeout=60)
            if r.status_code == 201:
                out.append(time.perf_counter() - t0)
            time.sleep(0.2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import psycopg

    from loadtests import seed as seeding
    from vbs.config import Settings
    from vbs.repo import batches as repo

    audit_key = secrets.token_hex(24)
    data_dir = OUT / "bench-batch"
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.reuse:  # the database of an earlier run, list loaded: migrate only
        from vbs.migrate import migrate

        owner = _with_db(args.database_url, DB_NAME)
        try:
            psycopg.connect(owner, connect_timeout=10).close()
        except psycopg.OperationalError:
            raise SystemExit(
                f"bench_batch: --reuse needs the database {DB_NAME} of an earlier run on that "
                "server, and it cannot be opened; run once without --reuse"
            ) from None
        migrate(owner, "vbs_app")
    else:
        owner = prepare_database(args.database_url)
    settings = Settings(
        database_url=owner, redis_url=args.redis_url, data_dir=data_dir, audit_key=audit_key
    )
    timings: dict[str, float] = {}
    t = time.monotonic()
    folder = seeding.synth_data(args.list_size, max(args.rows, 1000), args.seed, _log)
    timings["synth_s"] = time.monotonic() - t
    if not args.reuse:
        t = time.monotonic()
        seeding.copy_list(owner, seeding.read_list(folder, args.seed), settings)
        timings["copy_list_s"] = time.monotonic() - t
    accounts = seeding.create_accounts(owner, settings, 0, secrets.token_hex(3))
    data = batch_file(folder, args.rows)
    _log(f"list of {args.list_size} loaded; batch file {len(data)} bytes, {args.rows} rows")

    import redis as redis_lib

    redis_lib.Redis.from_url(args.redis_url).flushdb()
    env = dict(os.environ)
    env.update(
        VBS_DATABASE_URL=owner,
        VBS_REDIS_URL=args.redis_url,
        VBS_DATA_DIR=str(data_dir),
        VBS_AUDIT_KEY=audit_key,
        VBS_QUOTA_RATE_PER_MINUTE="100000000",
        VBS_QUOTA_DAILY_VOLUME="1000000000",
        VBS_QUOTA_ORG_RATE_PER_MINUTE="100000000",
        VBS_QUOTA_ORG_DAILY_VOLUME="1000000000",
        VBS_BATCH_CHUNK_SIZE=str(args.chunk_size),
        XDG_RUNTIME_DIR=str(data_dir / "run"),
        PYTHONUNBUFFERED="1",
    )
    (data_dir / "run").mkdir(exist_ok=True, mode=0o700)
    service = Service(env, args.workers, OUT / "bench-batch-logs")
    latencies: list[float] = []
    stop = threading.Event()
    try:
        t = time.monotonic()
        service.start()
        service.wait_ready(args.ready_timeout)
        timings["service_ready_s"] = time.monotonic() - t
        _log(f"service ready in {timings['service_ready_s']:.1f}s")
        checker = threading.Thread(
            target=single_checks, args=(service.url, accounts.employer_keys[0], stop, latencies)
        )
        checker.start()
        headers = {"Authorization": f"Bearer {accounts.body_keys[0]}"}
        cpu_before = [cpu_seconds(p.pid) for p in service.procs]
        with httpx.Client(base_url=service.url, headers=headers, timeout=120) as c:
            t0 = time.monotonic()
            r = c.post(
                "/v1/batches",
                files={"file": ("bench.csv", data, "text/csv")},
                data={"eligibility_confirmed": "true", "consent_confirmed": "true"},
            )
            if r.status_code != 202:
                raise SystemExit(f"upload refused: {r.status_code} {r.text[:300]}")
            bid = r.json()["id"]
            timings["upload_s"] = time.monotonic() - t0
            status: dict[str, Any] = {}
            while True:
                status = c.get(f"/v1/batches/{bid}").json()
                if status["status"] in ("complete", "failed"):
                    break
                time.sleep(0.5)
            timings["upload_to_complete_s"] = time.monotonic() - t0
        cpu = [cpu_seconds(p.pid) - b for p, b in zip(service.procs, cpu_before, strict=True)]
        timings["api_cpu_s"] = cpu[0]
        timings["workers_cpu_s"] = sum(cpu[1:])
        timings["busiest_worker_cpu_s"] = max(cpu[1:])
        stop.set()
        checker.join(60)
    finally:
        stop.set()
        service.stop()
    with psycopg.connect(owner) as conn:
        from uuid import UUID

        per_row = repo.results_per_row(conn, UUID(bid))
    accepted = status["rows_total"] - status["rows_failed"]
    lat = sorted(latencies)
    report = {
        "load_average": os.getloadavg(),
        "list_size": args.list_size,
        "rows": args.rows,
        "workers": args.workers,
        "chunk_size": args.chunk_size,
        "status": status,
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "rows_per_second": round(args.rows / timings["upload_to_complete_s"], 1),
        "every_row_one_result": len(per_row) == accepted and set(per_row.values()) <= {1},
        "single_check_latency_ms": {
            "n": len(lat),
            "p50": round(1000 * statistics.median(lat), 1) if lat else None,
            "p95": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
            "max": round(1000 * lat[-1], 1) if lat else None,
        },
    }
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.bench_batch", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--list-size", type=int, default=1_000_000)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chunk-size", type=int, default=500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    p.add_argument("--ready-timeout", type=float, default=900.0)
    p.add_argument("--reuse", action="store_true", help="keep the list loaded by an earlier run")
    args = p.parse_args(argv)
    report = run(args)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_batch.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(json.dumps(report, indent=1, default=str))
    return 0 if report["every_row_one_result"] and report["status"]["status"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
