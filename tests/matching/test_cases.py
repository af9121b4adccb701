"""The named cases of ``cases.py``: expected band and levels, through score_pair and match."""

from __future__ import annotations

import json

import pytest

from matching.engine import Engine
from matching.index import ListIndex
from matching.model import MATCHER_VERSION
from tests.matching.cases import CASES, Case, background


@pytest.fixture(scope="module")
def base_entries() -> list[tuple[str, object, int]]:
    return background()  # type: ignore[return-value]


def _engine(case: Case) -> Engine:
    index = ListIndex()
    index.add_many(background())
    index.add("target", case.entry)
    return Engine(index)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_named_case(case: Case) -> None:
    engine = _engine(case)
    cand = engine.score_pair(case.check, case.entry)
    levels = {f.field: f.level for f in cand.fields}
    assert cand.band == case.band, (case.name, cand.explanation())
    for fld, level in case.levels.items():
        assert levels.get(fld) == level, (case.name, fld, levels)
    # The same verdict through blocking and the engine's batch path.
    result = engine.match(case.check)
    found = {c.key: c for c in result.candidates}
    if case.band == "no_match":
        assert "target" not in found
    else:
        assert "target" in found, (case.name, "lost in blocking")
        assert found["target"].band == case.band
        assert abs(found["target"].probability - cand.probability) < 1e-9


def test_explanation_is_json_with_version_and_sentences() -> None:
    case = next(c for c in CASES if c.name == "day and month transposed")
    cand = _engine(case).score_pair(case.check, case.entry)
    data = json.loads(json.dumps(cand.explanation()))
    assert data["matcher_version"] == MATCHER_VERSION
    assert 0.0 <= data["probability"] <= 1.0
    dob = next(f for f in data["fields"] if f["field"] == "date_of_birth")
    assert dob["detail"] == "date of birth: day and month transposed (03/12/1984 vs 12/03/1984)"
    assert dob["weight"] > 0  # a transposed date is evidence for a match
    # The fields' weights and the prior (from the list's size) add up to the weight.
    from matching.model import prior_log2

    assert data["prior_weight"] == round(prior_log2(len(background()) + 1), 3)
    total = sum(f["weight"] for f in data["fields"]) + data["prior_weight"]
    assert abs(total - data["weight"]) < 0.01


def test_two_listed_namesakes_both_reach_the_caseworker() -> None:
    index = ListIndex()
    index.add_many(background())
    from tests.matching.cases import I

    index.add("a", I("Gwendolyn", "Ashcombe", "1984-03-12"))
    index.add("b", I("Gwendolyn", "Ashcombe", "1984-03-21"))
    result = Engine(index).match(I("Gwendolyn", "Ashcombe", "1984-03-12"))
    keys = [c.key for c in result.candidates]
    assert keys[0] == "a" and "b" in keys
    assert result.band == "match"
    probs = [c.probability for c in result.candidates]
    assert probs == sorted(probs, reverse=True)


def test_two_entries_matching_equally_well_are_both_held_for_a_caseworker() -> None:
    """A check is at most one listed person: when two different listed people fit it
    equally well (twins, and a check giving only an initial), neither is a `match` on its
    own; both reach the caseworker, and the explanation says why."""
    index = ListIndex()
    index.add_many(background())
    from tests.matching.cases import I

    index.add("a", I("Gwendolyn", "Ashcombe", "1984-03-12"))
    index.add("b", I("Gillian", "Ashcombe", "1984-03-12"))
    check = I("G", "Ashcombe", "1984-03-12")
    result = Engine(index).match(check)
    assert sorted(c.key for c in result.candidates) == ["a", "b"]
    assert result.band == "possible"
    for c in result.candidates:
        assert c.band == "possible" and c.probability >= 0.995
        band = [f for f in c.fields if f.field == "band"]
        assert len(band) == 1 and "1 other list entry matches this check too" in band[0].detail
    # One of them alone is a match.
    index.remove("b")
    assert Engine(index).match(check).band == "match"


