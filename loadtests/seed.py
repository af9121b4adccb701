"""Seed a load-test database: the barred list by COPY, accounts and keys, and the identities.

    python -m loadtests.seed --database-url URL --list-size 1000000 --identities 50000 --out DIR

The synthetic population comes from :mod:`loadtests.synth` (its list, checks and truth
files, generated once per size and seed and cached under ``loadtests/out/cache/``); this
module only loads it:

1. **The list**: every ``list.csv`` row becomes a barred entry, all at one new list version
   (``vbs.repo.barred_list.next_version`` + ``copy_entries``: COPY of the entries and of
   one ``add`` change each), with one ``list.import`` audit event. Which list(s) an entry is
   on and its barred date are drawn from the seed (40% children's list only, 20% adults'
   only, 40% both).
2. **Accounts** through :mod:`vbs.services.accounts` (so passwords are argon2id hashes,
   keys SHA-256, and each creation audited): an authority with caseworkers (password and
   TOTP secret kept for the locust users), employers with API keys, registered bodies
   with API keys.
3. **Identities** for the scenarios, one JSON line each (``identities.jsonl``), never sent
   twice: the synthetic checks with their truth: ``true_match`` -> kind ``barred`` (its
   workforce covers the lists the entry is on), ``non_match`` -> ``clear``,
   ``hard_negative`` (twins, same-name parent and child, namesakes) -> ``near``.
   **Pre-screen**: unless disabled, each identity is also matched in process with the
   same engine the service uses, against the same list; an identity whose truth and the
   engine's band disagree (a miss or a false alarm of the matcher, which the matcher's own
   benchmark measures) is left out and counted in the plan, so that a wrong outcome in the
   load test means the *service* answered differently from its engine, not that the
   matcher is imperfect.
4. **Batch files** (``batch-NNNN.csv``, the documented batch format) from further
   identities, with their truth (``batch-truth.json``: reference -> kind).

Everything the locust users need is in ``plan.json`` beside these files (API keys and
passwords in clear: synthetic accounts of a throw-away database, under the git-ignored
``loadtests/out/``).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / "out" / "cache"

EMPLOYER_ORGS = 4
KEYS_PER_EMPLOYER = 2
BODY_ORGS = 2
LIST_SHARES = ((1, 0.4), (2, 0.2), (3, 0.4))  # children only, adults only, both
WORKFORCE_LISTS = {"children": 1, "adults": 2, "both": 3}
# The single-check mix: most applicants clear, some near-misses, some barred.
MIX = {"clear": 0.80, "near": 0.12, "barred": 0.08}
KIND_OF_TRUTH = {"true_match": "barred", "non_match": "clear", "hard_negative": "near"}
EXPECTED_BANDS = {
    "barred": frozenset({"match", "possible"}),
    "clear": frozenset({"no_match"}),
    "near": frozenset({"no_match", "possible"}),
}

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --- the synthetic population -----------------------------------------------------------


def synth_data(list_size: int, checks: int, seed: int, log: Log = _quiet) -> Path:
    """The synth files for this size and seed, generated once and cached."""
    from loadtests.synth import SYNTH_VERSION

    prefix = f"synth-v{SYNTH_VERSION}-{list_size}-"
    # Any cached generation of the same list with at least as many checks will do.
    for cached in sorted(CACHE.glob(f"{prefix}*-{seed}")) if CACHE.exists() else []:
        parts = cached.name[len(prefix) :].split("-")
        if (
            len(parts) == 2
            and parts[0].isdigit()
            and int(parts[0]) >= checks
            and (cached / ".complete").exists()
        ):
            log(f"synthetic data from cache {cached.relative_to(ROOT)}")
            return cached
    folder = CACHE / f"{prefix}{checks}-{seed}"
    done = folder / ".complete"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.synth",
            "--list-size",
            str(list_size),
            "--checks",
            str(checks),
            "--seed",
            str(seed),
            "--out",
            str(folder),
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    done.write_text(f"{time.monotonic() - t0:.1f}\n")
    log(f"synthetic data generated in {time.monotonic() - t0:.1f}s")
    return folder


@dataclass(slots=True)
class ListRow:
    list_id: str
    forenames: str
    surname: str
    date_of_birth: str
    previous_names: list[str]
    gender: str | None
    lists: int
    barred_on: date


def read_list(folder: Path, seed: int) -> Iterator[ListRow]:
    import numpy as np

    first_bar = date(2009, 10, 12)  # the scheme's start
    span = (date(2026, 11, 1) - first_bar).days
    days = [first_bar + timedelta(days=d) for d in range(span)]
    codes = np.array([lists for lists, _ in LIST_SHARES], dtype=np.int8)
    shares = np.array([share for _, share in LIST_SHARES])
    rng = np.random.default_rng(seed * 7919 + 1)
    block = 65_536
    genders = {"f": "female", "m": "male", "u": "unspecified"}
    genders.update({v: v for v in ("female", "male", "unspecified")})
    with (folder / "list.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        i_id, i_fore, i_sur, i_dob, i_prev = (
            header.index(c)
            for c in ("list_id", "forenames", "surname", "date_of_birth", "previous_names")
        )
        i_gender = header.index("gender") if "gender" in header else None
        lists_block = rng.choice(codes, size=block, p=shares).tolist()
        days_block = rng.integers(0, span, size=block).tolist()
        k = 0
        for row in reader:
            if k == block:
                lists_block = rng.choice(codes, size=block, p=shares).tolist()
                days_block = rng.integers(0, span, size=block).tolist()
                k = 0
            prev = row[i_prev]
            yield ListRow(
                list_id=row[i_id],
                forenames=row[i_fore],
                surname=row[i_sur],
                date_of_birth=row[i_dob].strip(),
                previous_names=[p for p in prev.split("|") if p.strip()] if prev else [],
                gender=genders.get(row[i_gender].strip().lower()) if i_gender is not None else None,
                lists=lists_block[k],
                barred_on=days[days_block[k]],
            )
            k += 1


# --- loading ----------------------------------------------------------------------------


def copy_list(
    owner_url: str, rows: Iterator[ListRow], settings: Any
) -> tuple[int, int, dict[str, int]]:
    """COPY every row at one new list version; return (version, entries, lists by list_id)."""
    import psycopg

    from vbs.audit import audit_log_from_settings
    from vbs.principal import SYSTEM
    from vbs.repo import barred_list as repo
    from vbs.services.barred_list import split_full_name

    lists_of: dict[str, int] = {}

    def entries() -> Iterator[repo.NewEntry]:
        for r in rows:
            lists_of[r.list_id] = r.lists
            yield repo.NewEntry(
                forenames=r.forenames,
                surname=r.surname,
                date_of_birth=r.date_of_birth or None,
                previous_names=tuple(split_full_name(p, r.forenames) for p in r.previous_names),
                gender=r.gender,
                lists=r.lists,
                barred_on=r.barred_on,
                case_reference=None,
                list_ref=r.list_id,
            )

    audit = audit_log_from_settings(settings)
    with psycopg.connect(owner_url) as conn:
        with conn.transaction():
            version = repo.next_version(conn)
            ids = repo.copy_entries(
                conn, entries(), version, by_user=None, by_role="system", reason="load test seed"
            )
            audit.record(
                conn,
                SYSTEM,
                "list.import",
                "list_version",
                str(version),
                {"version": version, "entries": len(ids), "with_duplicates": 0},
            )
        audit.checkpoint(conn)
    return version, len(ids), lists_of


@dataclass(slots=True)
class Accounts:
    employer_org_ids: list[str] = field(default_factory=list)
    employer_keys: list[str] = field(default_factory=list)
    body_org_ids: list[str] = field(default_factory=list)
    body_keys: list[str] = field(default_factory=list)
    caseworkers: list[dict[str, str]] = field(default_factory=list)


def create_accounts(owner_url: str, settings: Any, caseworkers: int, run_tag: str) -> Accounts:
    import psycopg

    from vbs.audit import audit_log_from_settings
    from vbs.services import accounts as svc

    audit = audit_log_from_settings(settings)
    out = Accounts()
    with psycopg.connect(owner_url) as conn:
        with conn.transaction():
            authority = svc.create_org(conn, audit, None, "Load test authority", "authority")
            for i in range(caseworkers):
                password = secrets.token_urlsafe(18)
                user = svc.create_user(
                    conn,
                    audit,
                    None,
                    authority.id,
                    f"caseworker{i + 1}.{run_tag}@loadtest.example",
                    "caseworker",
                    password,
                )
                assert user.totp_secret is not None
                out.caseworkers.append(
                    {"email": user.email, "password": password, "totp_secret": user.totp_secret}
                )
            for i in range(EMPLOYER_ORGS):
                org = svc.create_org(conn, audit, None, f"Load test employer {i + 1}", "employer")
                out.employer_org_ids.append(str(org.id))
                for _ in range(KEYS_PER_EMPLOYER):
                    out.employer_keys.append(
                        svc.create_api_key(conn, audit, None, org.id, "load test").key
                    )
            for i in range(BODY_ORGS):
                org = svc.create_org(
                    conn, audit, None, f"Load test registered body {i + 1}", "registered_body"
                )
                out.body_org_ids.append(str(org.id))
                out.body_keys.append(svc.create_api_key(conn, audit, None, org.id, "load test").key)
        audit.checkpoint(conn)
    return out


# --- identities -------------------------------------------------------------------------


@dataclass(slots=True)
class Applicant:
    reference: str
    kind: str  # barred | clear | near
    truth_detail: str  # corruption or hard-negative type
    list_id: str
    forenames: str
    surname: str
    date_of_birth: str
    previous_names: list[str]
    gender: str | None
    workforce: str

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reference": self.reference,
            "forenames": self.forenames,
            "surname": self.surname,
            "date_of_birth": self.date_of_birth,
            "previous_names": self.previous_names,
            "workforce": self.workforce,
            "eligibility_confirmed": True,
            "consent_confirmed": True,
        }
        if self.gender:
            out["gender"] = self.gender
        return out


def _workforce_for(kind: str, lists: int | None, rng: random.Random) -> str:
    if kind == "barred" and lists is not None:
        # The workforce must cover the list(s) the person is on, or `clear` is right.
        choices = [w for w, bits in WORKFORCE_LISTS.items() if bits & lists == lists]
        return rng.choice(choices)
    if kind == "near" and lists is not None:
        return "both"
    return rng.choices(["children", "adults", "both"], weights=[0.45, 0.25, 0.30])[0]


def read_applicants(
    folder: Path, lists_of: dict[str, int], seed: int, run_tag: str
) -> list[Applicant]:
    rng = random.Random(seed * 104729 + 3)
    truth: dict[str, dict[str, str]] = {}
    with (folder / "truth.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            truth[row["reference"]] = row
    out: list[Applicant] = []
    counters = {"barred": 0, "clear": 0, "near": 0}
    with (folder / "checks.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            t = truth.get(row["reference"])
            if t is None or t["kind"] not in KIND_OF_TRUTH:
                continue
            kind = KIND_OF_TRUTH[t["kind"]]
            list_id = t.get("list_id") or ""
            lists = lists_of.get(list_id) if list_id else None
            if kind == "barred" and lists is None:
                continue
            counters[kind] += 1
            ref = f"LT{run_tag}-{kind[0].upper()}{counters[kind]:07d}"
            gender = (row.get("gender") or "").strip().lower() or None
            out.append(
                Applicant(
                    reference=ref,
                    kind=kind,
                    truth_detail=t.get("corruption", ""),
                    list_id=list_id,
                    forenames=row["forenames"],
                    surname=row["surname"],
                    date_of_birth=row["date_of_birth"].strip(),
                    previous_names=[p for p in row["previous_names"].split("|") if p.strip()],
                    gender=gender if gender in ("female", "male", "unspecified") else None,
                    workforce=_workforce_for(kind, lists, rng),
                )
            )
    rng.shuffle(out)
    return out


def prescreen(
    owner_url: str, settings: Any, applicants: list[Applicant], log: Log
) -> tuple[list[Applicant], dict[str, Any]]:
    """Keep the applicants whose truth and the service's own matcher agree.

    The matcher is the service's :class:`~vbs.services.matcher_holder.MatcherHolder`,
    loaded from the seeded database with the service's thresholds and the same conversion
    of a check body to an identity, so it is the engine the service will ask.
    """
    from datetime import date as _date

    import psycopg

    from vbs.services.matcher_holder import MatcherHolder, lists_for_workforce, request_identity

    t0 = time.monotonic()
    holder = MatcherHolder.from_settings(settings)
    kept: list[Applicant] = []
    dropped: dict[str, dict[str, int]] = {}
    with psycopg.connect(owner_url) as conn:
        holder.load(conn)
        build_s = time.monotonic() - t0
        step = 2_000
        for start in range(0, len(applicants), step):
            part = applicants[start : start + step]
            identities = [
                request_identity(
                    a.forenames,
                    a.surname,
                    _date.fromisoformat(a.date_of_birth),
                    a.previous_names,
                    a.gender,
                )
                for a in part
            ]
            lists = [lists_for_workforce(a.workforce) for a in part]
            results, _ = holder.match_many(conn, identities, lists)
            for a, result in zip(part, results, strict=True):
                if result.band in EXPECTED_BANDS[a.kind]:
                    kept.append(a)
                else:
                    key = f"{a.kind}->{result.band}"
                    d = dropped.setdefault(key, {})
                    d[a.truth_detail or "-"] = d.get(a.truth_detail or "-", 0) + 1
    stats = {
        "index_build_s": round(build_s, 1),
        "seconds": round(time.monotonic() - t0, 1),
        "screened": len(applicants),
        "kept": len(kept),
        "dropped": dropped,
    }
    log(f"pre-screen: kept {len(kept)} of {len(applicants)} in {stats['seconds']}s")
    return kept, stats


def write_batch_files(
    out_dir: Path, applicants: list[Applicant], files: int, rows: int
) -> tuple[list[str], dict[str, str]]:
    names: list[str] = []
    truth: dict[str, str] = {}
    cols = [
        "reference",
        "forenames",
        "surname",
        "date_of_birth",
        "previous_names",
        "gender",
        "workforce",
    ]
    it = iter(applicants)
    for n in range(files):
        name = f"batch-{n + 1:04d}.csv"
        chunk = [a for _, a in zip(range(rows), it, strict=False)]
        if not chunk:
            break
        with (out_dir / name).open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for a in chunk:
                # Batch references carry the file's name, so results can be counted per file.
                ref = f"batch-{n + 1:04d}-{a.reference}"
                truth[ref] = a.kind
                w.writerow(
                    [
                        ref,
                        a.forenames,
                        a.surname,
                        a.date_of_birth,
                        "|".join(a.previous_names),
                        a.gender or "",
                        a.workforce,
                    ]
                )
        names.append(name)
    return names, truth


def _matcher_identity(settings: Any) -> dict[str, Any]:
    from matching.model import MATCHER_VERSION

    return {
        "version": MATCHER_VERSION,
        "match_threshold": settings.match_threshold,
        "possible_threshold": settings.possible_threshold,
    }


def seed(
    owner_url: str,
    out_dir: Path,
    *,
    list_size: int,
    identities: int,
    caseworkers: int = 2,
    batch_files: int = 0,
    batch_rows: int = 500,
    seed: int = 7,
    audit_key: str | None = None,
    data_dir: Path | None = None,
    screen: bool = True,
    log: Log = _quiet,
) -> Path:
    """Seed the (migrated, empty) database at ``owner_url``; return the plan's path."""
    import psycopg

    from vbs.config import Settings
    from vbs.repo import loadtest as lrepo

    out_dir.mkdir(parents=True, exist_ok=True)
    run_tag = secrets.token_hex(3)
    settings = Settings(
        database_url=owner_url,
        data_dir=data_dir or out_dir / "data",
        audit_key=audit_key,
    )
    timings: dict[str, float] = {}
    needed = identities + batch_files * batch_rows
    # The synthetic checks are 10% true matches and 5% hard negatives; ask for enough
    # that each kind's share of the mix (near-misses 12%) is there, after the pre-screen.
    checks = max(2_000, int(needed * 3.0))
    t0 = time.monotonic()
    folder = synth_data(list_size, checks, seed, log)
    timings["synth_s"] = round(time.monotonic() - t0, 1)

    t0 = time.monotonic()
    version, entries, lists_of = copy_list(owner_url, read_list(folder, seed), settings)
    timings["copy_list_s"] = round(time.monotonic() - t0, 1)
    log(f"list: {entries} entries at version {version} in {timings['copy_list_s']}s (COPY)")

    t0 = time.monotonic()
    accounts = create_accounts(owner_url, settings, caseworkers, run_tag)
    timings["accounts_s"] = round(time.monotonic() - t0, 1)

    t0 = time.monotonic()
    applicants = read_applicants(folder, lists_of, seed, run_tag)
    batch_total = batch_files * batch_rows
    want_single = {k: round(identities * share) for k, share in MIX.items()}
    want_batch = {k: round(batch_total * share) for k, share in MIX.items()}
    # Screen only what the run needs, with a margin for the identities the screen drops.
    by_kind = {k: [a for a in applicants if a.kind == k] for k in MIX}
    screened = [
        a for k in MIX for a in by_kind[k][: int((want_single[k] + want_batch[k]) * 1.15) + 50]
    ]
    screen_stats: dict[str, Any] | None = None
    if screen:
        screened, screen_stats = prescreen(owner_url, settings, screened, log)
    timings["identities_s"] = round(time.monotonic() - t0, 1)
    singles: list[Applicant] = []
    rest: list[Applicant] = []
    for kind in MIX:
        of_kind = [a for a in screened if a.kind == kind]
        singles.extend(of_kind[: want_single[kind]])
        rest.extend(of_kind[want_single[kind] : want_single[kind] + want_batch[kind]])
    random.Random(seed).shuffle(singles)
    random.Random(seed + 1).shuffle(rest)
    with (out_dir / "identities.jsonl").open("w", encoding="utf-8") as fh:
        for a in singles:
            fh.write(json.dumps({"kind": a.kind, "body": a.body()}) + "\n")
    batch_names, batch_truth = write_batch_files(out_dir, rest, batch_files, batch_rows)
    (out_dir / "batch-truth.json").write_text(json.dumps(batch_truth), encoding="utf-8")

    with psycopg.connect(owner_url) as conn:
        audit_seq = lrepo.last_audit_seq(conn)
    kinds = {k: sum(1 for a in singles if a.kind == k) for k in ("barred", "clear", "near")}
    plan = {
        "run_tag": run_tag,
        "list_size": entries,
        "list_version": version,
        "employer_org_ids": accounts.employer_org_ids,
        "employer_keys": accounts.employer_keys,
        "body_org_ids": accounts.body_org_ids,
        "body_keys": accounts.body_keys,
        "caseworkers": accounts.caseworkers,
        "identities": "identities.jsonl",
        "identity_kinds": kinds,
        "mix": MIX,
        "batch_files": batch_names,
        "batch_truth": "batch-truth.json",
        "prescreen": screen_stats,
        "matcher": _matcher_identity(settings),
        "audit_seq_before": audit_seq,
        "timings": timings,
    }
    path = out_dir / "plan.json"
    path.write_text(json.dumps(plan, indent=1), encoding="utf-8")
    log(f"identities: {json.dumps(kinds)}; batch files: {len(batch_names)}")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtests.seed")
    p.add_argument("--database-url", required=True, help="owner URL of a migrated database")
    p.add_argument("--list-size", type=int, default=10_000)
    p.add_argument("--identities", type=int, default=5_000)
    p.add_argument("--caseworkers", type=int, default=2)
    p.add_argument("--batch-files", type=int, default=0)
    p.add_argument("--batch-rows", type=int, default=500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-prescreen", dest="screen", action="store_false")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    path = seed(
        args.database_url,
        args.out,
        list_size=args.list_size,
        identities=args.identities,
        caseworkers=args.caseworkers,
        batch_files=args.batch_files,
        batch_rows=args.batch_rows,
        seed=args.seed,
        screen=args.screen,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
