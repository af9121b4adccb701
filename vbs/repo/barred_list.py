"""SQL for the barred list: entries, the list version, the history of changes, duplicates.

Every write that changes the list first takes :func:`next_version` in the same transaction:
it locks the single ``list_state`` row, so writers are serialised and versions commit in
order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import psycopg

ChangeKind = Literal["add", "remove"]

LIST_CHILDREN = 1
LIST_ADULTS = 2

# In BarredEntry's field order. previous_names comes as text and is parsed only when not
# empty: psycopg's jsonb loader per row dominates a full list load otherwise.
_ENTRY_FIELDS = (
    "id",
    "list_ref",
    "forenames",
    "surname",
    "date_of_birth",
    "previous_names::text",
    "gender",
    "lists",
    "case_reference",
    "barred_on",
    "status",
    "created_version",
    "removed_version",
    "created_at",
    "removed_at",
    "identity_purged_at",
)
_ENTRY_COLUMNS = ", ".join(_ENTRY_FIELDS)
_E_ENTRY_COLUMNS = ", ".join(f"e.{c}" for c in _ENTRY_FIELDS)
_N_ENTRY = len(_ENTRY_FIELDS)


@dataclass(frozen=True, slots=True)
class PreviousName:
    forenames: str
    surname: str


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry about to be written (validated by the service)."""

    forenames: str
    surname: str
    date_of_birth: str | None  # ISO, full or partial
    previous_names: tuple[PreviousName, ...]
    gender: str | None
    lists: int  # bitmask: 1 children, 2 adults
    barred_on: date
    case_reference: str | None = None
    list_ref: str | None = None


@dataclass(frozen=True, slots=True)
class BarredEntry:
    id: UUID
    list_ref: str | None
    forenames: str | None  # None only once a removed entry's identity was purged
    surname: str | None
    date_of_birth: str | None
    previous_names: tuple[PreviousName, ...]
    gender: str | None
    lists: int
    case_reference: str | None
    barred_on: date
    status: str
    created_version: int
    removed_version: int | None
    created_at: datetime
    removed_at: datetime | None
    identity_purged_at: datetime | None


@dataclass(frozen=True, slots=True)
class ListChange:
    """One add or remove. ``entry`` is the added entry (None for a remove)."""

    version: int
    kind: ChangeKind
    entry_id: UUID
    entry: BarredEntry | None


@dataclass(frozen=True, slots=True)
class HistoryItem:
    id: int  # the change's sequence number (page with after_id)
    version: int
    kind: ChangeKind
    entry_id: UUID
    at: datetime
    by_user: UUID | None
    by_role: str
    case_id: UUID | None
    reason: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    entry_id: UUID
    duplicate_of: UUID
    band: str
    probability: float
    matcher_version: str


def _previous(raw: str | None) -> tuple[PreviousName, ...]:
    if raw is None or raw == "[]":
        return ()
    return tuple(PreviousName(str(p["forenames"]), str(p["surname"])) for p in json.loads(raw))


_ENTRY_KEYS = tuple(f.split("::")[0] for f in _ENTRY_FIELDS)


def entry_columns(alias: str = "") -> str:
    """The select list :func:`entry_from_row` reads (prefixed with ``alias.`` if given)."""
    return ", ".join(f"{alias}.{c}" for c in _ENTRY_FIELDS) if alias else _ENTRY_COLUMNS


def entry_from_row(row: Sequence[Any] | Mapping[str, Any]) -> BarredEntry:
    """A BarredEntry from a row selected with :func:`entry_columns` (a tuple row in that
    order, or a dict row)."""
    return _entry(row)


def _entry(row: Sequence[Any] | Mapping[str, Any]) -> BarredEntry:
    """A BarredEntry from the _ENTRY_FIELDS columns of a row (in that order)."""
    if isinstance(row, Mapping):
        row = [row[k] for k in _ENTRY_KEYS]
    return BarredEntry(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        _previous(row[5]),
        row[6],
        int(row[7]),
        row[8],
        row[9],
        row[10],
        int(row[11]),
        row[12],
        row[13],
        row[14],
        row[15],
    )


def previous_names_json(names: Sequence[PreviousName]) -> str:
    if not names:
        return "[]"
    return json.dumps([{"forenames": p.forenames, "surname": p.surname} for p in names])


# --- the version ---------------------------------------------------------------------------


def next_version(conn: psycopg.Connection) -> int:
    """Take the next list version, locking ``list_state`` until the transaction ends."""
    row = conn.execute(
        "INSERT INTO list_state (id, version) VALUES (1, 1) "
        "ON CONFLICT (id) DO UPDATE SET version = list_state.version + 1, updated_at = now() "
        "RETURNING version"
    ).fetchone()
    assert row is not None
    return int(row[0])


