"""The matching core under load, apart from HTTP: a locust User driving the engine in process.

    python -m locust -f loadtests/engine_user.py --headless -u 1 -r 1 -t 30s \\
        --csv loadtests/out/engine --html loadtests/out/engine.html

Settings (environment): ``VBS_ENGINE_LIST_SIZE`` (default 100000), ``VBS_ENGINE_CHECKS``
(identities to cycle through, default 20000), ``VBS_ENGINE_SEED`` (7),
``VBS_ENGINE_BATCH`` (identities per ``match_many`` call, default 100).

The list and the checks come from :mod:`loadtests.synth` (cached by
:func:`loadtests.seed.synth_data`). The index is built once per locust process, before
the users start. :class:`EngineClient` wraps the engine and fires locust's ``request``
event for every call (request type ``ENGINE``; names ``match`` and ``match_many[N]``), so
latency percentiles and throughput land in locust's statistics, CSV and HTML like HTTP
requests. A call fails when the engine raises, or when a known true match in it comes back
``no_match`` (the pre-screen is not applied here: a miss is the matcher's, and it is
counted, not hidden): for ``match`` the failure ratio is the share of checks that were
missed true matches; a ``match_many`` call fails if any of its checks was.

Locust runs users as gevent greenlets in one process, so the engine's CPU-bound calls
take turns: use one or two users, and read throughput from ``match_many``.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from locust import User, constant, events, task
from locust.env import Environment

_state: dict[str, Any] = {}


def _previous(raw: Any) -> tuple[Any, ...]:
    from matching.identity import Name

    if isinstance(raw, str):
        raw = raw.split("|")
    return tuple(Name.parse_full(p) for p in raw or [] if str(p).strip())


def _gender(value: Any) -> str | None:
    g = str(value or "").strip().lower()
    return {"f": "female", "m": "male", "female": "female", "male": "male"}.get(g)


def applicant_identity(body: dict[str, Any]) -> Any:
    """The matcher's Identity for a check (the API's fields, or a checks.csv row)."""
    from matching.identity import Identity, PartialDate

    return Identity(
        forenames=body["forenames"],
        surname=body["surname"],
        date_of_birth=PartialDate.parse(body.get("date_of_birth") or ""),
        previous_names=_previous(body.get("previous_names")),
        gender=_gender(body.get("gender")),
    )


def build_engine(list_csv: Path) -> tuple[Any, float]:
    """An Engine over the synth list file (keys: list_id); return (engine, build seconds)."""
    from matching.engine import Engine
    from matching.identity import Identity, PartialDate
    from matching.index import ALL_LISTS, ListIndex

    def items() -> Any:
        with list_csv.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                ident = Identity(
                    forenames=row["forenames"],
                    surname=row["surname"],
                    date_of_birth=PartialDate.parse(row["date_of_birth"]),
                    previous_names=_previous(row["previous_names"]),
                    gender=_gender(row.get("gender")),
                )
                yield row["list_id"], ident, ALL_LISTS

    t0 = time.perf_counter()
    index = ListIndex()
    index.add_many(items())
    index.version = 1
    return Engine(index), time.perf_counter() - t0


class EngineClient:
    """Calls the engine and reports each call to locust as a request."""

    def __init__(self, environment: Environment, engine: Any) -> None:
        self.environment = environment
        self.engine = engine

    def match(self, identity: Any, expect_hit: bool) -> Any:
        with self.environment.events.request.measure("ENGINE", "match") as meta:
            result = self.engine.match(identity)
            meta["response_length"] = len(result.candidates)
            if expect_hit and result.band == "no_match":
                raise AssertionError("known true match came back no_match")
        return result

    def match_many(self, identities: Sequence[Any], truths: Sequence[bool]) -> list[Any]:
        name = f"match_many[{len(identities)}]"
        with self.environment.events.request.measure("ENGINE", name) as meta:
            results = list(self.engine.match_many(identities))
            meta["response_length"] = len(results)
            missed = sum(
                1 for r, hit in zip(results, truths, strict=True) if hit and r.band == "no_match"
            )
            if missed:
                raise AssertionError(f"{missed} known true match(es) came back no_match")
        return results


@events.init.add_listener
def _build(environment: Environment, **_: Any) -> None:
    """Build the index once per process, before any user starts."""
    from loadtests.seed import synth_data

    size = int(os.environ.get("VBS_ENGINE_LIST_SIZE", "100000"))
    checks = int(os.environ.get("VBS_ENGINE_CHECKS", "20000"))
    seed = int(os.environ.get("VBS_ENGINE_SEED", "7"))
    folder = synth_data(size, checks, seed, log=print)
    engine, seconds = build_engine(folder / "list.csv")
    print(f"engine index: {size} entries built in {seconds:.1f}s")
    truth: dict[str, bool] = {}
    with (folder / "truth.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            truth[row["reference"]] = row["kind"] == "true_match"
    idents: list[tuple[Any, bool]] = []
    with (folder / "checks.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            idents.append((applicant_identity(row), truth.get(row["reference"], False)))
            if len(idents) >= checks:
                break
    _state.update(engine=engine, identities=idents, next=0, build_seconds=seconds)


def _take(n: int) -> list[tuple[Any, bool]]:
    idents: list[tuple[Any, bool]] = _state["identities"]
    start = _state["next"]
    out = [idents[(start + i) % len(idents)] for i in range(n)]
    _state["next"] = (start + n) % len(idents)
    return out


class EngineUser(User):
    """One caller of the in-process engine: single matches and batches of matches."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.client = EngineClient(self.environment, _state["engine"])
        self.batch = int(os.environ.get("VBS_ENGINE_BATCH", "100"))

    @task(10)
    def match_one(self) -> None:
        ident, hit = _take(1)[0]
        self.client.match(ident, hit)

    @task(1)
    def match_many(self) -> None:
        pairs = _take(self.batch)
        self.client.match_many([p[0] for p in pairs], [p[1] for p in pairs])
