"""The batch file format: streaming checks at upload, and the row parser the workers run.

Two stages, both streaming (the file is never held whole in memory):

* :class:`UploadScanner` is fed the uploaded bytes as they arrive. It enforces the limits
  (bytes and rows: one byte over raises :class:`~vbs.errors.PayloadTooLarge`) and refuses
  a file that cannot be a UTF-8 CSV of the right shape: UTF-16, a NUL byte, a header line
  that is not UTF-8 text, a missing, unknown or repeated header column.
* :func:`parse_rows` reads the stored bytes and yields one :class:`ParsedRow` per good
  row and one :class:`RowError` (line number + reason) per bad row; a bad row never stops
  the rest.

Reasons name the field and the problem, never the value (values may be personal data).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from vbs.errors import FieldError, PayloadTooLarge, UnsupportedFile, ValidationFailed

REQUIRED_COLUMNS: tuple[str, ...] = ("reference", "forenames", "surname", "date_of_birth")
OPTIONAL_COLUMNS: tuple[str, ...] = ("previous_names", "gender", "workforce")
ALL_COLUMNS: frozenset[str] = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)

MAX_REFERENCE = 100
MAX_NAME = 200
MAX_PREVIOUS_NAMES = 20
MAX_PREVIOUS_NAMES_FIELD = 4000
MAX_HEADER_BYTES = 4096
OLDEST_BIRTH_YEAR = 1900

WORKFORCES: frozenset[str] = frozenset({"children", "adults", "both"})
GENDERS: dict[str, str | None] = {
    "female": "female",
    "f": "female",
    "male": "male",
    "m": "male",
    "unspecified": None,
    "": None,
}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UK_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # tab and line breaks inside a value too


@dataclass(frozen=True, slots=True)
class ParsedRow:
    line_no: int
    reference: str
    forenames: str
    surname: str
    date_of_birth: date
    previous_names: tuple[str, ...]  # full names, "Forenames Surname"
    gender: str | None  # 'female' | 'male' | None
    workforce: str  # 'children' | 'adults' | 'both'


@dataclass(frozen=True, slots=True)
class RowError:
    line_no: int
    reference: str | None
    reason: str


class FileProblem(Exception):
    """A problem with the whole file found while parsing (the batch fails)."""


# --- header ---------------------------------------------------------------------------


def check_header(header_line: bytes) -> list[str]:
    """The column names of a header line, or a clear file-level error."""
    try:
        text = header_line.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedFile(
            "file: line 1 is not UTF-8 text; save the file as UTF-8 CSV"
        ) from None
    text = text.removeprefix("\ufeff").rstrip("\r\n")
    if not text.strip():
        raise _invalid("line 1: the header line is empty")
    columns = [c.strip().lower() for c in next(csv.reader([text]))]
    problems: list[str] = []
    # Unknown names are not echoed: a file without its header line has personal data in
    # line 1. Their positions are.
    unknown = [i + 1 for i, c in enumerate(columns) if c not in ALL_COLUMNS]
    if unknown:
        shown = ", ".join(str(i) for i in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        problems.append(f"line 1: unknown column(s) at position {shown}{more}")
        if not any(c in ALL_COLUMNS for c in columns):
            problems.append("line 1 should be the header line")
    repeated = sorted({c for c in columns if columns.count(c) > 1 and c in ALL_COLUMNS})
    if repeated:
        problems.append(f"line 1: repeated column(s) {', '.join(repeated)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(f"line 1: missing required column(s) {', '.join(missing)}")
    if problems:
        raise _invalid("; ".join(problems))
    return columns


def _invalid(message: str) -> ValidationFailed:
    allowed = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    return ValidationFailed(
        [FieldError("file", message)],
        detail=f"{message} (columns: {allowed}; the first four are required)",
    )


# --- upload scanning ------------------------------------------------------------------


class UploadScanner:
    """Checks an upload as it streams in: limits, encoding, NUL bytes and the header."""

    def __init__(self, max_bytes: int, max_rows: int) -> None:
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self.size = 0
        self.lines = 0  # complete non-blank lines seen (header included)
        self.columns: list[str] | None = None
        self._head = bytearray()  # bytes of the header line until it is complete
        self._line_has_content = False
        self._first = b""

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"file: larger than the limit of {self.max_bytes} bytes")
        if len(self._first) < 4:
            self._first = (self._first + data)[:4]
            if self._first[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise UnsupportedFile("file: UTF-16 is not accepted; save the file as UTF-8 CSV")
        if b"\x00" in data:
            raise UnsupportedFile(
                "file: contains a NUL byte, so it is not a UTF-8 text CSV file "
                "(UTF-16 or binary?); save the file as UTF-8 CSV"
            )
        if self.columns is None:
            self._take_header(data)
        self._count_lines(data)

    def _take_header(self, data: bytes) -> None:
        end = data.find(b"\n")
        if end < 0:
            self._head += data
            if len(self._head) > MAX_HEADER_BYTES:
                raise _invalid(f"line 1: the header line is longer than {MAX_HEADER_BYTES} bytes")
            return
        self._head += data[: end + 1]
        self.columns = check_header(bytes(self._head))

    def _count_lines(self, data: bytes) -> None:
        start = 0
        while True:
            nl = data.find(b"\n", start)
            segment = data[start:] if nl < 0 else data[start:nl]
            if segment.strip(b" \t\r"):
                self._line_has_content = True
            if nl < 0:
                break
            if self._line_has_content:
                self.lines += 1
                self._check_rows(self.lines - 1)
            self._line_has_content = False
            start = nl + 1

    def _check_rows(self, rows: int) -> None:
        if rows > self.max_rows:
            raise PayloadTooLarge(f"file: more than the limit of {self.max_rows} rows")

    @property
    def data_rows(self) -> int:
        """Non-blank lines after the header (an upper bound on rows)."""
        total = self.lines + (1 if self._line_has_content else 0)
        return max(total - 1, 0)

    def finish(self) -> list[str]:
        """Call at the end of the upload: the header's columns, or the file's problem."""
        if self.size == 0:
            raise _invalid("the file is empty")
        if self.columns is None:
            self.columns = check_header(bytes(self._head))
        self._check_rows(self.data_rows)
        return self.columns


# --- row parsing ----------------------------------------------------------------------


def _lines(chunks: Iterable[bytes], bad_lines: set[int]) -> Iterator[str]:
    """Decoded lines (with their newline), tracking lines that were not valid UTF-8."""
    pending = b""
    line_no = 0
    first = True

    def decode(raw: bytes) -> str:
        nonlocal first
        if first:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
            first = False
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(line_no)
            return raw.decode("utf-8", errors="replace")

    for chunk in chunks:
        if b"\x00" in chunk:
            raise FileProblem("the file contains a NUL byte; it is not a text CSV file")
        searched = len(pending)  # a long line is scanned once, not once per chunk
        pending += chunk
        start = 0
        while True:
            nl = pending.find(b"\n", max(start, searched))
            if nl < 0:
                break
            line_no += 1
            yield decode(pending[start : nl + 1])
            start = nl + 1
        pending = pending[start:]
    if pending:
        line_no += 1
        yield decode(pending)


def parse_date(text: str) -> date:
    """`YYYY-MM-DD` or `DD/MM/YYYY`; ValueError with a reason (never the value)."""
    text = text.strip()
    if _ISO_DATE.fullmatch(text):
        y, m, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
    elif match := _UK_DATE.fullmatch(text):
        d, m, y = int(match[1]), int(match[2]), int(match[3])
    else:
        raise ValueError("not a date in the form YYYY-MM-DD or DD/MM/YYYY")
    try:
        value = date(y, m, d)
    except ValueError:
        raise ValueError("not a real date") from None
    if value > date.today():
        raise ValueError("is in the future")
    if value.year < OLDEST_BIRTH_YEAR:
        raise ValueError(f"is before {OLDEST_BIRTH_YEAR}")
    return value


def full_name(text: str) -> str:
    """A previous name, whitespace normalised; it needs forenames and a surname."""
    words = text.split()
    if len(words) < 2:
        raise ValueError("each previous name needs forenames and a surname")
    return " ".join(words)


def _text(record: dict[str, str], column: str, limit: int, problems: list[str]) -> str:
    value = record.get(column, "").strip()
    if not value:
        problems.append(f"{column}: missing")
    elif len(value) > limit:
        problems.append(f"{column}: longer than {limit} characters")
    elif _CONTROL.search(value):
        problems.append(f"{column}: contains control characters")
    return value


def validate_record(line_no: int, record: dict[str, str]) -> ParsedRow | RowError:
    """One CSV record (column -> raw value) -> a good row or the reasons it is refused."""
    problems: list[str] = []
    reference = _text(record, "reference", MAX_REFERENCE, problems)
    forenames = _text(record, "forenames", MAX_NAME, problems)
    surname = _text(record, "surname", MAX_NAME, problems)
    dob: date | None = None
    raw_dob = record.get("date_of_birth", "").strip()
    if not raw_dob:
        problems.append("date_of_birth: missing")
    else:
        try:
            dob = parse_date(raw_dob)
        except ValueError as exc:
            problems.append(f"date_of_birth: {exc}")
    previous: list[str] = []
    raw_prev = record.get("previous_names", "").strip()
    if len(raw_prev) > MAX_PREVIOUS_NAMES_FIELD:
        problems.append(f"previous_names: longer than {MAX_PREVIOUS_NAMES_FIELD} characters")
    elif _CONTROL.search(raw_prev):
        problems.append("previous_names: contains control characters")
    elif raw_prev:
        parts = [p.strip() for p in raw_prev.split("|") if p.strip()]
        if len(parts) > MAX_PREVIOUS_NAMES:
            problems.append(f"previous_names: more than {MAX_PREVIOUS_NAMES} names")
        else:
            for part in parts:
                try:
                    name = full_name(part)
                except ValueError as exc:
                    problems.append(f"previous_names: {exc}")
                    break
                if len(name) > 2 * MAX_NAME:
                    problems.append(f"previous_names: a name longer than {2 * MAX_NAME} characters")
                    break
                previous.append(name)
    raw_gender = record.get("gender", "").strip().lower()
    gender: str | None = None
    if raw_gender not in GENDERS:
        problems.append("gender: must be female, male or unspecified")
    else:
        gender = GENDERS[raw_gender]
    workforce = record.get("workforce", "").strip().lower() or "both"
    if workforce not in WORKFORCES:
        problems.append("workforce: must be children, adults or both")
    safe_ref = reference if reference and len(reference) <= MAX_REFERENCE else None
    if problems or dob is None:
        return RowError(line_no, safe_ref, "; ".join(problems))
    return ParsedRow(
        line_no=line_no,
        reference=reference,
        forenames=forenames,
        surname=surname,
        date_of_birth=dob,
        previous_names=tuple(previous),
        gender=gender,
        workforce=workforce,
    )


def parse_rows(chunks: Iterable[bytes], max_rows: int) -> Iterator[ParsedRow | RowError]:
    """Parse a stored batch file (an iterable of byte chunks) row by row.

    Raises :class:`FileProblem` for a file-level problem (bad header, NUL byte, too many
    rows); everything about one row becomes a :class:`RowError` and parsing goes on.
    """
    bad_lines: set[int] = set()
    reader = csv.reader(_lines(chunks, bad_lines), strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise FileProblem("the file is empty") from None
    except csv.Error:
        raise FileProblem("line 1: the header line is not valid CSV") from None
    if 1 in bad_lines:
        raise FileProblem("line 1 is not UTF-8 text")
    try:
        columns = check_header(",".join(_quote(h) for h in header).encode())
    except ValidationFailed as exc:
        raise FileProblem(exc.errors[0].message) from None
    except UnsupportedFile as exc:
        raise FileProblem(exc.detail) from None
    rows = 0
    while True:
        start_line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            rows += 1
            _check_limit(rows, max_rows)
            yield RowError(start_line, None, "a value is far too long (or not valid CSV)")
            continue
        end_line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue  # blank line
        rows += 1
        _check_limit(rows, max_rows)
        if any(n in bad_lines for n in range(start_line, end_line + 1)):
            yield RowError(start_line, None, "not valid UTF-8 text")
            continue
        if len(fields) != len(columns):
            yield RowError(
                start_line,
                _reference_of(fields, columns),
                f"has {len(fields)} values; the header has {len(columns)} columns",
            )
            continue
        yield validate_record(start_line, dict(zip(columns, fields, strict=True)))


def _check_limit(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise FileProblem(f"more than the limit of {max_rows} rows")


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell


def _reference_of(fields: list[str], columns: list[str]) -> str | None:
    idx = columns.index("reference")
    if idx < len(fields):
        ref = fields[idx].strip()
        if ref and len(ref) <= MAX_REFERENCE and not _CONTROL.search(ref):
            return ref
    return None
