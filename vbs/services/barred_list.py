"""The barred lists: add, remove, import a list file, history, and the feeds for the matcher.

Every change takes a new list version (``repo.next_version``) in the caller's transaction,
records a ``list_change`` per entry and writes one audit event last. A new entry is first
matched against the list; likely duplicates are stored (``entry_duplicate``) and returned
so that a caseworker sees them.

The matcher holder keeps its in-memory index fresh with :func:`load_active` (initial build)
and :func:`changes_since` (the adds and removes after a version, in order).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol, TextIO
from uuid import UUID

import psycopg

from vbs.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    VbsError,
)
from vbs.principal import Principal
from vbs.repo import barred_list as repo
from vbs.repo.barred_list import (
    LIST_ADULTS,
    LIST_CHILDREN,
    ActiveList,
    BarredEntry,
    Duplicate,
    HistoryItem,
    ListChange,
    NewEntry,
    PreviousName,
)

__all__ = [
    "LIST_ADULTS",
    "LIST_CHILDREN",
    "ActiveList",
    "AddResult",
    "Auditor",
    "BarredEntry",
    "Duplicate",
    "DuplicateCandidate",
    "DuplicateFinder",
    "EntryInput",
    "HistoryItem",
    "ImportResult",
    "ListChange",
    "NewEntry",
    "PreviousName",
    "add_entry",
    "changes_since",
    "current_version",
    "get_entry",
    "history",
    "import_csv",
    "lists_from_mask",
    "load_active",
    "parse_lists",
    "purge_identity",
    "remove_entry",
]

log = logging.getLogger(__name__)

LIST_ROLES = frozenset({"caseworker", "senior_caseworker", "admin", "system"})
MAX_NAME = 200
MAX_PREVIOUS_NAMES = 20
GENDERS = frozenset({"female", "male", "unspecified"})
REQUIRED_COLUMNS = ("list_id", "forenames", "surname", "date_of_birth", "previous_names", "lists")
_LIST_NAMES = {"children": LIST_CHILDREN, "adults": LIST_ADULTS}
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
# Control characters, and lone surrogates (not encodable as UTF-8).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_TEXT_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # \t \n \r ok


class Auditor(Protocol):
    """What the services need of ``vbs.audit.AuditLog``."""

    def record(
        self,
        conn: psycopg.Connection,
        principal: Principal,
        action: str,
        object_type: str | None,
        object_id: str | None,
        detail: dict[str, Any] | None = None,
    ) -> object: ...


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    """An entry already on the list that the matcher finds likely to be the same person."""

    entry_id: UUID
    band: str  # 'match' or 'possible'
    probability: float
    matcher_version: str


class DuplicateFinder(Protocol):
    """Matches new entries against the current list (the matcher holder adapts to this).

    Called before anything is written in the transaction, so that the finder never sees
    the caller's own uncommitted changes.
    """

    def find(
        self, conn: psycopg.Connection, entries: Sequence[NewEntry]
    ) -> list[list[DuplicateCandidate]]: ...


@dataclass(frozen=True, slots=True)
class EntryInput:
    """Raw identity fields for a new entry, validated by :func:`validate_entry`."""

    forenames: str
    surname: str
    date_of_birth: str | None
    lists: int | str
    previous_names: Sequence[PreviousName | str] = ()
    gender: str | None = None
    barred_on: date | None = None
    case_reference: str | None = None
    list_ref: str | None = None


@dataclass(frozen=True, slots=True)
class AddResult:
    entry_id: UUID
    version: int
    duplicates: list[DuplicateCandidate]


@dataclass(frozen=True, slots=True)
class ImportResult:
    version: int
    count: int
    entry_ids: list[UUID]
    # (line number in the file, entry id, its likely duplicates already on the list)
    duplicates: list[tuple[int, UUID, list[DuplicateCandidate]]]


# --- validation ------------------------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).date()


def parse_partial_date(text: str | None, *, today: date | None = None) -> str | None:
    """Validate an ISO date, full or partial (YYYY, YYYY-MM, YYYY-MM-DD); '' means unknown.

    Raises ValueError with a message that never repeats the value.
    """
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    m = _DATE_RE.match(text)
    if m is None:
        raise ValueError("not a date: use YYYY-MM-DD, YYYY-MM or YYYY")
    year = int(m.group(1))
    today = today or _today()
    if year < 1900:
        raise ValueError("year before 1900")
    if m.group(3) is not None:
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise ValueError("not a real calendar date") from None
        if d > today:
            raise ValueError("date in the future")
    elif m.group(2) is not None:
        month = int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError("month must be 01 to 12")
        if (year, month) > (today.year, today.month):
            raise ValueError("date in the future")
    elif year > today.year:
        raise ValueError("date in the future")
    return text


def _name(value: str | None, field: str, errors: list[FieldError]) -> str:
    text = " ".join((value or "").split())
    if not text:
        errors.append(FieldError(field, "must not be empty"))
    elif len(text) > MAX_NAME:
        errors.append(FieldError(field, f"longer than {MAX_NAME} characters"))
    elif _CONTROL_RE.search(text):
        errors.append(FieldError(field, "contains control characters"))
    return text


def parse_lists(value: int | str) -> int:
    """'children', 'adults', 'children|adults' (or a bitmask 1..3) -> bitmask."""
    if isinstance(value, int):
        if value in (1, 2, 3):
            return value
        raise ValueError("must be children, adults or children|adults")
    mask = 0
    for part in value.split("|"):
        key = part.strip().lower()
        if key not in _LIST_NAMES:
            raise ValueError("must be children, adults or children|adults")
        mask |= _LIST_NAMES[key]
    return mask


def lists_from_mask(mask: int) -> list[str]:
    return [name for name, bit in _LIST_NAMES.items() if mask & bit]


def split_full_name(full: str, current_forenames: str) -> PreviousName:
    """A previous name as written in a list file: forenames then surname.

    A single word is a previous surname with the current forenames.
    """
    tokens = full.split()
    if len(tokens) == 1:
        return PreviousName(current_forenames, tokens[0])
    return PreviousName(" ".join(tokens[:-1]), tokens[-1])


def validate_entry(
    raw: EntryInput, *, prefix: str = "", today: date | None = None
) -> tuple[NewEntry | None, list[FieldError]]:
    """Check every field; return the entry or the field errors (never echoing values)."""
    today = today or _today()
    errors: list[FieldError] = []
    forenames = _name(raw.forenames, f"{prefix}forenames", errors)
    surname = _name(raw.surname, f"{prefix}surname", errors)
    dob: str | None = None
    try:
        dob = parse_partial_date(raw.date_of_birth, today=today)
    except ValueError as exc:
        errors.append(FieldError(f"{prefix}date_of_birth", str(exc)))
    lists = 0
    try:
        lists = parse_lists(raw.lists)
    except ValueError as exc:
        errors.append(FieldError(f"{prefix}lists", str(exc)))
    gender = (raw.gender or "").strip().lower() or None
    gender = {"f": "female", "m": "male", "u": "unspecified"}.get(gender or "", gender)
    if gender is not None and gender not in GENDERS:
        errors.append(FieldError(f"{prefix}gender", "must be female, male or unspecified"))
    previous: list[PreviousName] = []
    if len(raw.previous_names) > MAX_PREVIOUS_NAMES:
        errors.append(
            FieldError(f"{prefix}previous_names", f"more than {MAX_PREVIOUS_NAMES} names")
        )
    for i, p in enumerate(raw.previous_names[:MAX_PREVIOUS_NAMES]):
        field = f"{prefix}previous_names[{i}]"
        if isinstance(p, str):
            if not p.strip():
                errors.append(FieldError(field, "must not be empty"))
                continue
            p = split_full_name(p, forenames or "")
        pf = _name(p.forenames, f"{field}.forenames", errors)
        ps = _name(p.surname, f"{field}.surname", errors)
        previous.append(PreviousName(pf, ps))
    barred_on = raw.barred_on or today
    if barred_on > today:
        errors.append(FieldError(f"{prefix}barred_on", "date in the future"))
    case_reference = (raw.case_reference or "").strip() or None
    if case_reference is not None and len(case_reference) > 100:
        errors.append(FieldError(f"{prefix}case_reference", "longer than 100 characters"))
    list_ref = (raw.list_ref or "").strip() or None
    if list_ref is not None and len(list_ref) > 100:
        errors.append(FieldError(f"{prefix}list_id", "longer than 100 characters"))
    if errors:
        return None, errors
    return (
        NewEntry(
            forenames=forenames,
            surname=surname,
            date_of_birth=dob,
            previous_names=tuple(previous),
            gender=gender,
            lists=lists,
            barred_on=barred_on,
            case_reference=case_reference,
            list_ref=list_ref,
        ),
        [],
    )


def _require_list_role(principal: Principal) -> None:
    if principal.role not in LIST_ROLES:
        raise Forbidden("only the authority keeps the barred list")


def clean_text(text: str, field: str, max_len: int, errors: list[FieldError]) -> str:
    """Free text (a reason, a summary): stripped, not empty, not too long, no control
    characters other than tabs and line breaks. Errors never echo the text."""
    text = text.strip()
    if not text:
        errors.append(FieldError(field, "must not be empty"))
    elif len(text) > max_len:
        errors.append(FieldError(field, f"longer than {max_len} characters"))
    elif _TEXT_CONTROL_RE.search(text):
        errors.append(FieldError(field, "contains control characters"))
    return text


def clean_reason(reason: str) -> str:
    errors: list[FieldError] = []
    text = clean_text(" ".join(reason.split()), "reason", 2000, errors)
    if errors:
        raise ValidationFailed(errors)
    return text


_reason = clean_reason


def _find_duplicates(
    conn: psycopg.Connection,
    finder: DuplicateFinder | None,
    entries: Sequence[NewEntry],
    exclude: frozenset[UUID] = frozenset(),
) -> list[list[DuplicateCandidate]]:
    if finder is None or not entries:
        return [[] for _ in entries]
    try:
        found = finder.find(conn, entries)
    except VbsError:
        raise
    except Exception as exc:
        # Nothing is written yet; the caller's transaction rolls back. Only the type is
        # logged: messages may carry data.
        log.error("duplicate search failed (%s)", type(exc).__name__)
        raise ServiceUnavailable(
            "the duplicate search is not available; nothing was written"
        ) from None
    return [[c for c in cands if c.entry_id not in exclude] for cands in found]


def _store_duplicates(
    conn: psycopg.Connection, entry_id: UUID, cands: Sequence[DuplicateCandidate]
) -> None:
    repo.insert_duplicates(
        conn,
        [Duplicate(entry_id, c.entry_id, c.band, c.probability, c.matcher_version) for c in cands],
    )


# --- changes ---------------------------------------------------------------------------------


def add_entry(
    conn: psycopg.Connection,
    audit: Auditor,
    principal: Principal,
    raw: EntryInput | NewEntry,
    *,
    reason: str,
    finder: DuplicateFinder | None = None,
    case_id: UUID | None = None,
    exclude_duplicates: frozenset[UUID] = frozenset(),
) -> AddResult:
    """Add one entry at a new list version (in the caller's transaction)."""
    _require_list_role(principal)
    why = _reason(reason)
    if isinstance(raw, NewEntry):
        entry = raw
    else:
        checked, errors = validate_entry(raw)
        if checked is None:
            raise ValidationFailed(errors)
        entry = checked
    if entry.list_ref is not None and repo.existing_list_refs(conn, [entry.list_ref]):
        raise Conflict("list_id: already used by another entry")
    dups = _find_duplicates(conn, finder, [entry], exclude_duplicates)[0]
    version = repo.next_version(conn)
    if entry.list_ref is not None and repo.existing_list_refs(conn, [entry.list_ref]):
        raise Conflict("list_id: already used by another entry")  # taken meanwhile
    entry_id = repo.insert_entry(conn, entry, version)
    repo.insert_change(
        conn,
        version=version,
        entry_id=entry_id,
        kind="add",
        by_user=principal.user_id,
        by_role=principal.role,
        case_id=case_id,
        reason=why,
    )
    _store_duplicates(conn, entry_id, dups)
    audit.record(
        conn,
        principal,
        "list.add",
        "barred_entry",
        str(entry_id),
        {"version": version, "lists": lists_from_mask(entry.lists), "duplicates": len(dups)},
    )
    return AddResult(entry_id, version, dups)


def remove_entry(
    conn: psycopg.Connection,
    audit: Auditor,
    principal: Principal,
    entry_id: UUID,
    *,
    reason: str,
    case_id: UUID | None = None,
) -> int:
    """Remove a barred entry at a new list version; returns the version."""
    _require_list_role(principal)
    why = _reason(reason)
    entry = repo.get_entry(conn, entry_id)
    if entry is None:
        raise NotFound("no such list entry")
    if entry.status != "barred":
        raise Conflict("the entry is already removed")
    version = repo.next_version(conn)
    if not repo.mark_removed(conn, entry_id, version):
        raise Conflict("the entry is already removed")
    repo.insert_change(
        conn,
        version=version,
        entry_id=entry_id,
        kind="remove",
        by_user=principal.user_id,
        by_role=principal.role,
        case_id=case_id,
        reason=why,
    )
    audit.record(
        conn, principal, "list.remove", "barred_entry", str(entry_id), {"version": version}
    )
    return version


def purge_identity(
    conn: psycopg.Connection, audit: Auditor, principal: Principal, entry_id: UUID
) -> None:
    """Erase the identity (names, date of birth, gender) of a *removed* entry.

    The list history keeps ids only, so it stays whole; a barred entry cannot be purged.
    """
    _require_list_role(principal)
    entry = repo.get_entry(conn, entry_id)
    if entry is None:
        raise NotFound("no such list entry")
    if entry.status != "removed":
        raise Conflict("only a removed entry's identity can be purged")
    if entry.identity_purged_at is not None:
        raise Conflict("the entry's identity is already purged")
    if not repo.purge_identity(conn, entry_id):  # pragma: no cover - checked above
        raise Conflict("the entry's identity could not be purged")
    audit.record(conn, principal, "list.purge_identity", "barred_entry", str(entry_id))


# --- import ----------------------------------------------------------------------------------


def _rows(source: TextIO) -> Iterable[tuple[int, list[str]]]:
    """CSV records with the line number each starts on."""
    reader = csv.reader(source, strict=True)
    last = 0
    for record in reader:
        start = last + 1
        last = reader.line_num
        yield start, record


def parse_csv(source: TextIO) -> list[tuple[int, NewEntry]]:
    """Parse and validate a whole list file; every bad line is reported together.

    Format: ``list_id,forenames,surname,date_of_birth,previous_names,lists`` with optional
    ``gender``, ``barred_on`` and ``case_reference`` columns (others are ignored);
    previous names are full names separated by ``|``; lists is ``children``, ``adults``
    or ``children|adults``.
    """
    errors: list[FieldError] = []
    out: list[tuple[int, NewEntry]] = []
    rows = iter(_rows(source))
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise ValidationFailed([FieldError("line 1", "the file is empty")]) from None
    except (csv.Error, UnicodeDecodeError):
        raise ValidationFailed([FieldError("line 1", "the header is not valid CSV")]) from None
    columns = [h.strip().lower().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValidationFailed(
            [FieldError(f"line {header_line}", f"missing column {c}") for c in missing]
        )
    pos = {c: columns.index(c) for c in columns if c}
    today = _today()
    seen: dict[str, int] = {}
    line = header_line
    while True:
        try:
            line, record = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(FieldError(f"line {line + 1}", f"not valid CSV ({exc})"))
            break
        except UnicodeDecodeError:
            errors.append(FieldError(f"line {line + 1}", "not UTF-8 text"))
            break
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            errors.append(
                FieldError(f"line {line}", f"has {len(record)} fields, header has {len(header)}")
            )
            continue

        def get(col: str, rec: list[str] = record) -> str:
            i = pos.get(col)
            return rec[i] if i is not None else ""

        barred_on: date | None = None
        line_errors: list[FieldError] = []
        if get("barred_on").strip():
            try:
                barred_on = date.fromisoformat(get("barred_on").strip())
            except ValueError:
                line_errors.append(FieldError(f"line {line}: barred_on", "not a date YYYY-MM-DD"))
        list_ref = get("list_id").strip()
        if not list_ref:
            line_errors.append(FieldError(f"line {line}: list_id", "must not be empty"))
        elif list_ref in seen:
            line_errors.append(
                FieldError(f"line {line}: list_id", f"repeats the list_id of line {seen[list_ref]}")
            )
        else:
            seen[list_ref] = line
        prev = [p for p in get("previous_names").split("|") if p.strip()]
        entry, errs = validate_entry(
            EntryInput(
                forenames=get("forenames"),
                surname=get("surname"),
                date_of_birth=get("date_of_birth"),
                lists=get("lists"),
                previous_names=prev,
                gender=get("gender"),
                barred_on=barred_on,
                case_reference=get("case_reference"),
                list_ref=list_ref or None,
            ),
            prefix=f"line {line}: ",
            today=today,
        )
        line_errors.extend(errs)
        if line_errors or entry is None:
            errors.extend(line_errors)
            continue
        out.append((line, entry))
    if errors:
        raise ValidationFailed(errors, detail=f"{len(errors)} error(s) in the list file")
    if not out:
        raise ValidationFailed([FieldError(f"line {header_line}", "the file has no entries")])
    return out


def _refuse_taken_refs(conn: psycopg.Connection, parsed: Sequence[tuple[int, NewEntry]]) -> None:
    refs = [e.list_ref for _, e in parsed if e.list_ref is not None]
    taken: set[str] = set()
    for start in range(0, len(refs), 10_000):
        taken |= repo.existing_list_refs(conn, refs[start : start + 10_000])
    if taken:
        raise ValidationFailed(
            [
                FieldError(f"line {line}: list_id", "already on the list")
                for line, e in parsed
                if e.list_ref in taken
            ],
            detail="list_id already on the list",
        )


def import_csv(
    conn: psycopg.Connection,
    audit: Auditor,
    principal: Principal,
    source: TextIO | bytes,
    *,
    reason: str = "list import",
    finder: DuplicateFinder | None = None,
) -> ImportResult:
    """Import a list file in the caller's transaction: all entries at one new version.

    All or nothing: any bad line raises ValidationFailed naming every bad line, and
    nothing is written. A list_id already on the list is a bad line.
    """
    _require_list_role(principal)
    why = _reason(reason)
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed([FieldError("file", "not UTF-8 text")]) from None
        source = io.StringIO(text, newline="")
    parsed = parse_csv(source)
    _refuse_taken_refs(conn, parsed)  # early, before the (slower) duplicate search
    entries = [e for _, e in parsed]
    dups = _find_duplicates(conn, finder, entries)
    version = repo.next_version(conn)
    # Again under the list lock: an import committed meanwhile may have taken a list_id.
    _refuse_taken_refs(conn, parsed)
    ids = repo.copy_entries(
        conn, entries, version, by_user=principal.user_id, by_role=principal.role, reason=why
    )
    found: list[tuple[int, UUID, list[DuplicateCandidate]]] = []
    all_dups: list[Duplicate] = []
    for (line, _), entry_id, cands in zip(parsed, ids, dups, strict=True):
        if cands:
            found.append((line, entry_id, cands))
            all_dups.extend(
                Duplicate(entry_id, c.entry_id, c.band, c.probability, c.matcher_version)
                for c in cands
            )
    repo.insert_duplicates(conn, all_dups)
    audit.record(
        conn,
        principal,
        "list.import",
        "list_version",
        str(version),
        {"version": version, "entries": len(ids), "with_duplicates": len(found)},
    )
    return ImportResult(version, len(ids), ids, found)


# --- reads and the matcher's feeds --------------------------------------------------------------


def current_version(conn: psycopg.Connection) -> int:
    return repo.current_version(conn)


def get_entry(conn: psycopg.Connection, entry_id: UUID) -> BarredEntry:
    entry = repo.get_entry(conn, entry_id)
    if entry is None:
        raise NotFound("no such list entry")
    return entry


def duplicates_of(conn: psycopg.Connection, entry_id: UUID) -> list[Duplicate]:
    return repo.duplicates_of(conn, entry_id)


def history(
    conn: psycopg.Connection,
    *,
    after_version: int = 0,
    after_id: int = 0,
    entry_id: UUID | None = None,
    limit: int = 100,
) -> list[HistoryItem]:
    """List changes in order (ids increase with versions: versions commit in order)."""
    return repo.history(
        conn, after_version=after_version, after_id=after_id, entry_id=entry_id, limit=limit
    )


def changes_since(
    conn: psycopg.Connection, version: int, limit: int | None = None
) -> list[ListChange]:
    """The adds and removes after ``version``, in version order (read in one snapshot).

    An add carries the entry (``entry`` is None only if that entry's identity has since
    been purged, in which case a later remove of the same entry follows).
    """
    return repo.changes_since(conn, version, limit)


def load_active(conn: psycopg.Connection, *, batch_size: int = 10_000) -> ActiveList:
    """Every barred entry, streamed, with the list version of the same snapshot.

    Consume ``entries`` inside the transaction; then follow with ``changes_since(version)``.
    """
    return repo.load_active(conn, batch_size=batch_size)
