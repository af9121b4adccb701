"""The process's matcher: one in-memory list index that follows the committed list version.

One :class:`MatcherHolder` per process (the API app, a batch worker). It builds the
:class:`~matching.index.ListIndex` from ``load_active`` once; before every match it reads
the current list version (one cheap query) and, if it moved, applies ``changes_since`` to
the index (adds and removes), never rebuilding it. So a check that starts after a bar is
committed, by any process, sees it; a removal likewise.

Thread-safe, and matching is not serialised: any number of threads match at once under a
readers-writer lock, and only applying list changes takes it exclusively (briefly: the
changes are read from the database before). The index is settled whenever it changes (a
grown delta merged, the delta's sort order built), so a lookup never changes it. The
database work (the committed version, the changes) and the matching are separate calls
(:meth:`MatcherHolder.prepare`, :meth:`MatcherHolder.match_now`), so a caller can match
while holding no transaction: the matching itself needs no connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

import numpy as np
import psycopg

from matching.engine import Candidate, Engine, MatchResult
from matching.identity import Identity, Name, PartialDate
from matching.index import ALL_LISTS, LIST_ADULTS, LIST_CHILDREN, ListIndex
from matching.model import Thresholds
from vbs.config import Settings
from vbs.repo import barred_list as list_repo
from vbs.repo.barred_list import BarredEntry
from vbs.repo.checks import NewCandidate

if TYPE_CHECKING:
    from vbs.repo.barred_list import NewEntry
    from vbs.services.barred_list import DuplicateCandidate
    from vbs.services.checks import CheckRequest

log = logging.getLogger(__name__)

# The database's list bitmask (1 children, 2 adults) to the index's list flags.
_DB_CHILDREN = 1
_DB_ADULTS = 2


def index_lists(mask: int) -> int:
    lists = 0
    if mask & _DB_CHILDREN:
        lists |= LIST_CHILDREN
    if mask & _DB_ADULTS:
        lists |= LIST_ADULTS
    return lists


def lists_for_workforce(workforce: str) -> int:
    """Only the lists the workforce covers are searched."""
    if workforce == "children":
        return LIST_CHILDREN
    if workforce == "adults":
        return LIST_ADULTS
    if workforce == "both":
        return ALL_LISTS
    raise ValueError("workforce: must be one of children, adults, both")


def _gender(value: str | None) -> str | None:
    return value if value in ("female", "male") else None


def entry_identity(entry: BarredEntry | NewEntry) -> Identity:
    """The matcher's view of a list entry (partial dates of birth allowed)."""
    return Identity(
        forenames=entry.forenames or "",
        surname=entry.surname or "",
        date_of_birth=PartialDate.parse(entry.date_of_birth) if entry.date_of_birth else None,
        previous_names=tuple(Name(p.forenames, p.surname) for p in entry.previous_names),
        gender=_gender(entry.gender),
    )


def request_identity(
    forenames: str,
    surname: str,
    date_of_birth: date,
    previous_names: Sequence[str] = (),
    gender: str | None = None,
) -> Identity:
    """The matcher's view of a checked identity (a full date of birth)."""
    return Identity(
        forenames=forenames,
        surname=surname,
        date_of_birth=PartialDate(date_of_birth.year, date_of_birth.month, date_of_birth.day),
        previous_names=tuple(Name.parse_full(n) for n in previous_names),
        gender=_gender(gender),
    )


def match_grouped(
    engine: Engine, identities: Sequence[Identity], lists: Sequence[int] | int
) -> list[MatchResult]:
    """``engine.match_many`` with a list selection per identity (grouped by selection)."""
    if isinstance(lists, int):
        return engine.match_many(identities, lists)
    out: list[MatchResult | None] = [None] * len(identities)
    groups: dict[int, list[int]] = {}
    for i, sel in enumerate(lists):
        groups.setdefault(sel, []).append(i)
    for sel, positions in groups.items():
        results = engine.match_many([identities[i] for i in positions], sel)
        for i, r in zip(positions, results, strict=True):
            out[i] = r
    return [r for r in out if r is not None]


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """A match result ready to store: band, explained candidates and the versions."""

    band: str
    candidates: list[NewCandidate]
    list_version: int
    matcher_version: str


def to_outcome(result: MatchResult, list_version: int) -> MatchOutcome:
    return MatchOutcome(
        band=str(result.band),
        candidates=[_candidate(i + 1, c) for i, c in enumerate(result.candidates)],
        list_version=list_version,
        matcher_version=str(result.matcher_version),
    )


