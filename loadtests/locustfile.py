"""Locust scenarios against the running service (FastHttpUser).

Run through ``python -m loadtests run`` (which seeds the database, starts the service and
writes the plan this file reads), or by hand::

    VBS_LOADTEST_PLAN=loadtests/out/plan.json locust -f loadtests/locustfile.py \\
        --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000 EmployerUser

The plan (written by :mod:`loadtests.seed`) names the API keys, caseworker accounts, the
identities file and the batch files. Every check request sends a distinct identity from
the identities file and verifies the outcome against the known truth:

- a known barred identity (a list entry, corrupted as applicants' data is) must come back
  ``barred`` or ``under_review``;
- a known clear identity must come back ``clear``;
- a near-miss (a twin, a namesake, a parent with the child's name...) must not come back
  ``barred``: ``clear`` or ``under_review`` are both right.

Anything else, or any other status than 201, counts as a locust failure. Failure messages
name the kind and the outcome, never names or dates of birth; the synthetic references of
wrong outcomes are kept in the ledger for investigation.

When the run ends, the ids of every check the service accepted (201) and the totals per
request name are written to ``ledger.json`` beside the plan, for the runner's database
verification (one check row and one audit event per accepted check).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import random
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import pyotp
from locust import FastHttpUser, between, constant_throughput, events, task
from locust.env import Environment

PLAN_ENV = "VBS_LOADTEST_PLAN"
RATE_ENV = "VBS_LOADTEST_USER_RATE"  # checks per second per employer user (0: no wait)
CHECK_PATH = "/v1/checks"

EXPECTED: dict[str, frozenset[str]] = {
    "barred": frozenset({"barred", "under_review"}),
    "clear": frozenset({"clear"}),
    "near": frozenset({"clear", "under_review"}),
}


# --- the plan and the shared pools (one locust process, gevent: no locking needed) ------


class Plan:
    """What the seeder prepared: keys, accounts, identities, batch files."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.path = path
        self.employer_keys: list[str] = data["employer_keys"]
        self.body_keys: list[str] = data["body_keys"]
        self.caseworkers: list[dict[str, str]] = data["caseworkers"]
        self.batch_files: deque[str] = deque(data["batch_files"])
        self.mix: dict[str, float] = data.get("mix", {"clear": 0.8, "near": 0.12, "barred": 0.08})
        self.pools: dict[str, deque[dict[str, Any]]] = {k: deque() for k in EXPECTED}
        ident_path = path.parent / data["identities"]
        with ident_path.open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                self.pools[row["kind"]].append(row)
        truth_path = path.parent / data["batch_truth"] if data.get("batch_truth") else None
        self.batch_truth: dict[str, str] = (
            json.loads(truth_path.read_text(encoding="utf-8")) if truth_path else {}
        )
        self._key_cycle = itertools.cycle(self.employer_keys)
        self._body_cycle = itertools.cycle(self.body_keys or [""])
        self._caseworkers: deque[dict[str, str]] = deque(self.caseworkers)

    def next_employer_key(self) -> str:
        return next(self._key_cycle)

    def next_body_key(self) -> str:
        return next(self._body_cycle)

    def take_caseworker(self) -> dict[str, str] | None:
        return self._caseworkers.popleft() if self._caseworkers else None

    def next_identity(self, rng: random.Random) -> dict[str, Any] | None:
        """A fresh identity, drawn by the mix; None when every pool is used up."""
        kinds = [k for k in self.mix if self.pools.get(k)]
        if not kinds:
            return None
        kind = rng.choices(kinds, weights=[self.mix[k] for k in kinds])[0]
        return self.pools[kind].popleft()


_plan: Plan | None = None
_plan_lock = threading.Lock()


def plan() -> Plan:
    global _plan
    with _plan_lock:
        if _plan is None:
            path = os.environ.get(PLAN_ENV)
            if not path:
                raise RuntimeError(f"{PLAN_ENV} is not set: run through `python -m loadtests run`")
            _plan = Plan(Path(path))
        return _plan


