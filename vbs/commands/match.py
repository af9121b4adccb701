"""`vbs match LIST.csv CHECKS.csv -o OUT.csv`: the matching core on files.

Formats are in docs/file-formats.md. Malformed rows are reported on stderr with their line
numbers (never their content: names and dates stay out of messages) and do not stop the
run; a malformed check still gets an OUT.csv row, with band ``incomplete``.
"""

from __future__ import annotations

import argparse
import csv
import gc
import itertools
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from matching.identity import Identity, Name, PartialDate, parse_gender

if TYPE_CHECKING:
    from matching.engine import Engine

LIST_COLUMNS = ("list_id", "forenames", "surname", "date_of_birth", "previous_names")
CHECK_COLUMNS = ("reference", "forenames", "surname", "date_of_birth", "previous_names")
OUT_COLUMNS = ("reference", "band", "score", "list_id", "explanation")
MAX_FIELD = 1000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "match",
        help="match a file of checks against a barred list file (CSV in, CSV out)",
        description="Match every row of CHECKS.csv against LIST.csv; write the best "
        "candidate per check to OUT.csv. Formats: docs/file-formats.md.",
    )
    p.add_argument("list_csv", type=Path, metavar="LIST.csv")
    p.add_argument("checks_csv", type=Path, metavar="CHECKS.csv")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.csv")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes matching in parallel, forked after the index is built (default: cores)",
    )
    p.add_argument("--chunk", type=int, default=2000, help="checks per work unit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(handler=cmd_match)


class InputError(Exception):
    """A file that cannot be read at all (missing, bad header, not UTF-8)."""


@dataclass(slots=True)
class RowError:
    line: int
    message: str


def _open_csv(path: Path, required: Sequence[str]) -> tuple[TextIO, Any, dict[str, int]]:
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path.name}: cannot open ({exc.strerror})") from exc
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        fh.close()
        raise InputError(f"{path.name}: empty file, expected a header line") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        fh.close()
        raise InputError(f"{path.name}: line 1: cannot read the header ({exc})") from None
    cols = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [c for c in required if c not in cols]
    if missing:
        fh.close()
        raise InputError(f"{path.name}: header is missing column(s): {', '.join(missing)}")
    return fh, reader, cols


def _rows(
    path: Path, required: Sequence[str], errors: list[RowError]
) -> Iterator[tuple[int, list[str], dict[str, int]]]:
    """(line number, fields, column map) of each data row; unreadable lines go to errors."""
    fh, reader, cols = _open_csv(path, required)
    with fh:
        line = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                errors.append(RowError(line + 1, "not valid UTF-8; the rest of the file skipped"))
                return
            except csv.Error as exc:
                errors.append(RowError(reader.line_num, f"malformed CSV ({exc})"))
                line = reader.line_num
                continue
            line = reader.line_num
            if not row or all(not f.strip() for f in row):
                continue
            yield line, row, cols


_parse_date = lru_cache(maxsize=100_000)(PartialDate.parse)


def _identity_reader(cols: dict[str, int], with_gender: bool) -> Callable[[list[str]], Identity]:
    """A function building an identity from a row; its ValueError names the field at fault."""
    i_fn, i_sn = cols.get("forenames", -1), cols["surname"]
    i_dob, i_prev = cols.get("date_of_birth", -1), cols.get("previous_names", -1)
    i_gender = cols.get("gender", -1) if with_gender else -1

    def field(row: list[str], i: int, name: str) -> str:
        if i < 0 or i >= len(row):
            return ""
        v = row[i]
        if len(v) > MAX_FIELD:
            raise ValueError(f"{name}: longer than {MAX_FIELD} characters")
        return v.strip()

    need = max(i_fn, i_sn, i_dob, i_prev, i_gender) + 1
    genders = {"": None, "f": "female", "m": "male", "F": "female", "M": "male"}

    def build(row: list[str]) -> Identity:
        # Fast path for the usual row: every column there, nothing over-long, simple values.
        if len(row) >= need and sum(map(len, row)) <= MAX_FIELD:
            surname = row[i_sn].strip()
            forenames = row[i_fn].strip() if i_fn >= 0 else ""
            prev_text = row[i_prev].strip() if i_prev >= 0 else ""
            g = row[i_gender].strip() if i_gender >= 0 else ""
            if surname and not prev_text and g in genders:
                dob = _parse_date(row[i_dob].strip()) if i_dob >= 0 else None
                return Identity(forenames, surname, dob, (), genders[g])
        surname = field(row, i_sn, "surname")
        forenames = field(row, i_fn, "forenames")
        if not surname:
            if not forenames:
                raise ValueError("surname: required (forenames and surname both empty)")
            # A single name (mononym) given as forenames: compared as the surname.
            surname, forenames = forenames, ""
        dob = _parse_date(field(row, i_dob, "date_of_birth"))
        prev_text = field(row, i_prev, "previous_names")
        prev: tuple[Name, ...] = ()
        if prev_text:
            names = []
            for k, part in enumerate(prev_text.split("|"), start=1):
                if part.strip():
                    n = Name.parse_full(part)
                    if not n.surname:
                        raise ValueError(f"previous_names: name {k} has no surname")
                    names.append(n)
            prev = tuple(names)
        gender = parse_gender(field(row, i_gender, "gender")) if i_gender >= 0 else None
        return Identity(forenames, surname, dob, prev, gender)

    return build