def _candidate(rank: int, c: Candidate) -> NewCandidate:
    return NewCandidate(
        rank=rank,
        entry_id=UUID(str(c.key)),
        probability=float(c.probability),
        band=str(c.band),
        explanation=c.explanation(),
    )


class ReadWriteLock:
    """Many readers at once, or one writer; a waiting writer holds back new readers (so a
    refresh is not starved by a stream of checks). Not re-entrant: a reader must not ask
    again, nor for the write lock."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def settle(index: ListIndex) -> None:
    """Do now what the index would otherwise do lazily at a lookup (merge a grown delta,
    sort the delta), so that lookups only read it. Call under the write lock."""
    empty = np.zeros(0, dtype=np.int64)
    index.lookup(empty, empty)


class MatcherHolder:
    """One per process; see the module docstring."""

    def __init__(self, thresholds: Thresholds) -> None:
        self._thresholds = thresholds
        self._update = threading.Lock()  # one build or refresh at a time
        self._rw = ReadWriteLock()  # matching reads the index; applying changes writes it
        self._index: ListIndex | None = None
        self._engine: Engine | None = None
        self._version: int | None = None
        self.rebuilds = 0  # how many times the index was built (1 in a healthy process)
        self.changes_applied = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> MatcherHolder:
        return cls(Thresholds(match=settings.match_threshold, possible=settings.possible_threshold))

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds

    @property
    def ready(self) -> bool:
        return self._index is not None

    @property
    def version(self) -> int | None:
        return self._version

    @property
    def size(self) -> int:
        index = self._index
        return len(index) if index is not None else 0

    # --- keeping fresh -----------------------------------------------------------------

    def load(self, conn: psycopg.Connection[Any]) -> int:
        """Build the index from the active list (once per process); returns its version."""
        with self._update:
            if self._index is not None:
                return self._apply_changes(conn, None)
            return self._build(conn)

    def refresh(self, conn: psycopg.Connection[Any], current: int | None = None) -> int:
        """Bring the index up to the committed list version (adds/removes, no rebuild).

        ``current`` is the committed version when the caller has just read it (outside any
        lock, so that concurrent checks do not queue behind one another's round trip). Up
        to date already: no lock at all."""
        version = self._version
        if current is not None and version is not None and current <= version:
            return version
        with self._update:
            if self._index is None or self._version is None:
                return self._build(conn)
            return self._apply_changes(conn, current)

    def prepare(self, conn: psycopg.Connection[Any]) -> int:
        """The database half of a match: read the committed list version and bring the
        index up to it (building it the first time). Returns the index's version."""
        return self.refresh(conn, self._committed_version(conn))

    def _build(self, conn: psycopg.Connection[Any]) -> int:
        """Build the index (caller holds ``_update``); matching waits only for the swap."""
        index = ListIndex()
        with conn.transaction():
            active = list_repo.load_active(conn)
            batch: list[tuple[Any, Identity, int]] = []
            for entry in active.entries:
                batch.append((str(entry.id), entry_identity(entry), index_lists(entry.lists)))
                if len(batch) >= 10_000:
                    index.add_many(batch)
                    batch = []
            if batch:
                index.add_many(batch)
        index.compact()  # one sorted array: lookups only read it
        settle(index)
        with self._rw.write():
            self._index = index
            self._engine = Engine(index, self._thresholds)
            self._version = active.version
        self.rebuilds += 1
        log.info("matcher index built: %d entries at list version %d", len(index), active.version)
        return active.version

    def _apply_changes(self, conn: psycopg.Connection[Any], current: int | None) -> int:
        """Apply the list changes since the index's version (caller holds ``_update``)."""
        assert self._index is not None and self._version is not None
        if current is None:
            current = list_repo.current_version(conn)
        if current <= self._version:
            return self._version
        # Read the changes first: matching goes on meanwhile.
        changes = list_repo.changes_since(conn, self._version)
        index = self._index
        newest = current
        with self._rw.write():
            adds: list[tuple[str, Identity, int]] = []
            try:
                for change in changes:
                    key = str(change.entry_id)
                    if change.kind == "add":
                        # The entry as it is now; if it was removed since, its remove follows.
                        if change.entry is not None:
                            lists = index_lists(change.entry.lists)
                            adds.append((key, entry_identity(change.entry), lists))
                    else:
                        if adds:
                            index.add_many(adds)
                            adds = []
                        index.remove(key)
                    newest = max(newest, change.version)
                    self.changes_applied += 1
                if adds:
                    index.add_many(adds)
                settle(index)
            except Exception:
                # Half-applied: drop the index so the next match builds it afresh.
                self._index = self._engine = self._version = None
                raise
            self._version = newest
        return newest

    def _committed_version(self, conn: psycopg.Connection[Any]) -> int | None:
        """The committed list version, read without the lock (None before the first build)."""
        return list_repo.current_version(conn) if self._index is not None else None

    # --- matching ----------------------------------------------------------------------

    def match_now(self, identity: Identity, lists: int) -> tuple[MatchResult, int]:
        """Match one identity against the index as it is (no database); returns the
        result and the list version it was matched at. Many threads may match at once."""
        with self._rw.read():
            engine, version = self._engine, self._version
            if engine is None or version is None:
                raise RuntimeError("the matcher index is not built")
            return engine.match(identity, lists), version

    def match_many_now(
        self, identities: Sequence[Identity], lists: Sequence[int] | int
    ) -> tuple[list[MatchResult], int]:
        """:meth:`match_now` for many identities (one list version for all)."""
        with self._rw.read():
            engine, version = self._engine, self._version
            if engine is None or version is None:
                raise RuntimeError("the matcher index is not built")
            return match_grouped(engine, identities, lists), version

    def match(
        self, conn: psycopg.Connection[Any], identity: Identity, lists: int
    ) -> tuple[MatchResult, int]:
        """Match one identity against the lists given, fresh to the committed version."""
        self.prepare(conn)
        return self.match_now(identity, lists)

    def match_many(
        self,
        conn: psycopg.Connection[Any],
        identities: Sequence[Identity],
        lists: Sequence[int] | int,
    ) -> tuple[list[MatchResult], int]:
        """Match many identities (a batch chunk) at one list version; ``lists`` is one
        value for all or one per identity."""
        self.prepare(conn)
        return self.match_many_now(identities, lists)

    def score_pair(self, a: Identity, b: Identity) -> Candidate:
        """Score two identities directly (the caseworker's side-by-side view)."""
        with self._rw.read():
            engine = self._engine or Engine(ListIndex(), self._thresholds)
            return engine.score_pair(a, b)

    # --- for the checks service --------------------------------------------------------

    def match_request(self, conn: psycopg.Connection[Any], request: CheckRequest) -> MatchOutcome:
        """:meth:`prepare`, then :meth:`match_request_now`."""
        self.prepare(conn)
        return self.match_request_now(request)

    def match_request_now(self, request: CheckRequest) -> MatchOutcome:
        """Match a check's identity against the index as it is (no database)."""
        identity = request_identity(
            request.forenames,
            request.surname,
            request.date_of_birth,
            request.previous_names,
            request.gender,
        )
        result, version = self.match_now(identity, lists_for_workforce(request.workforce))
        return to_outcome(result, version)

    def match_requests(
        self, conn: psycopg.Connection[Any], requests: Sequence[CheckRequest]
    ) -> list[MatchOutcome]:
        identities = [
            request_identity(r.forenames, r.surname, r.date_of_birth, r.previous_names, r.gender)
            for r in requests
        ]
        lists = [lists_for_workforce(r.workforce) for r in requests]
        results, version = self.match_many(conn, identities, lists)
        return [to_outcome(r, version) for r in results]

    # --- the barred list's duplicate finder -------------------------------------------

    def find(
        self, conn: psycopg.Connection[Any], entries: Sequence[NewEntry]
    ) -> list[list[DuplicateCandidate]]:
        """Likely duplicates of new entries already on the list (``DuplicateFinder``)."""
        from vbs.services.barred_list import DuplicateCandidate

        identities = [entry_identity(e) for e in entries]
        results, _ = self.match_many(conn, identities, [ALL_LISTS] * len(identities))
        return [
            [
                DuplicateCandidate(
                    UUID(str(c.key)), str(c.band), float(c.probability), str(r.matcher_version)
                )
                for c in r.candidates
                if c.band in ("match", "possible")
            ]
            for r in results
        ]


def warm(holder: MatcherHolder, pool: Any) -> None:
    """Build the holder's index on a pooled connection (run in a background thread at
    start-up so that the first check does not pay for it; failures are logged and the
    first match builds it instead)."""
    try:
        with pool.connection() as conn:
            holder.load(conn)
    except Exception as exc:
        log.warning("matcher warm-up failed: %s", type(exc).__name__)