class Ledger:
    """What the service accepted, for the runner's database verification."""

    def __init__(self) -> None:
        self.check_ids: list[str] = []
        self.outcomes: dict[str, dict[str, int]] = {k: {} for k in EXPECTED}
        self.wrong: int = 0
        self.wrong_refs: list[str] = []
        self.batches: list[dict[str, Any]] = []
        self.decisions: dict[str, int] = {}
        self.spawned_at: float | None = None

    def outcome(self, kind: str, outcome: str) -> None:
        counts = self.outcomes[kind]
        counts[outcome] = counts.get(outcome, 0) + 1


LEDGER = Ledger()


def _stats_row(entry: Any, steady_from: float | None) -> dict[str, Any]:
    per_sec: dict[int, int] = dict(entry.num_reqs_per_sec)
    steady_rps = None
    if steady_from is not None and per_sec:
        # Whole seconds after spawning completed, leaving out the last (partial) second.
        secs = [s for s in per_sec if s >= int(steady_from) + 1]
        if len(secs) >= 3:
            secs.sort()
            window = secs[:-1]
            steady_rps = sum(per_sec[s] for s in window) / (window[-1] - window[0] + 1)
    return {
        "method": entry.method,
        "name": entry.name,
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "rps": entry.total_rps,
        "steady_rps": steady_rps,
        "p50_ms": entry.get_response_time_percentile(0.5) if entry.num_requests else None,
        "p95_ms": entry.get_response_time_percentile(0.95) if entry.num_requests else None,
        "p99_ms": entry.get_response_time_percentile(0.99) if entry.num_requests else None,
        "max_ms": entry.max_response_time if entry.num_requests else None,
        "avg_ms": entry.avg_response_time if entry.num_requests else None,
    }


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_: Any) -> None:
    if LEDGER.spawned_at is None:
        LEDGER.spawned_at = time.time()


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    path = os.environ.get(PLAN_ENV)
    if not path or environment.stats is None:
        return
    stats = environment.stats
    rows = [_stats_row(e, LEDGER.spawned_at) for e in stats.entries.values()]
    errors = [
        {"method": e.method, "name": e.name, "error": str(e.error), "count": e.occurrences}
        for e in stats.errors.values()
    ]
    out = {
        "check_ids": LEDGER.check_ids,
        "outcomes": LEDGER.outcomes,
        "wrong_outcomes": LEDGER.wrong,
        "wrong_refs": LEDGER.wrong_refs,
        "batches": LEDGER.batches,
        "decisions": LEDGER.decisions,
        "started_at": stats.start_time,
        "spawned_at": LEDGER.spawned_at,
        "last_request_at": stats.last_request_timestamp,
        "total": _stats_row(stats.total, LEDGER.spawned_at),
        "entries": rows,
        "errors": errors,
        "locust_cpu_seconds": round(os.times().user + os.times().system, 1),
    }
    ledger = Path(os.environ.get("VBS_LOADTEST_LEDGER") or Path(path).parent / "ledger.json")
    ledger.write_text(json.dumps(out, indent=1), encoding="utf-8")


def _problem(resp: Any) -> str:
    """A short reason for an unexpected status (problem+json title/detail, no body dump)."""
    try:
        body = resp.json()
    except Exception:
        return f"status {resp.status_code}"
    if isinstance(body, dict):
        return f"status {resp.status_code}: {body.get('title', '')} {body.get('detail', '')}"[:200]
    return f"status {resp.status_code}"


# --- employers: single checks ------------------------------------------------------------


def _user_rate() -> float:
    try:
        return float(os.environ.get(RATE_ENV, "2"))
    except ValueError:
        return 2.0


def _employer_wait(user: Any) -> float:
    rate = _user_rate()
    if rate <= 0:
        return 0.0
    return float(constant_throughput(rate)(user))