def current_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT version FROM list_state WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else 0


# --- writes --------------------------------------------------------------------------------


def insert_entry(conn: psycopg.Connection, entry: NewEntry, version: int) -> UUID:
    row = conn.execute(
        "INSERT INTO barred_entry (list_ref, forenames, surname, date_of_birth, previous_names, "
        "gender, lists, case_reference, barred_on, created_version) "
        "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s) RETURNING id",
        (
            entry.list_ref,
            entry.forenames,
            entry.surname,
            entry.date_of_birth,
            previous_names_json(entry.previous_names),
            entry.gender,
            entry.lists,
            entry.case_reference,
            entry.barred_on,
            version,
        ),
    ).fetchone()
    assert row is not None
    entry_id: UUID = row[0]
    return entry_id


def copy_entries(
    conn: psycopg.Connection,
    entries: Iterable[NewEntry],
    version: int,
    *,
    by_user: UUID | None,
    by_role: str,
    reason: str,
) -> list[UUID]:
    """Bulk insert with COPY: the entries and one ``add`` change each, all at ``version``."""
    ids: list[UUID] = []
    with conn.cursor() as cur:
        with cur.copy(
            "COPY barred_entry (id, list_ref, forenames, surname, date_of_birth, previous_names, "
            "gender, lists, case_reference, barred_on, created_version) FROM STDIN"
        ) as copy:
            for e in entries:
                new_id = uuid.uuid4()
                ids.append(new_id)
                copy.write_row(
                    (
                        new_id,
                        e.list_ref,
                        e.forenames,
                        e.surname,
                        e.date_of_birth,
                        previous_names_json(e.previous_names),
                        e.gender,
                        e.lists,
                        e.case_reference,
                        e.barred_on,
                        version,
                    )
                )
        # The changes server-side, one statement: every entry of this version without one.
        cur.execute(
            "INSERT INTO list_change (version, entry_id, kind, by_user, by_role, reason) "
            "SELECT %s, e.id, 'add', %s, %s, %s FROM barred_entry e "
            "WHERE e.created_version = %s ORDER BY e.created_at, e.id "
            "ON CONFLICT (entry_id, kind) DO NOTHING",
            (version, by_user, by_role, reason, version),
        )
    return ids


def mark_removed(conn: psycopg.Connection, entry_id: UUID, version: int) -> bool:
    """Mark a barred entry removed at ``version``; False if it was not barred."""
    row = conn.execute(
        "UPDATE barred_entry SET status = 'removed', removed_version = %s, removed_at = now(), "
        "updated_at = now() WHERE id = %s AND status = 'barred' RETURNING id",
        (version, entry_id),
    ).fetchone()
    return row is not None


def insert_change(
    conn: psycopg.Connection,
    *,
    version: int,
    entry_id: UUID,
    kind: ChangeKind,
    by_user: UUID | None,
    by_role: str,
    case_id: UUID | None,
    reason: str,
) -> None:
    conn.execute(
        "INSERT INTO list_change (version, entry_id, kind, by_user, by_role, case_id, reason) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (version, entry_id, kind, by_user, by_role, case_id, reason),
    )


def purge_identity(conn: psycopg.Connection, entry_id: UUID) -> bool:
    """Erase the identity of a removed entry; its history (ids only) stays."""
    row = conn.execute(
        "UPDATE barred_entry SET forenames = NULL, surname = NULL, date_of_birth = NULL, "
        "gender = NULL, previous_names = '[]'::jsonb, identity_purged_at = now(), "
        "updated_at = now() WHERE id = %s AND status = 'removed' "
        "AND identity_purged_at IS NULL RETURNING id",
        (entry_id,),
    ).fetchone()
    return row is not None


def insert_duplicates(conn: psycopg.Connection, duplicates: Sequence[Duplicate]) -> None:
    if not duplicates:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO entry_duplicate (entry_id, duplicate_of, band, probability, "
            "matcher_version) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (d.entry_id, d.duplicate_of, d.band, d.probability, d.matcher_version)
                for d in duplicates
            ],
        )


# --- reads ---------------------------------------------------------------------------------