def read_list(path: Path, errors: list[RowError]) -> Iterator[tuple[str, Identity, int]]:
    from matching.index import ALL_LISTS

    seen: set[str] = set()
    build: Callable[[list[str]], Identity] | None = None
    for line, row, cols in _rows(path, LIST_COLUMNS, errors):
        if build is None:
            build = _identity_reader(cols, with_gender=True)
        key = row[cols["list_id"]].strip() if cols["list_id"] < len(row) else ""
        if not key:
            errors.append(RowError(line, "list_id: required"))
            continue
        if key in seen:
            errors.append(RowError(line, "list_id: duplicate of an earlier row; row skipped"))
            continue
        try:
            ident = build(row)
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        seen.add(key)
        yield key, ident, ALL_LISTS


@dataclass(slots=True)
class CheckRow:
    reference: str
    identity: Identity | None
    error: str | None


def read_checks(path: Path, errors: list[RowError]) -> list[CheckRow]:
    out: list[CheckRow] = []
    build: Callable[[list[str]], Identity] | None = None
    for line, row, cols in _rows(path, CHECK_COLUMNS, errors):
        if build is None:
            build = _identity_reader(cols, with_gender=False)
        ref = row[cols["reference"]].strip() if cols["reference"] < len(row) else ""
        try:
            if not ref:
                raise ValueError("reference: required")
            if len(ref) > 200:
                raise ValueError("reference: longer than 200 characters")
            out.append(CheckRow(ref, build(row), None))
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            out.append(CheckRow(ref, None, f"line {line}: {exc}"))
    return out


# ---- matching in forked workers ----------------------------------------------------------

_ENGINE: Engine | None = None
_CHECKS: list[CheckRow] = []


def _match_slice(lo: int, hi: int) -> list[tuple[str, str, str, str, str]]:
    from matching.model import MATCHER_VERSION

    assert _ENGINE is not None
    rows = _CHECKS[lo:hi]
    good = [r for r in rows if r.identity is not None]
    results = iter(_ENGINE.match_many([r.identity for r in good if r.identity is not None]))
    out: list[tuple[str, str, str, str, str]] = []
    for r in rows:
        if r.identity is None:
            err_expl: dict[str, object] = {"matcher_version": MATCHER_VERSION, "error": r.error}
            out.append((r.reference, "incomplete", "", "", json.dumps(err_expl)))
            continue
        res = next(results)
        best = res.best
        if best is None:
            expl: dict[str, object] = {
                "matcher_version": MATCHER_VERSION,
                "band": "no_match",
                "fields": [],
            }
            out.append((r.reference, "no_match", "0", "", json.dumps(expl)))
        else:
            e = best.explanation()
            e["other_candidates"] = len(res.candidates) - 1
            out.append((r.reference, best.band, f"{best.probability:.6f}", best.key, json.dumps(e)))
    return out


class _Timed:
    """An iterator that adds up the time spent producing its items."""

    def __init__(self, it: Iterator[tuple[str, Identity, int]]) -> None:
        self._it = it
        self.seconds = 0.0

    def __iter__(self) -> _Timed:
        return self

    def __next__(self) -> tuple[str, Identity, int]:
        t = time.perf_counter()
        try:
            return next(self._it)
        finally:
            self.seconds += time.perf_counter() - t


