"""The results and errors files of a batch, streamed as CSV, safe to open in a spreadsheet.

``results.csv``: ``reference,outcome,check_id`` in file order, each outcome as it is now
(an ``under_review`` row changes when a caseworker decides). ``errors.csv``:
``line,reference,reason``. Any cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return is prefixed with an apostrophe, so a spreadsheet shows it as text
instead of running it as a formula (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from uuid import UUID

RESULTS_HEADER = ("reference", "outcome", "check_id")
ERRORS_HEADER = ("line", "reference", "reason")

_DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_DANGEROUS_FIRST):
        return "'" + text
    return text


def _csv_lines(header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for i, row in enumerate(rows):
        writer.writerow([safe_cell(v) for v in row])
        if i % 500 == 499:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def results_csv(rows: Iterable[tuple[str, str, UUID]]) -> Iterator[str]:
    """(reference, outcome, check id) rows -> CSV text pieces."""
    return _csv_lines(RESULTS_HEADER, rows)


def errors_csv(rows: Iterable[tuple[int, str | None, str]]) -> Iterator[str]:
    """(line, reference or None, reason) rows -> CSV text pieces."""
    return _csv_lines(ERRORS_HEADER, rows)
