"""Spreadsheet-safe CSV export, and the retention purge of stored batch files."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from psycopg_pool import ConnectionPool

from batch import jobs
from batch.export import errors_csv, results_csv, safe_cell
from tests.batch.conftest import Client, burst, rows_file, store_batch
from vbs.db import transaction
from vbs.repo import batches as repo


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+44 20", "'+44 20"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("O'Brien", "O'Brien"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_safe_cell(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


def test_csv_files_round_trip_with_dangerous_cells_defused() -> None:
    check = uuid4()
    rows = [("=1+1", "clear", check)] + [(f"r{i}", "barred", check) for i in range(1200)]
    text = "".join(results_csv(rows))
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["reference", "outcome", "check_id"]
    assert table[1] == ["'=1+1", "clear", str(check)]
    assert len(table) == 1202
    errors = list(csv.reader(io.StringIO("".join(errors_csv([(7, None, "x: y, z")])))))
    assert errors == [["line", "reference", "reason"], ["7", "", "x: y, z"]]


def test_purge_drops_old_stored_files_and_keeps_results(
    ctx: jobs.WorkerContext, client_org: Client, db: ConnectionPool
) -> None:
    old = store_batch(ctx.pool, client_org, rows_file(4))
    unfinished = store_batch(ctx.pool, client_org, rows_file(2))
    jobs.ingest(str(old))
    burst(ctx)
    jobs.ingest(str(unfinished))  # parsed, chunks pending: never purged
    with transaction(db) as conn:
        conn.execute(
            "UPDATE batch SET finished_at = now() - interval '100 days' WHERE id = %s", (old,)
        )
        cutoff = datetime.now(UTC) - timedelta(days=90)
        assert repo.purge_files(conn, cutoff) == 1
        assert repo.purge_files(conn, cutoff) == 0
        files = conn.execute(
            "SELECT batch_id, count(*) FROM batch_file GROUP BY batch_id"
        ).fetchall()
        purged = repo.get_batch(conn, old)
        results = list(repo.iter_results(conn, old))
    assert dict(files) == {unfinished: 1}
    assert purged is not None and purged.file_purged_at is not None
    assert purged.status == "complete" and len(results) == 4