def _slices(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _star(args: tuple[int, int]) -> list[tuple[str, str, str, str, str]]:
    return _match_slice(*args)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def cmd_match(args: argparse.Namespace) -> int:
    global _ENGINE, _CHECKS
    from tqdm import tqdm

    from matching import normalize
    from matching.engine import Engine, Thresholds
    from matching.index import ListIndex
    from vbs.config import get_settings

    settings = get_settings()
    thresholds = Thresholds(match=settings.match_threshold, possible=settings.possible_threshold)
    err = sys.stderr
    phases: dict[str, float] = {}
    list_errors: list[RowError] = []
    check_errors: list[RowError] = []
    try:
        t0 = time.perf_counter()
        index = ListIndex()
        # Reading and indexing stream together, in slices (no list of every row in memory);
        # the time spent producing rows is counted as reading.
        rows = _Timed(read_list(args.list_csv, list_errors))
        while True:
            batch = list(itertools.islice(rows, 100_000))
            if not batch:
                break
            index.add_many(batch)
            del batch  # before the next slice is read: one slice of rows in memory
        index.compact()
        normalize.clear_caches()
        phases["read"] = rows.seconds
        phases["index"] = time.perf_counter() - t0 - rows.seconds
        t1 = time.perf_counter()
        checks = read_checks(args.checks_csv, check_errors)
        phases["read"] += time.perf_counter() - t1
    except InputError as exc:
        print(f"vbs match: {exc}", file=err)
        return 2
    for name, errs in ((args.list_csv.name, list_errors), (args.checks_csv.name, check_errors)):
        for e in errs[:200]:
            print(f"{name}: line {e.line}: {e.message}", file=err)
        if len(errs) > 200:
            print(f"{name}: ... {len(errs) - 200} more malformed row(s)", file=err)

    _ENGINE = Engine(index, thresholds)
    _CHECKS = checks
    # The index and the checks live until the end: freezing them keeps the garbage
    # collector from walking them again and again, and (in forked workers) from touching,
    # and so copying, the pages they share with this process.
    gc.collect()
    gc.freeze()
    t1 = time.perf_counter()
    cpu0 = _cpu_seconds()
    slices = _slices(len(checks), max(1, args.chunk))
    bar = tqdm(total=len(checks), unit="check", file=err, disable=args.no_progress, desc="matching")
    results: list[tuple[str, str, str, str, str]] = []
    workers = max(1, min(args.workers, len(slices)))
    if workers == 1:
        for s in slices:
            results.extend(_match_slice(*s))
            bar.update(s[1] - s[0])
    else:
        ctx = mp.get_context("fork")
        with ctx.Pool(workers) as pool:
            for s, part in zip(slices, pool.imap(_star, slices), strict=True):
                results.extend(part)
                bar.update(s[1] - s[0])
    bar.close()
    phases["match"] = time.perf_counter() - t1
    match_cpu = _cpu_seconds() - cpu0

    t1 = time.perf_counter()
    try:
        with args.output.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(OUT_COLUMNS)
            w.writerows(results)
    except OSError as exc:
        print(f"vbs match: {args.output.name}: cannot write ({exc.strerror})", file=err)
        return 2
    phases["write"] = time.perf_counter() - t1
    total = time.perf_counter() - t0

    bands = Counter(r[1] for r in results)
    own, kids = _peak_rss_mb()
    rate = len(checks) / phases["match"] if phases["match"] > 0 else 0.0
    print(
        f"checks: {len(checks)} against {len(index)} list entries "
        f"({len(list_errors)} list row(s) and {len(check_errors)} check row(s) malformed)\n"
        f"bands: match {bands['match']}, possible {bands['possible']}, "
        f"no_match {bands['no_match']}, incomplete {bands['incomplete']}\n"
        f"seconds: {total:.1f} total; read {phases['read']:.1f}, index {phases['index']:.1f}, "
        f"match {phases['match']:.1f}, write {phases['write']:.1f}\n"
        f"checks/s (match phase): {rate:,.0f} with {workers} worker(s); "
        f"{match_cpu:.1f} CPU seconds ({len(checks) / max(match_cpu, 1e-9):,.0f} checks per "
        "CPU second)\n"
        f"peak RSS: main {own:.0f} MB, largest worker {kids:.0f} MB",
        file=err,
    )
    return 0
