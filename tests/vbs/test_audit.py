"""The audit chain: append-only in the database, MAC-chained, checkpointed, verified."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from vbs.audit import AuditLog, VerifyReport, audit_log_from_settings, load_or_create_key
from vbs.config import Settings
from vbs.principal import Principal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def audit(settings: Settings) -> AuditLog:
    return audit_log_from_settings(settings)


def _record(pool: ConnectionPool, audit: AuditLog, n: int, action: str = "test.event") -> list[int]:
    out = []
    who = Principal(role="employer", org_id=uuid4(), user_id=uuid4(), ip="192.0.2.1")
    for i in range(n):
        with pool.connection() as conn, conn.transaction():
            out.append(audit.record(conn, who, action, "thing", str(i), {"n": i, "ratio": 0.25}))
    return out


def _tamper(owner_url: str, sql: str) -> None:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql.encode())


def _verify(pool: ConnectionPool, audit: AuditLog) -> VerifyReport:
    with pool.connection() as conn:
        return audit.verify(conn)


def test_intact_chain_verifies_and_checkpoint_follows(db: ConnectionPool, audit: AuditLog) -> None:
    assert _record(db, audit, 4) == [1, 2, 3, 4]
    with db.connection() as conn:
        cp = audit.checkpoint(conn)
    assert cp.ok and cp.last_seq == 4
    checkpoint = audit.read_checkpoint()
    assert checkpoint is not None and checkpoint.seq == 4
    report = _verify(db, audit)
    assert report.ok, report.summary()
    assert report.events == 4 and report.last_seq == 4


def test_rollback_leaves_no_gap(db: ConnectionPool, audit: AuditLog) -> None:
    _record(db, audit, 1)
    with pytest.raises(RuntimeError), db.connection() as conn, conn.transaction():
        audit.record(conn, None, "lost")
        raise RuntimeError("caller failed")
    assert _record(db, audit, 1) == [2]
    assert _verify(db, audit).ok


def test_changed_column_is_found(db: ConnectionPool, audit: AuditLog, owner_url: str) -> None:
    _record(db, audit, 5)
    _tamper(owner_url, "UPDATE audit_event SET object_id = 'other' WHERE seq = 3")
    report = _verify(db, audit)
    assert not report.ok
    assert report.broken_seq == 3 and "changed" in (report.problem or "")


def test_changed_detail_is_found(db: ConnectionPool, audit: AuditLog, owner_url: str) -> None:
    _record(db, audit, 3)
    _tamper(owner_url, """UPDATE audit_event SET detail = '{"n": 99}' WHERE seq = 2""")
    report = _verify(db, audit)
    assert not report.ok and report.broken_seq == 2


def test_deleted_middle_row_is_found(db: ConnectionPool, audit: AuditLog, owner_url: str) -> None:
    _record(db, audit, 5)
    _tamper(owner_url, "DELETE FROM audit_event WHERE seq = 3")
    report = _verify(db, audit)
    assert not report.ok
    assert report.broken_seq == 3 and "deleted" in (report.problem or "")


def test_cut_off_tail_is_found_by_checkpoint(
    db: ConnectionPool, audit: AuditLog, owner_url: str
) -> None:
    _record(db, audit, 5)
    with db.connection() as conn:
        assert audit.checkpoint(conn).ok
    _tamper(owner_url, "DELETE FROM audit_event WHERE seq >= 4")
    report = _verify(db, audit)
    assert not report.ok
    assert report.broken_seq == 4 and "cut-off tail" in (report.problem or "")
    # The checkpoint never moves back over a broken chain.
    with db.connection() as conn:
        assert not audit.checkpoint(conn).ok
    cp = audit.read_checkpoint()
    assert cp is not None and cp.seq == 5


def test_forged_row_without_key_is_found(
    db: ConnectionPool, audit: AuditLog, owner_url: str
) -> None:
    _record(db, audit, 2)
    other = AuditLog(b"k" * 32, audit.checkpoint_path.with_name("other.json"))
    with db.connection() as conn, conn.transaction():
        other.record(conn, None, "forged")
    report = _verify(db, audit)
    assert not report.ok and report.broken_seq == 3


def test_cli_verify_exits_1_on_a_break(
    db: ConnectionPool, audit: AuditLog, owner_url: str, settings: Settings
) -> None:
    _record(db, audit, 3)
    env = {
        **os.environ,
        "VBS_DATABASE_URL": owner_url,
        "VBS_DATA_DIR": str(settings.data_dir),
        "VBS_APP_DB_ROLE": settings.app_db_role,
    }
    cmd = [sys.executable, "-m", "vbs", "audit", "verify"]
    ok = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    _tamper(owner_url, "UPDATE audit_event SET action = 'x' WHERE seq = 2")
    bad = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "BROKEN at seq 2" in bad.stdout


def test_concurrent_records_stay_gapless(db: ConnectionPool, audit: AuditLog) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            _record(db, audit, 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = _verify(db, audit)
    assert report.ok and report.last_seq == 40


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_event SET action = 'x'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ],
)
def test_owner_is_refused_changes(
    db: ConnectionPool, audit: AuditLog, owner_url: str, sql: str
) -> None:
    _record(db, audit, 1)
    with psycopg.connect(owner_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql.encode())


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_event SET action = 'x'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_event_no_truncate ON audit_event",
        "SET session_replication_role = replica",
    ],
)
def test_app_role_cannot_change_or_alter(
    db: ConnectionPool, audit: AuditLog, app_url: str, sql: str
) -> None:
    _record(db, audit, 1)
    with psycopg.connect(app_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql.encode())
    assert _verify(db, audit).ok


def test_key_file_created_once_private(tmp_path: Path) -> None:
    path = tmp_path / "d" / "audit.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key


def test_key_from_setting(settings: Settings) -> None:
    from pydantic import SecretStr

    s = settings.model_copy(update={"audit_key": SecretStr("a-configured-secret-key")})
    log = audit_log_from_settings(s)
    assert not (s.data_dir / "audit.key").exists()
    assert log.checkpoint_path == s.audit_checkpoint_file()


def test_detail_refuses_personal_keys(db: ConnectionPool, audit: AuditLog) -> None:
    with db.connection() as conn, conn.transaction(), pytest.raises(ValueError):
        audit.record(conn, None, "check.create", detail={"surname": "x"})
    assert _record(db, audit, 1) == [1]
