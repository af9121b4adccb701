"""The append-only, hash-chained audit trail.

Each event is one row of ``audit_event``, written inside the caller's transaction by
:meth:`AuditLog.record`. Appends are serialised by a transaction-scoped advisory lock, so
``seq`` is gapless (1, 2, 3...) and every event links to the one before it:

    mac = HMAC-SHA256(key, canonical(event) || prev_mac)       (prev_mac of seq 1: 32 zeros)

``canonical(event)`` is compact JSON of the event's columns in a fixed order, with the
detail in PostgreSQL's own jsonb text form. The key is a secret the database never holds
(``VBS_AUDIT_KEY``, else a random key created once at ``<data_dir>/audit.key``, mode 0600),
so someone who can write to the database still cannot forge a consistent chain.

Because the advisory lock is held until commit, callers record the event last in their
transaction.

**Checkpoint.** The chain alone cannot show that its newest rows were cut off, so the
latest (seq, mac) is also kept outside the database in a small JSON file
(``settings.audit_checkpoint_file()``). :meth:`AuditLog.checkpoint` is called after commit
(by CLI commands after their transaction, and by the API every few seconds and at
shutdown): it verifies the events appended since the last checkpoint, and only if they
are intact writes the new head atomically (temporary file + rename, under an exclusive
``flock`` so that processes never move it backwards). A checkpoint is never written for
uncommitted rows, so a rollback cannot cause a false alarm.

:meth:`AuditLog.verify` walks the whole chain and names the first broken link: a changed
column (MAC mismatch), a deleted row (a gap in seq, or a broken prev_mac link), and a cut
tail (the checkpoint is ahead of the table, or its MAC differs from the row's).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from vbs.config import Settings
from vbs.principal import Principal
from vbs.repo import audit as repo

GENESIS_MAC = bytes(32)
KEY_FILE_NAME = "audit.key"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    mac: bytes


@dataclass(slots=True)
class VerifyReport:
    ok: bool
    events: int = 0
    last_seq: int = 0
    checkpoint: Checkpoint | None = None
    broken_seq: int | None = None
    problem: str | None = None
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.ok:
            cp = f"; checkpoint at seq {self.checkpoint.seq}" if self.checkpoint else ""
            return f"audit chain intact: {self.events} event(s), last seq {self.last_seq}{cp}"
        return f"audit chain BROKEN at seq {self.broken_seq}: {self.problem}"


def _canonical(row: repo.AuditRow) -> bytes:
    content = [
        row.seq,
        row.occurred_at.astimezone(UTC).isoformat(),
        row.actor_role,
        str(row.actor_user_id) if row.actor_user_id else None,
        str(row.actor_org_id) if row.actor_org_id else None,
        str(row.actor_api_key_id) if row.actor_api_key_id else None,
        row.ip,
        row.action,
        row.object_type,
        row.object_id,
        row.detail_text,
    ]
    return json.dumps(content, separators=(",", ":"), ensure_ascii=True).encode()


# Detail keys that would carry personal data: refused outright (a programming error).
PERSONAL_KEYS = frozenset(
    {
        "name",
        "names",
        "full_name",
        "forenames",
        "surname",
        "previous_names",
        "date_of_birth",
        "dob",
        "email",
        "password",
        "totp",
    }
)


def _check_detail(detail: Mapping[str, object]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in detail.items():
        if not isinstance(k, str):
            raise TypeError("audit detail keys must be strings")
        if k.lower() in PERSONAL_KEYS:
            raise ValueError(f"audit detail must not hold personal data (key {k!r})")
        out[k] = v
    return out


class AuditLog:
    def __init__(self, key: bytes, checkpoint_path: Path) -> None:
        if len(key) < 16:
            raise ValueError("the audit key must be at least 16 bytes")
        self._key = key
        self.checkpoint_path = checkpoint_path

    # --- writing --------------------------------------------------------------------

    def mac(self, row: repo.AuditRow) -> bytes:
        return hmac.new(self._key, _canonical(row) + row.prev_mac, hashlib.sha256).digest()

    def record(
        self,
        conn: psycopg.Connection,
        principal: Principal | None,
        action: str,
        object_type: str | None = None,
        object_id: str | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> int:
        """Append one event in the caller's transaction; return its seq.

        ``detail`` must never hold names or dates of birth: counts, ids, outcomes only.
        """
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and conn.autocommit:
            raise RuntimeError("AuditLog.record needs an open transaction")
        last_seq, last_mac, detail_text = repo.lock_and_head(conn, _check_detail(detail or {}))
        p = principal
        partial = repo.AuditRow(
            seq=last_seq + 1,
            occurred_at=datetime.now(UTC),
            actor_role=p.role if p else "system",
            actor_user_id=p.user_id if p else None,
            actor_org_id=p.org_id if p else None,
            actor_api_key_id=p.api_key_id if p else None,
            ip=p.ip if p else None,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail_text=detail_text,
            prev_mac=last_mac if last_mac is not None else GENESIS_MAC,
            mac=b"",
        )
        row = repo.AuditRow(**{**_asdict(partial), "mac": self.mac(partial)})
        repo.insert(conn, row)
        return row.seq

    # --- checkpoint -----------------------------------------------------------------

    def read_checkpoint(self) -> Checkpoint | None:
        try:
            data = json.loads(self.checkpoint_path.read_text())
            return Checkpoint(seq=int(data["seq"]), mac=bytes.fromhex(data["mac"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"unreadable audit checkpoint {self.checkpoint_path}") from exc

    @contextlib.contextmanager
    def _checkpoint_lock(self) -> Iterator[None]:
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.checkpoint_path.with_name(self.checkpoint_path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write_checkpoint(self, cp: Checkpoint) -> None:
        tmp = self.checkpoint_path.with_name(
            f".{self.checkpoint_path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        )
        payload = {
            "seq": cp.seq,
            "mac": cp.mac.hex(),
            "written_at": datetime.now(UTC).isoformat(),
        }
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.checkpoint_path)

    def checkpoint(self, conn: psycopg.Connection) -> VerifyReport:
        """Verify events committed since the last checkpoint; if intact, move it forward.

        Call after commit (never for rows that may still roll back). Returns the report of
        the incremental check; on a break the checkpoint is left where it was.
        """
        with self._checkpoint_lock():
            current = self.read_checkpoint()
            with conn.transaction():
                report = self._verify(conn, current, incremental=True)
            if report.ok and report.last_seq > (current.seq if current else 0):
                head_row = None
                with conn.transaction():
                    head_row = repo.get(conn, report.last_seq)
                if head_row is not None:
                    self._write_checkpoint(Checkpoint(seq=head_row.seq, mac=head_row.mac))
            return report

    # --- verifying ------------------------------------------------------------------

    def verify(self, conn: psycopg.Connection) -> VerifyReport:
        """Walk the whole chain from seq 1 and compare its head with the checkpoint."""
        checkpoint = self.read_checkpoint()
        with conn.transaction():
            return self._verify(conn, checkpoint, incremental=False)

    def _verify(
        self, conn: psycopg.Connection, checkpoint: Checkpoint | None, *, incremental: bool
    ) -> VerifyReport:
        report = VerifyReport(ok=True, checkpoint=checkpoint)

        def broken(seq: int, problem: str) -> VerifyReport:
            report.ok = False
            if report.broken_seq is None:
                report.broken_seq = seq
                report.problem = problem
            report.problems.append(f"seq {seq}: {problem}")
            return report

        start = 0
        prev_mac = GENESIS_MAC
        if incremental and checkpoint is not None:
            anchor = repo.get(conn, checkpoint.seq)
            if anchor is None:
                return broken(checkpoint.seq, "the checkpointed event is missing (cut-off tail)")
            if not hmac.compare_digest(anchor.mac, checkpoint.mac):
                return broken(checkpoint.seq, "the event's MAC differs from the checkpoint")
            if not hmac.compare_digest(self.mac(anchor), anchor.mac):
                return broken(checkpoint.seq, "content changed (MAC mismatch)")
            start, prev_mac = anchor.seq, anchor.mac
            report.last_seq = anchor.seq

        expected = start + 1
        for row in repo.iter_from(conn, start):
            report.events += 1
            if row.seq != expected:
                missing = (
                    f"seq {expected}"
                    if row.seq == expected + 1
                    else f"seq {expected}..{row.seq - 1}"
                )
                return broken(expected, f"event(s) deleted: {missing} missing before seq {row.seq}")
            if not hmac.compare_digest(row.prev_mac, prev_mac):
                return broken(row.seq, "link to the previous event broken (prev_mac differs)")
            if not hmac.compare_digest(self.mac(row), row.mac):
                return broken(row.seq, "content changed (MAC mismatch)")
            prev_mac = row.mac
            report.last_seq = row.seq
            expected += 1

        if checkpoint is not None and not incremental:
            if report.last_seq < checkpoint.seq:
                return broken(
                    report.last_seq + 1,
                    f"cut-off tail: the table ends at seq {report.last_seq} but the checkpoint "
                    f"records seq {checkpoint.seq}",
                )
            row_at = repo.get(conn, checkpoint.seq)
            if row_at is None or not hmac.compare_digest(row_at.mac, checkpoint.mac):
                return broken(checkpoint.seq, "the event's MAC differs from the checkpoint")
        return report


def _asdict(row: repo.AuditRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in repo.AuditRow.__slots__}


def load_or_create_key(path: Path) -> bytes:
    """The key file's bytes; created once (32 random bytes, hex, mode 0600) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text().strip()
        if not text:
            raise RuntimeError(f"the audit key file {path} is empty") from None
        return bytes.fromhex(text)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def audit_log_from_settings(settings: Settings) -> AuditLog:
    if settings.audit_key is not None:
        key = settings.audit_key.get_secret_value().encode()
    else:
        key = load_or_create_key(settings.data_dir.resolve() / KEY_FILE_NAME)
    return AuditLog(key, settings.audit_checkpoint_file())
