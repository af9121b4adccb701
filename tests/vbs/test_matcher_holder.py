"""The matcher holder's concurrency: matches run at once, list changes wait for them (and
they for a change being applied), and matching only reads the index."""

from __future__ import annotations

import threading
import time

from psycopg_pool import ConnectionPool

from matching.identity import Identity, PartialDate
from matching.index import ALL_LISTS
from tests.vbs.checks_support import bar, new_holder
from vbs.audit import AuditLog
from vbs.db import transaction
from vbs.services.matcher_holder import ReadWriteLock


def test_readers_share_the_lock_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    log: list[str] = []
    first_in = threading.Event()
    release_first = threading.Event()

    def reader(name: str, hold: threading.Event | None) -> None:
        with lock.read():
            log.append(f"{name} in")
            if hold is not None:
                first_in.set()
                hold.wait(5)
            log.append(f"{name} out")

    def writer() -> None:
        with lock.write():
            log.append("writer in")

    a = threading.Thread(target=reader, args=("a", release_first))
    a.start()
    assert first_in.wait(5)
    b = threading.Thread(target=reader, args=("b", None))
    b.start()
    b.join(5)
    assert not b.is_alive()  # a second reader does not wait for the first
    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.1)
    assert "writer in" not in log  # the writer waits for the reader still inside
    c = threading.Thread(target=reader, args=("c", None))
    c.start()
    time.sleep(0.1)
    assert "c in" not in log  # a waiting writer holds back new readers
    release_first.set()
    for t in (a, w, c):
        t.join(5)
    assert log.index("a out") < log.index("writer in") < log.index("c in")


def test_a_refresh_leaves_the_index_settled_so_matching_only_reads_it(
    db: ConnectionPool, audit: AuditLog
) -> None:
    """The index would otherwise sort its delta (and merge it when grown) at a lookup, a
    write under a lock that only readers hold."""
    bar(db, audit, "Alice Mary", "Oyelaran", "1980-03-12")
    holder = new_holder()
    with transaction(db) as conn:
        holder.load(conn)
    bar(db, audit, "Bola", "Adeyemi", "1975-06-01")
    with transaction(db) as conn:
        assert holder.prepare(conn) == 2
    index = holder._index
    assert index is not None
    before = (index._bk, index._bv, index._delta_sorted)
    assert before[2] is not None  # the delta's sort order was built at the refresh
    person = Identity("Bola", "Adeyemi", PartialDate(1975, 6, 1))
    result, version = holder.match_now(person, ALL_LISTS)
    assert version == 2 and result.band == "match"
    after = (index._bk, index._bv, index._delta_sorted)
    assert all(x is y for x, y in zip(before, after, strict=True))


def test_matches_go_on_while_list_changes_are_applied(db: ConnectionPool, audit: AuditLog) -> None:
    """Threads matching and a thread barring people: every match is at a version the index
    really had, and nothing fails."""
    holder = new_holder()
    with transaction(db) as conn:
        holder.load(conn)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []
    person = Identity("Alice Mary", "Oyelaran", PartialDate(1980, 3, 12))

    def matcher() -> None:
        try:
            while not stop.is_set():
                with db.connection() as conn:
                    conn.autocommit = True
                    holder.prepare(conn)
                    conn.autocommit = False
                _, version = holder.match_now(person, ALL_LISTS)
                seen.append(version)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=matcher) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(5):
        bar(db, audit, "Person", f"Number{i}", f"197{i}-01-01")
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors
    with transaction(db) as conn:
        assert holder.prepare(conn) == 5
    assert holder.size == 5 and holder.rebuilds == 1
    assert seen and max(seen) <= 5
    result, _ = holder.match_now(Identity("Person", "Number3", PartialDate(1973, 1, 1)), 3)
    assert result.band == "match"
