from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vbs.principal import Principal
from vbs.services import barred_list as bl
from vbs.services.barred_list import DuplicateCandidate, EntryInput, NewEntry

CASEWORKER = Principal(role="caseworker", user_id=uuid.uuid4(), org_id=uuid.uuid4())
EMPLOYER = Principal(role="employer", user_id=uuid.uuid4(), org_id=uuid.uuid4())

HEADER = "list_id,forenames,surname,date_of_birth,previous_names,lists,gender\n"


def person(**kw: object) -> EntryInput:
    base: dict[str, object] = {
        "forenames": "Alice Mary",
        "surname": "Oyelaran",
        "date_of_birth": "1980-03-12",
        "lists": "children",
    }
    base.update(kw)
    return EntryInput(**base)  # type: ignore[arg-type]


def audit_actions(conn: psycopg.Connection) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT action, detail::text FROM audit_event ORDER BY seq").fetchall()
    return [(r[0], r[1]) for r in rows]


def test_add_and_remove_bump_the_version_with_history(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        assert bl.current_version(conn) == 0
        added = bl.add_entry(conn, audit, CASEWORKER, person(), reason="case decision")
    assert added.version == 1
    with transaction(db) as conn:
        second = bl.add_entry(
            conn,
            audit,
            CASEWORKER,
            person(forenames="Bob", previous_names=["Robert Smith"], lists="children|adults"),
            reason="case decision",
        )
        assert second.version == 2
        removed = bl.remove_entry(conn, audit, CASEWORKER, added.entry_id, reason="appeal")
        assert removed == 3
    with transaction(db) as conn:
        assert bl.current_version(conn) == 3
        hist = bl.history(conn)
        assert [(h.version, h.kind, h.entry_id) for h in hist] == [
            (1, "add", added.entry_id),
            (2, "add", second.entry_id),
            (3, "remove", added.entry_id),
        ]
        assert all(h.by_user == CASEWORKER.user_id for h in hist)
        entry = bl.get_entry(conn, second.entry_id)
        assert entry.lists == bl.LIST_CHILDREN | bl.LIST_ADULTS
        assert entry.previous_names == (bl.PreviousName("Robert", "Smith"),)
        assert bl.get_entry(conn, added.entry_id).status == "removed"
        actions = audit_actions(conn)
    assert [a for a, _ in actions] == ["list.add", "list.add", "list.remove"]
    # The audit detail never holds the names or the date of birth.
    assert not any("Oyelaran" in d or "1980" in d for _, d in actions)


def test_remove_twice_and_unknown(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        added = bl.add_entry(conn, audit, CASEWORKER, person(), reason="r")
        bl.remove_entry(conn, audit, CASEWORKER, added.entry_id, reason="r")
    with transaction(db) as conn, pytest.raises(Conflict):
        bl.remove_entry(conn, audit, CASEWORKER, added.entry_id, reason="r")
    with transaction(db) as conn, pytest.raises(NotFound):
        bl.remove_entry(conn, audit, CASEWORKER, uuid.uuid4(), reason="r")
    with transaction(db) as conn:
        assert bl.current_version(conn) == 2  # the refused removals took no version


def test_employer_cannot_change_the_list(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn, pytest.raises(Forbidden):
        bl.add_entry(conn, audit, EMPLOYER, person(), reason="r")


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("forenames", person(forenames="  ")),
        ("forenames", person(forenames="Ann\x00")),
        ("surname", person(surname="Lee\ud800")),
        ("surname", person(surname="x" * 201)),
        ("date_of_birth", person(date_of_birth="1980-02-30")),
        ("date_of_birth", person(date_of_birth="2999")),
        ("date_of_birth", person(date_of_birth="12/03/1980")),
        ("date_of_birth", person(date_of_birth="1980-13")),
        ("lists", person(lists="teachers")),
        ("gender", person(gender="x")),
        ("previous_names[0]", person(previous_names=[" "])),
    ],
)
def test_bad_fields_are_named(
    db: ConnectionPool, audit: AuditLog, field: str, raw: EntryInput
) -> None:
    with transaction(db) as conn, pytest.raises(ValidationFailed) as err:
        bl.add_entry(conn, audit, CASEWORKER, raw, reason="r")
    assert [e.field for e in err.value.errors] == [field]
    # Messages never echo the value given.
    assert "1980" not in str(err.value) and "teachers" not in str(err.value)


def test_partial_dates_accepted(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        a = bl.add_entry(conn, audit, CASEWORKER, person(date_of_birth="1975"), reason="r")
        b = bl.add_entry(conn, audit, CASEWORKER, person(date_of_birth="1975-06"), reason="r")
        c = bl.add_entry(conn, audit, CASEWORKER, person(date_of_birth=""), reason="r")
        assert bl.get_entry(conn, a.entry_id).date_of_birth == "1975"
        assert bl.get_entry(conn, b.entry_id).date_of_birth == "1975-06"
        assert bl.get_entry(conn, c.entry_id).date_of_birth is None


def test_import_csv_with_copy_at_one_version(db: ConnectionPool, audit: AuditLog) -> None:
    rows = [
        f"L{i},Person{i} Middle,Surname{i},19{50 + i % 40}-0{1 + i % 9}-1{i % 9},,children,"
        for i in range(500)
    ]
    rows[7] = "L7,Zoë,Müller,1970,Zoe Smith|Jones,children|adults,female"
    text = HEADER + "\n".join(rows) + "\n"
    with transaction(db) as conn:
        result = bl.import_csv(conn, audit, CASEWORKER, text.encode())
    assert result.version == 1 and result.count == 500
    with transaction(db) as conn:
        active = bl.load_active(conn)
        entries = list(active.entries)
        assert active.version == 1
        assert len(entries) == 500
        zoe = next(e for e in entries if e.list_ref == "L7")
        assert (zoe.forenames, zoe.surname, zoe.date_of_birth) == ("Zoë", "Müller", "1970")
        assert zoe.previous_names == (
            bl.PreviousName("Zoe", "Smith"),
            bl.PreviousName("Zoë", "Jones"),
        )
        assert zoe.lists == 3 and zoe.gender == "female"
        hist = bl.history(conn, limit=1000)
        assert len(hist) == 500 and {h.version for h in hist} == {1}
        assert [a for a, _ in audit_actions(conn)] == ["list.import"]


def test_import_reports_every_bad_line_and_writes_nothing(
    db: ConnectionPool, audit: AuditLog
) -> None:
    text = (
        HEADER
        + "A1,Ann,Smith,1980-01-01,,children,\n"  # line 2: fine
        + "A2,,Smith,1980-01-01,,children,\n"  # line 3: empty forenames
        + "A3,Ann,Smith,1980-02-31,,adults,\n"  # line 4: impossible date
        + "A1,Ann,Smith,1980-01-01,,adults,\n"  # line 5: repeated list_id
        + "A5,Ann,Smith,1980-01-01,,teachers,\n"  # line 6: bad lists
        + "A6,Ann,Smith\n"  # line 7: short row
        + "A7,Ann,Smith,1980-01-01,,children,x\n"  # line 8: bad gender
    )
    with transaction(db) as conn, pytest.raises(ValidationFailed) as err:
        bl.import_csv(conn, audit, CASEWORKER, text.encode())
    fields = [e.field for e in err.value.errors]
    assert fields == [
        "line 3: forenames",
        "line 4: date_of_birth",
        "line 5: list_id",
        "line 6: lists",
        "line 7",
        "line 8: gender",
    ]
    assert "line 2" not in str(err.value)
    with transaction(db) as conn:
        assert bl.current_version(conn) == 0
        assert conn.execute("SELECT count(*) FROM barred_entry").fetchone() == (0,)


def test_import_header_and_encoding_errors(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn, pytest.raises(ValidationFailed) as err:
        bl.import_csv(conn, audit, CASEWORKER, b"list_id,forenames,surname\nA,B,C\n")
    assert {e.message for e in err.value.errors} == {
        "missing column date_of_birth",
        "missing column previous_names",
        "missing column lists",
    }
    with transaction(db) as conn, pytest.raises(ValidationFailed) as err:
        bl.import_csv(conn, audit, CASEWORKER, HEADER.encode() + b"A,\xff\xfe,C,,,children,\n")
    assert err.value.errors[0].field == "file"
    with transaction(db) as conn, pytest.raises(ValidationFailed):
        bl.import_csv(conn, audit, CASEWORKER, HEADER.encode())


def test_import_refuses_a_list_id_already_listed(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        bl.import_csv(conn, audit, CASEWORKER, (HEADER + "X1,Ann,Lee,1990,,adults,\n").encode())
    text = HEADER + "X2,Bo,Lee,1990,,adults,\nX1,Ann,Lee,1990,,adults,\n"
    with transaction(db) as conn, pytest.raises(ValidationFailed) as err:
        bl.import_csv(conn, audit, CASEWORKER, io.StringIO(text))
    assert [e.field for e in err.value.errors] == ["line 3: list_id"]


def test_changes_since_in_order(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        a = bl.add_entry(conn, audit, CASEWORKER, person(), reason="r")
        b = bl.add_entry(conn, audit, CASEWORKER, person(forenames="Bea"), reason="r")
        bl.remove_entry(conn, audit, CASEWORKER, a.entry_id, reason="r")
    with transaction(db) as conn:
        changes = bl.changes_since(conn, 0)
        assert [(c.version, c.kind, c.entry_id) for c in changes] == [
            (1, "add", a.entry_id),
            (2, "add", b.entry_id),
            (3, "remove", a.entry_id),
        ]
        assert changes[1].entry is not None and changes[1].entry.forenames == "Bea"
        assert changes[2].entry is None
        assert [c.version for c in bl.changes_since(conn, 2)] == [3]
        assert bl.changes_since(conn, 3) == []
        active = bl.load_active(conn)
        assert active.version == 3
        assert [e.id for e in active.entries] == [b.entry_id]


def test_load_active_empty_list(db: ConnectionPool) -> None:
    with transaction(db) as conn:
        active = bl.load_active(conn)
        assert active.version == 0 and list(active.entries) == []


def test_concurrent_writers_commit_versions_in_order(db: ConnectionPool, audit: AuditLog) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(5):
                with transaction(db) as conn:
                    bl.add_entry(conn, audit, CASEWORKER, person(forenames=f"W{n}x{i}"), reason="r")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with transaction(db) as conn:
        versions = [c.version for c in bl.changes_since(conn, 0)]
    assert versions == list(range(1, 16))


class FixedFinder:
    """A duplicate finder answering from a table (the real one is the matcher holder)."""

    def __init__(self, answer: dict[str, list[DuplicateCandidate]]) -> None:
        self.answer = answer
        self.seen: list[str] = []

    def find(
        self, conn: psycopg.Connection, entries: Sequence[NewEntry]
    ) -> list[list[DuplicateCandidate]]:
        self.seen.extend(e.forenames for e in entries)
        # Called before anything is written: the list version has not moved yet.
        self.version_seen = bl.current_version(conn)
        return [self.answer.get(e.forenames, []) for e in entries]


def test_duplicates_are_stored_and_returned(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        first = bl.add_entry(conn, audit, CASEWORKER, person(), reason="r")
    cand = DuplicateCandidate(first.entry_id, "match", 0.99, "test-1")
    finder = FixedFinder({"Alice Mary": [cand]})
    with transaction(db) as conn:
        again = bl.add_entry(conn, audit, CASEWORKER, person(), reason="r", finder=finder)
    assert again.duplicates == [cand]
    assert finder.version_seen == 1
    with transaction(db) as conn:
        stored = bl.duplicates_of(conn, again.entry_id)
    assert [(d.duplicate_of, d.band) for d in stored] == [(first.entry_id, "match")]
    text = HEADER + "N1,Alice Mary,Oyelaran,1980-03-12,,children,\nN2,Zed,Other,1990,,adults,\n"
    with transaction(db) as conn:
        imported = bl.import_csv(conn, audit, CASEWORKER, text.encode(), finder=finder)
    assert [(line, cands) for line, _, cands in imported.duplicates] == [(2, [cand])]


def test_purged_identity_keeps_history(db: ConnectionPool, audit: AuditLog) -> None:
    from vbs.repo import barred_list as repo

    with transaction(db) as conn:
        a = bl.add_entry(conn, audit, CASEWORKER, person(), reason="r")
        assert not repo.purge_identity(conn, a.entry_id)  # a barred entry keeps its identity
        bl.remove_entry(conn, audit, CASEWORKER, a.entry_id, reason="r")
        assert repo.purge_identity(conn, a.entry_id)
        entry = bl.get_entry(conn, a.entry_id)
        assert entry.forenames is None and entry.date_of_birth is None
        assert [c.kind for c in bl.changes_since(conn, 0)] == ["add", "remove"]
        assert bl.changes_since(conn, 0)[0].entry is None


def test_barred_on_defaults_to_today(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        a = bl.add_entry(conn, audit, CASEWORKER, person(barred_on=date(2020, 5, 1)), reason="r")
        assert bl.get_entry(conn, a.entry_id).barred_on == date(2020, 5, 1)


@pytest.fixture
def cli_env(
    db: ConnectionPool, owner_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    from vbs.config import get_settings

    monkeypatch.setenv("VBS_DATABASE_URL", owner_url)
    monkeypatch.setenv("VBS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VBS_APP_DB_ROLE", "vbs_app")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_list_import_and_show_version(
    cli_env: Path, db: ConnectionPool, capsys: pytest.CaptureFixture[str]
) -> None:
    from vbs.cli import main

    good = cli_env / "list.csv"
    good.write_text(HEADER + "C1,Ann,Lee,1990-01-02,,children,\nC2,Bo,Ng,1985,,adults,f\n")
    assert main(["list", "import", str(good), "--no-duplicates"]) == 0
    out = capsys.readouterr().out
    assert "imported 2 entries at list version 1" in out
    assert main(["list", "show-version"]) == 0
    assert "list version 1: 2 barred entries" in capsys.readouterr().out

    bad = cli_env / "bad.csv"
    bad.write_text(HEADER + "D1,Ann,Lee,1990-01-02,,children,\nD2,,Ng,19xx,,adults,\n")
    assert main(["list", "import", str(bad), "--no-duplicates"]) == 1
    err = capsys.readouterr().err
    assert "line 3: forenames: must not be empty" in err
    assert "line 3: date_of_birth" in err and "nothing was imported" in err
    assert "19xx" not in err
    with transaction(db) as conn:
        assert bl.current_version(conn) == 1
    assert main(["list", "import", str(cli_env / "missing.csv")]) == 2


def test_cli_import_reports_likely_duplicates(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vbs.cli import main

    first = cli_env / "first.csv"
    first.write_text(HEADER + "P1,Ottoline Mary,Quarrington,1966-11-23,,children,\n")
    assert main(["list", "import", str(first)]) == 0
    assert "0 new entries look like someone already listed" in capsys.readouterr().out
    again = cli_env / "again.csv"
    again.write_text(
        HEADER
        + "P2,Other,Person,1950-01-01,,adults,\n"
        + "P3,Ottoline Mary,Quarrington,1966-11-23,,adults,\n"
    )
    assert main(["list", "import", str(again)]) == 0
    out = capsys.readouterr().out
    assert "1 new entries look like someone already listed" in out
    assert "line 3: entry" in out


def test_two_imports_of_one_list_id_at_once(db: ConnectionPool, audit: AuditLog) -> None:
    """The second import waits for the list lock, then finds the list_id taken: a clear
    line-numbered error, not a unique-violation crash."""
    import time

    text = (HEADER + "Q1,Ann,Lee,1990,,adults,\n").encode()
    first_holds_lock = threading.Event()
    outcome: list[object] = []

    def second() -> None:
        first_holds_lock.wait()
        try:
            with transaction(db) as conn:
                bl.import_csv(conn, audit, CASEWORKER, text)
            outcome.append("imported")
        except ValidationFailed as exc:
            outcome.append([e.field for e in exc.errors])

    t = threading.Thread(target=second)
    t.start()
    with transaction(db) as conn:
        bl.import_csv(conn, audit, CASEWORKER, text)
        first_holds_lock.set()
        time.sleep(0.5)  # the second import is now blocked on the list version lock
    t.join()
    assert outcome == [["line 2: list_id"]]
    with transaction(db) as conn:
        assert bl.current_version(conn) == 1


def test_purge_identity_service(db: ConnectionPool, audit: AuditLog) -> None:
    with transaction(db) as conn:
        a = bl.add_entry(conn, audit, CASEWORKER, person(), reason="r")
        with pytest.raises(Conflict), conn.transaction():
            bl.purge_identity(conn, audit, CASEWORKER, a.entry_id)
        with pytest.raises(Forbidden), conn.transaction():
            bl.purge_identity(conn, audit, EMPLOYER, a.entry_id)
        bl.remove_entry(conn, audit, CASEWORKER, a.entry_id, reason="r")
        bl.purge_identity(conn, audit, CASEWORKER, a.entry_id)
        assert bl.get_entry(conn, a.entry_id).surname is None
        with pytest.raises(Conflict), conn.transaction():
            bl.purge_identity(conn, audit, CASEWORKER, a.entry_id)
        assert [x for x, _ in audit_actions(conn)][-1] == "list.purge_identity"
        assert [h.kind for h in bl.history(conn, entry_id=a.entry_id)] == ["add", "remove"]


class BrokenFinder:
    def find(
        self, conn: psycopg.Connection, entries: Sequence[NewEntry]
    ) -> list[list[DuplicateCandidate]]:
        raise RuntimeError("index corrupted")


def test_a_matcher_fault_writes_nothing(db: ConnectionPool, audit: AuditLog) -> None:
    from vbs.errors import ServiceUnavailable

    with transaction(db) as conn, pytest.raises(ServiceUnavailable):
        bl.add_entry(conn, audit, CASEWORKER, person(), reason="r", finder=BrokenFinder())
    text = HEADER + "M1,Ann,Lee,1990,,adults,\n"
    with transaction(db) as conn, pytest.raises(ServiceUnavailable):
        bl.import_csv(conn, audit, CASEWORKER, text.encode(), finder=BrokenFinder())
    with transaction(db) as conn:
        assert bl.current_version(conn) == 0
        assert conn.execute("SELECT count(*) FROM barred_entry").fetchone() == (0,)
