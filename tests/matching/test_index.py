"""ListIndex: add, remove, replace, version, bulk build, without a full rebuild."""

from __future__ import annotations

import numpy as np
import pytest

from matching.engine import Engine
from matching.identity import Identity, Name, PartialDate
from matching.index import LIST_CHILDREN, ListIndex
from tests.matching.cases import background

ALICE = Identity("Alice", "Featherstonehaugh", PartialDate(1979, 4, 1))


def test_add_remove_contains_len() -> None:
    index = ListIndex()
    index.add_many(background())
    n = len(index)
    index.add("alice", ALICE)
    assert "alice" in index and len(index) == n + 1
    engine = Engine(index)
    assert engine.match(ALICE).best is not None
    assert engine.match(ALICE).best.key == "alice"  # type: ignore[union-attr]
    assert index.remove("alice") is True
    assert "alice" not in index and len(index) == n
    assert index.remove("alice") is False
    assert engine.match(ALICE).candidates == ()


def test_re_adding_a_key_replaces_the_entry() -> None:
    index = ListIndex()
    index.add("k", ALICE)
    index.add("k", Identity("Bertram", "Quimby", PartialDate(1960, 1, 2)))
    assert len(index) == 1
    engine = Engine(index)
    assert engine.match(ALICE).band == "no_match"
    assert engine.match(Identity("Bertram", "Quimby", PartialDate(1960, 1, 2))).band == "match"


def test_duplicate_key_inside_one_bulk_add_keeps_the_last() -> None:
    index = ListIndex()
    index.add_many([("k", ALICE, 3), ("k", Identity("Bertram", "Quimby"), 3)])
    assert len(index) == 1
    assert Engine(index).match(ALICE).band == "no_match"


def test_incremental_adds_merge_without_rebuild_and_frequencies_follow() -> None:
    index = ListIndex()
    index.COMPACT_MIN = 10  # force several merges of the delta
    index.add_many(background())
    for i in range(40):
        index.add(f"n{i}", Identity("Neville", "Quimby", PartialDate(1950 + i, 1, 1)))
    assert len(index) == len(background()) + 40
    quimby = index.vocab.get("quimby")
    assert quimby is not None and index.vocab.sn_count.a[quimby] == 40
    for i in range(10):
        index.remove(f"n{i}")
    assert index.vocab.sn_count.a[quimby] == 30
    engine = Engine(index)
    hit = engine.match(Identity("Neville", "Quimby", PartialDate(1975, 1, 1)))
    assert hit.best is not None and hit.best.key == "n25"
    gone = engine.match(Identity("Neville", "Quimby", PartialDate(1955, 1, 1)))
    assert all(c.key != "n5" for c in gone.candidates)


def test_previous_names_are_indexed() -> None:
    index = ListIndex()
    index.add("w", Identity("Jane", "Pennington", PartialDate(1983, 8, 19),
                            (Name("Jane", "Ashworth"),)))  # fmt: skip
    best = Engine(index).match(Identity("Jane", "Ashworth", PartialDate(1983, 8, 19))).best
    assert best is not None and best.key == "w" and best.name_pairing[1] == 1


def test_version_and_list_mask() -> None:
    index = ListIndex()
    index.version = 7
    index.add("c", ALICE, LIST_CHILDREN)
    assert index.version == 7
    with pytest.raises(ValueError, match="lists"):
        index.add("bad", ALICE, 0)


def test_storage_is_columnar() -> None:
    index = ListIndex()
    index.add_many(background())
    assert isinstance(index.year.a, np.ndarray) and index.year.a.dtype == np.int16
    assert isinstance(index.r_sur.a, np.ndarray) and len(index.r_sur.a) == len(index)