class EmployerUser(FastHttpUser):
    """An employer's system submitting single checks through the API with its key."""

    weight = 20
    wait_time = _employer_wait
    connection_timeout = 30.0
    network_timeout = 30.0

    def on_start(self) -> None:
        self.rng = random.Random(secrets.randbits(64))
        self.auth = {"Authorization": f"Bearer {plan().next_employer_key()}"}

    @task
    def single_check(self) -> None:
        ident = plan().next_identity(self.rng)
        if ident is None:
            self.environment.events.request.fire(
                request_type="POST",
                name=CHECK_PATH,
                response_time=0,
                response_length=0,
                exception=RuntimeError("identity pool used up: seed more identities"),
                context={},
            )
            self.stop()
            return
        kind: str = ident["kind"]
        with self.client.post(
            CHECK_PATH, json=ident["body"], headers=self.auth, catch_response=True
        ) as resp:
            if resp.status_code != 201:
                resp.failure(_problem(resp))
                return
            try:
                body = resp.json()
                check_id = str(body["id"])
                outcome = str(body["outcome"])
            except Exception:
                resp.failure("201 without id and outcome")
                return
            LEDGER.check_ids.append(check_id)
            LEDGER.outcome(kind, outcome)
            if outcome not in EXPECTED[kind]:
                LEDGER.wrong += 1
                if len(LEDGER.wrong_refs) < 1000:
                    LEDGER.wrong_refs.append(f"{ident['body']['reference']}: {outcome}")
                resp.failure(f"known {kind} identity came back {outcome}")
            elif body.get("reference") != ident["body"]["reference"]:
                resp.failure("reference not echoed")


# --- registered bodies: batch files ------------------------------------------------------


def _multipart(filename: str, content: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = f"vbs-{secrets.token_hex(12)}"
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
    )
    out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


BATCH_POLL_SECONDS = float(os.environ.get("VBS_LOADTEST_BATCH_POLL", "1.0"))
BATCH_TIMEOUT_SECONDS = float(os.environ.get("VBS_LOADTEST_BATCH_TIMEOUT", "600"))


class BatchUser(FastHttpUser):
    """A registered body uploading a batch file, polling it, and checking every result."""

    fixed_count = int(os.environ.get("VBS_LOADTEST_BATCH_USERS", "1"))
    wait_time = between(2, 5)
    connection_timeout = 60.0
    network_timeout = 120.0

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {plan().next_body_key()}"}

    @task
    def upload_and_follow(self) -> None:
        files = plan().batch_files
        if not files:
            self.stop()
            return
        path = plan().path.parent / files.popleft()
        content = path.read_bytes()
        body, ctype = _multipart(
            path.name, content, {"eligibility_confirmed": "true", "consent_confirmed": "true"}
        )
        started = time.monotonic()
        with self.client.post(
            "/v1/batches",
            data=body,
            headers={**self.auth, "Content-Type": ctype},
            name="/v1/batches",
            catch_response=True,
        ) as resp:
            if resp.status_code != 202:
                resp.failure(_problem(resp))
                return
            try:
                batch_id = str(resp.json()["id"])
            except Exception:
                resp.failure("202 without an id")
                return
        status = self._follow(batch_id)
        if status is None:
            return
        elapsed = time.monotonic() - started
        self._verify_results(batch_id, status, elapsed, path.name)

    def _follow(self, batch_id: str) -> dict[str, Any] | None:
        deadline = time.monotonic() + BATCH_TIMEOUT_SECONDS
        while True:
            with self.client.get(
                f"/v1/batches/{batch_id}",
                headers=self.auth,
                name="/v1/batches/[id]",
                catch_response=True,
            ) as resp:
                if resp.status_code != 200:
                    resp.failure(_problem(resp))
                    return None
                status = resp.json()
                if status.get("status") == "failed":
                    resp.failure("batch failed")
                    return None
                if status.get("status") == "complete":
                    return dict(status)
            if time.monotonic() > deadline:
                self.environment.events.request.fire(
                    request_type="BATCH",
                    name="batch complete",
                    response_time=BATCH_TIMEOUT_SECONDS * 1000,
                    response_length=0,
                    exception=TimeoutError(f"batch not complete after {BATCH_TIMEOUT_SECONDS}s"),
                    context={},
                )
                return None
            time.sleep(BATCH_POLL_SECONDS)

    def _verify_results(
        self, batch_id: str, status: dict[str, Any], elapsed: float, file_name: str
    ) -> None:
        truth = plan().batch_truth
        with self.client.get(
            f"/v1/batches/{batch_id}/results.csv",
            headers=self.auth,
            name="/v1/batches/[id]/results.csv",
            catch_response=True,
        ) as resp:
            if resp.status_code != 200:
                resp.failure(_problem(resp))
                return
            text = resp.content.decode("utf-8-sig") if resp.content else ""
            rows = list(csv.DictReader(io.StringIO(text)))
            wrong = 0
            for row in rows:
                kind = truth.get(row.get("reference", ""))
                if kind is not None and row.get("outcome") not in EXPECTED[kind]:
                    wrong += 1
            expected_rows = sum(1 for _ in truth if _.startswith(file_name.split(".")[0] + "-"))
            LEDGER.batches.append(
                {
                    "id": batch_id,
                    "file": file_name,
                    "rows": len(rows),
                    "seconds": round(elapsed, 3),
                    "wrong": wrong,
                    "outcomes": status.get("outcomes"),
                }
            )
            if wrong:
                resp.failure(f"{wrong} batch rows with a wrong outcome ({file_name})")
            elif expected_rows and len(rows) != expected_rows:
                resp.failure(f"{len(rows)} result rows, expected {expected_rows} ({file_name})")
        # The whole upload-to-verified-results time, as its own line in the stats.
        self.environment.events.request.fire(
            request_type="BATCH",
            name="upload to complete",
            response_time=elapsed * 1000,
            response_length=len(rows),
            exception=None,
            context={},
        )