def test_one_person_listed_twice_is_still_a_match() -> None:
    """Entries that match each other are one person listed twice: they do not compete."""
    index = ListIndex()
    index.add_many(background())
    from tests.matching.cases import I

    index.add("a", I("Gwendolyn", "Ashcombe", "1984-03-12"))
    index.add("b", I("Gwendolyn Mary", "Ashcombe", "1984-03-12"))
    result = Engine(index).match(I("Gwendolyn", "Ashcombe", "1984-03-12"))
    assert sorted(c.key for c in result.candidates) == ["a", "b"]
    assert result.band == "match"
    assert [c.band for c in result.candidates] == ["match", "match"]


def test_lists_filter() -> None:
    from matching.index import LIST_ADULTS, LIST_CHILDREN
    from tests.matching.cases import I

    index = ListIndex()
    index.add("kids", I("Gwendolyn", "Ashcombe", "1984-03-12"), LIST_CHILDREN)
    engine = Engine(index)
    check = I("Gwendolyn", "Ashcombe", "1984-03-12")
    assert engine.match(check, LIST_CHILDREN).band == "match"
    assert engine.match(check, LIST_ADULTS).band == "no_match"
    assert engine.match(check, LIST_ADULTS).candidates == ()


def test_gender_inferred_from_the_lists_forenames() -> None:
    """Neither side gives a gender; the list shows Patricia as female, Patrick as male."""
    from matching.identity import Identity, PartialDate

    index = ListIndex()
    index.add_many(background())
    index.add_many(
        (f"g{name}{i}", Identity(name, f"Other{i}", PartialDate(1970, 1, 1 + i), (), gender), 3)
        for i in range(20)
        for name, gender in (("Patricia", "female"), ("Patrick", "male"))
    )
    engine = Engine(index)
    a = Identity("Patricia", "Ashcombe", PartialDate(2001, 5, 5))
    b = Identity("Patrick", "Ashcombe", PartialDate(2001, 5, 5))
    cand = engine.score_pair(a, b)
    levels = {f.field: f.level for f in cand.fields}
    assert levels["gender"] == "different"
    assert cand.band != "match"
    # Unknown forenames infer nothing.
    c = Identity("Sam", "Ashcombe", PartialDate(2001, 5, 5))
    assert "gender" not in {f.field for f in engine.score_pair(c, c).fields}


def test_a_pair_held_at_possible_says_why() -> None:
    """A probability at `match` level with a band of `possible` is explained, never silent."""
    held = 0
    for case in CASES:
        engine = _engine(case)
        cand = engine.score_pair(case.check, case.entry)
        bands = [f for f in cand.fields if f.field == "band"]
        if cand.band == "possible" and cand.probability >= engine.thresholds.match:
            held += 1
            assert [f.level for f in bands] == ["held_at_possible"], case.name
            assert "because the" in bands[0].detail and bands[0].weight == 0.0
        else:
            assert bands == [], case.name
    assert held > 0  # the table has such pairs (one digit wrong, same names)


def test_a_name_written_in_arabic_is_as_common_as_all_its_spellings() -> None:
    """The exact weight of حسين counts every Hussein / Husain on the list, not only the
    entries spelt in Arabic: otherwise an exact Arabic-script namesake outweighs the true
    entry written in Latin letters."""
    from tests.matching.cases import I

    def forename_weight(extra: int) -> float:
        index = ListIndex()
        index.add_many(background())
        index.add_many(
            (f"h{i}", I("Hussein" if i % 2 else "Husain", f"Other{i}", "1970-01-01"), 3)
            for i in range(extra)
        )
        index.add("arabic", I("حسين", "شريف", "1967-03-22"))
        cand = Engine(index).score_pair(I("حسين", "شريف", "1967-03-22"), I("حسين", "شريف", ""))
        fn = next(f for f in cand.fields if f.field == "forenames")
        assert fn.level == "exact"
        return fn.weight

    assert forename_weight(60) < forename_weight(0) - 2
    # Removing the Latin spellings gives the rare weight back (the counts follow the list).
    index = ListIndex()
    index.add_many(background())
    index.add_many((f"h{i}", I("Hussein", f"Other{i}", "1970-01-01"), 3) for i in range(60))
    for i in range(60):
        index.remove(f"h{i}")
    index.add("arabic", I("حسين", "شريف", "1967-03-22"))
    cand = Engine(index).score_pair(I("حسين", "شريف", ""), I("حسين", "شريف", ""))
    fn = next(f for f in cand.fields if f.field == "forenames")
    assert abs(fn.weight - forename_weight(0)) < 1e-9