def get_entry(conn: psycopg.Connection, entry_id: UUID) -> BarredEntry | None:
    row = conn.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM barred_entry WHERE id = %s", (entry_id,)
    ).fetchone()
    return _entry(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class EntryCase:
    """Where an entry came from: the barring case whose bar added it (None for an entry
    imported or added outside a case) and its case reference (that case's, else the one
    the entry was imported with, if any)."""

    entry_id: UUID
    case_id: UUID | None
    case_reference: str | None


def entry_cases(conn: psycopg.Connection, entry_ids: Sequence[UUID]) -> dict[UUID, EntryCase]:
    """The case each of ``entry_ids`` came from (entries that do not exist are left out)."""
    if not entry_ids:
        return {}
    rows = conn.execute(
        "SELECT e.id, c.case_id, coalesce(b.reference, e.case_reference) "
        "FROM barred_entry e "
        "LEFT JOIN list_change c ON c.entry_id = e.id AND c.kind = 'add' "
        "LEFT JOIN barring_case b ON b.id = c.case_id "
        "WHERE e.id = ANY(%s)",
        (list(entry_ids),),
    ).fetchall()
    return {r[0]: EntryCase(r[0], r[1], r[2]) for r in rows}


def existing_list_refs(conn: psycopg.Connection, refs: Sequence[str]) -> set[str]:
    if not refs:
        return set()
    rows = conn.execute(
        "SELECT list_ref FROM barred_entry WHERE list_ref = ANY(%s)", (list(refs),)
    ).fetchall()
    return {str(r[0]) for r in rows}


def duplicates_of(conn: psycopg.Connection, entry_id: UUID) -> list[Duplicate]:
    rows = conn.execute(
        "SELECT entry_id, duplicate_of, band, probability, matcher_version "
        "FROM entry_duplicate WHERE entry_id = %s ORDER BY probability DESC, duplicate_of",
        (entry_id,),
    ).fetchall()
    return [Duplicate(r[0], r[1], r[2], float(r[3]), r[4]) for r in rows]


def changes_since(
    conn: psycopg.Connection, version: int, limit: int | None = None
) -> list[ListChange]:
    """Adds and removes after ``version``, in version order (one statement: one snapshot)."""
    rows = conn.execute(
        f"SELECT {_E_ENTRY_COLUMNS}, c.version, c.kind "
        "FROM list_change c JOIN barred_entry e ON e.id = c.entry_id "
        "WHERE c.version > %s ORDER BY c.version, c.id LIMIT %s",
        (version, limit),
    ).fetchall()
    out: list[ListChange] = []
    for row in rows:
        kind: ChangeKind = row[_N_ENTRY + 1]
        purged = row[15] is not None
        entry = _entry(row) if kind == "add" and not purged else None
        out.append(ListChange(int(row[_N_ENTRY]), kind, row[0], entry))
    return out


@dataclass(slots=True)
class ActiveList:
    """Every barred entry at one list version, streamed from a server-side cursor.

    ``entries`` must be consumed inside the transaction that loaded it.
    """

    version: int
    entries: Iterator[BarredEntry]


def load_active(conn: psycopg.Connection, *, batch_size: int = 10_000) -> ActiveList:
    """Stream all barred entries with the list version of the same snapshot."""
    cur = conn.cursor(name=f"load_active_{uuid.uuid4().hex}")
    cur.itersize = batch_size
    cur.execute(
        f"SELECT {_E_ENTRY_COLUMNS}, s.version"
        " FROM (SELECT coalesce((SELECT version FROM list_state WHERE id = 1), 0) AS version) s"
        " LEFT JOIN barred_entry e ON e.status = 'barred'"
    )
    first = cur.fetchone()
    if first is None:  # pragma: no cover - the FROM subquery always yields one row
        cur.close()
        return ActiveList(0, iter(()))

    def stream() -> Iterator[BarredEntry]:
        try:
            if first[0] is not None:
                yield _entry(first)
            for row in cur:
                yield _entry(row)
        finally:
            cur.close()

    return ActiveList(int(first[_N_ENTRY]), stream())


def history(
    conn: psycopg.Connection,
    *,
    after_version: int = 0,
    after_id: int = 0,
    entry_id: UUID | None = None,
    limit: int = 100,
) -> list[HistoryItem]:
    rows = conn.execute(
        "SELECT id, version, kind, entry_id, at, by_user, by_role, case_id, reason "
        "FROM list_change WHERE version > %s AND id > %s "
        "AND (%s::uuid IS NULL OR entry_id = %s::uuid) ORDER BY id LIMIT %s",
        (after_version, after_id, entry_id, entry_id, limit),
    ).fetchall()
    return [HistoryItem(int(r[0]), int(r[1]), *r[2:]) for r in rows]


def count_active(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM barred_entry WHERE status = 'barred'").fetchone()
    return int(row[0]) if row is not None else 0