# --- caseworkers: the review queue -------------------------------------------------------


class CaseworkerUser(FastHttpUser):
    """A caseworker signed in with password and TOTP, reading and deciding review items."""

    fixed_count = int(os.environ.get("VBS_LOADTEST_CASEWORKERS", "2"))
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.rng = random.Random(secrets.randbits(64))
        account = plan().take_caseworker()
        if account is None:
            raise RuntimeError("more caseworker users than seeded caseworker accounts")
        self.account = account
        self.headers: dict[str, str] = {}
        self._login()

    def _login(self) -> None:
        totp = pyotp.TOTP(self.account["totp_secret"])
        # A used code is refused a second time: wait for a fresh one if this account's
        # last code is still current (only on re-login).
        body = {
            "email": self.account["email"],
            "password": self.account["password"],
            "totp": totp.now(),
        }
        with self.client.post("/v1/auth/login", json=body, catch_response=True) as resp:
            if resp.status_code not in (200, 201, 204):
                resp.failure(_problem(resp))
                return
            token = None
            try:
                data = resp.json()
                token = data.get("csrf_token") if isinstance(data, dict) else None
            except Exception:
                token = None
            if token:
                self.headers["X-CSRF-Token"] = str(token)

    def _queue(self) -> list[dict[str, Any]]:
        with self.client.get(
            "/v1/reviews", headers=self.headers, name="/v1/reviews", catch_response=True
        ) as resp:
            if resp.status_code != 200:
                resp.failure(_problem(resp))
                return []
            data = resp.json()
            items = data.get("items", data) if isinstance(data, dict) else data
            if not isinstance(items, list):
                resp.failure("review queue is not a list")
                return []
            return [i for i in items if isinstance(i, dict)]

    @task(3)
    def read_queue(self) -> None:
        self._queue()

    @task(2)
    def decide_one(self) -> None:
        items = self._queue()
        if not items:
            return
        item = self.rng.choice(items[:20])
        review_id = str(item["id"])
        with self.client.get(
            f"/v1/reviews/{review_id}",
            headers=self.headers,
            name="/v1/reviews/[id]",
            catch_response=True,
        ) as resp:
            if resp.status_code == 404:
                resp.success()  # decided by another caseworker meanwhile
                return
            if resp.status_code != 200:
                resp.failure(_problem(resp))
                return
            detail = resp.json()
        reference = _find_reference(detail)
        # The synthetic references say what the truth is: LT...-B... barred, -N... near.
        decision = "match" if reference and "-B" in reference else "no_match"
        with self.client.post(
            f"/v1/reviews/{review_id}/decision",
            json={"decision": decision, "reason": "load test: synthetic truth"},
            headers=self.headers,
            name="/v1/reviews/[id]/decision",
            catch_response=True,
        ) as resp:
            if resp.status_code == 409:
                resp.success()  # another caseworker decided it first: exactly one decision
                LEDGER.decisions["conflict"] = LEDGER.decisions.get("conflict", 0) + 1
            elif resp.status_code not in (200, 201):
                resp.failure(_problem(resp))
            else:
                LEDGER.decisions[decision] = LEDGER.decisions.get(decision, 0) + 1


def _find_reference(detail: Any) -> str | None:
    if isinstance(detail, dict):
        ref = detail.get("reference")
        if isinstance(ref, str):
            return ref
        for value in detail.values():
            found = _find_reference(value)
            if found:
                return found
    return None
