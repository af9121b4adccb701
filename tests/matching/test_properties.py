"""Property tests (hypothesis) and the term-frequency test."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.engine import Engine
from matching.identity import Identity, Name, PartialDate
from matching.index import ListIndex
from tests.matching.cases import background


@pytest.fixture(scope="module")
def engine() -> Engine:
    index = ListIndex()
    index.add_many(background())
    return Engine(index)


NAME_TOKENS = st.sampled_from(
    [
        "john",
        "jon",
        "mary",
        "maria",
        "bill",
        "william",
        "peggy",
        "margaret",
        "smith",
        "smyth",
        "jones",
        "o'brien",
        "mcdonald",
        "macdonald",
        "müller",
        "mueller",
        "zoë",
        "łukasz",
        "van",
        "der",
        "berg",
        "ann",
        "anne",
        "j",
        "a",
        "oyelaran",
        "ashcombe",
        "владимир",
        "петров",
        "билал",
    ]
)
NAMES = st.lists(NAME_TOKENS, min_size=1, max_size=3).map(" ".join)


@st.composite
def dates(draw: st.DrawFn) -> PartialDate | None:
    kind = draw(st.sampled_from(["full", "full", "ym", "y", "none"]))
    if kind == "none":
        return None
    year = draw(st.integers(1930, 2010))
    if kind == "y":
        return PartialDate(year)
    month = draw(st.integers(1, 12))
    if kind == "ym":
        return PartialDate(year, month)
    return PartialDate(year, month, draw(st.integers(1, 28)))


@st.composite
def identities(draw: st.DrawFn) -> Identity:
    prev = draw(st.lists(st.builds(Name, NAMES, NAMES), max_size=2))
    gender = draw(st.sampled_from([None, "female", "male"]))
    return Identity(draw(NAMES), draw(NAMES), draw(dates()), tuple(prev), gender)


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(identities(), identities())
def test_probability_in_unit_interval_and_symmetric(
    engine: Engine, a: Identity, b: Identity
) -> None:
    ab = engine.score_pair(a, b)
    ba = engine.score_pair(b, a)
    assert 0.0 <= ab.probability <= 1.0
    assert ab.probability == pytest.approx(ba.probability, abs=1e-9)
    assert ab.band == ba.band


@FAST
@given(identities(), identities())
def test_identical_identities_score_highest(engine: Engine, a: Identity, b: Identity) -> None:
    self_score = engine.score_pair(a, a).probability
    assert self_score >= engine.score_pair(a, b).probability - 1e-12
    assert self_score >= engine.score_pair(b, a).probability - 1e-12


@FAST
@given(identities(), identities(), st.randoms(use_true_random=False))
def test_token_order_and_case_do_not_matter(
    engine: Engine, a: Identity, b: Identity, rnd: object
) -> None:
    tokens = a.forenames.split()
    rnd.shuffle(tokens)  # type: ignore[attr-defined]
    shuffled = Identity(
        " ".join(tokens).upper(), a.surname.swapcase(), a.date_of_birth, a.previous_names,
        a.gender,
    )  # fmt: skip
    # Letter case never changes a score; reordered forenames still compare as exact.
    recased = Identity(
        a.forenames.upper(), a.surname.upper(), a.date_of_birth, a.previous_names, a.gender
    )
    assert engine.score_pair(recased, b).probability == pytest.approx(
        engine.score_pair(a, b).probability, abs=1e-12
    )
    levels = {f.field: f.level for f in engine.score_pair(shuffled, a).fields}
    assert levels["forenames"] in ("exact", "missing")
    assert levels["surname"] in ("exact", "missing")


def test_term_frequency_rare_exact_surname_beats_common_exact_surname() -> None:
    """Same everything else; the frequencies come from the loaded list."""
    index = ListIndex()
    entries = [
        (f"s{i}", Identity("Alex", "Smith", PartialDate(1950 + i % 50, 1 + i % 12, 1 + i % 28)), 3)
        for i in range(2000)
    ]
    entries.append(("rare", Identity("Alex", "Oyelaran", PartialDate(1980, 5, 5)), 3))
    entries.append(("common", Identity("Alex", "Smith", PartialDate(1980, 5, 5)), 3))
    entries += [
        (f"x{i}", Identity(f"Name{i}", f"Surname{i}", PartialDate(1970, 1, 1)), 3)
        for i in range(60_000)
    ]
    index.add_many(entries)
    engine = Engine(index)
    rare = engine.score_pair(
        Identity("Alex", "Oyelaran", PartialDate(1980, 5, 5)), index_identity(entries, "rare")
    )
    common = engine.score_pair(
        Identity("Alex", "Smith", PartialDate(1980, 5, 5)), index_identity(entries, "common")
    )
    w = {c: {f.field: f.weight for f in x.fields} for c, x in (("rare", rare), ("common", common))}
    assert w["rare"]["surname"] > w["common"]["surname"]
    assert rare.weight > common.weight
    # The same pair scores lower once its surname becomes common in the list.
    index.add_many(
        (f"o{i}", Identity("Kim", "Oyelaran", PartialDate(1960, 1, 1 + i % 28)), 3)
        for i in range(2000)
    )
    again = engine.score_pair(
        Identity("Alex", "Oyelaran", PartialDate(1980, 5, 5)), index_identity(entries, "rare")
    )
    assert again.weight < rare.weight


def index_identity(entries: list[tuple[str, Identity, int]], key: str) -> Identity:
    return next(i for k, i, _ in entries if k == key)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=30), st.text(max_size=30), st.text(max_size=30), st.text(max_size=30))
def test_any_text_is_scored_without_error(
    engine: Engine, fore: str, sur: str, prev_fore: str, prev_sur: str
) -> None:
    """Any Unicode (empty, punctuation only, other scripts) scores and indexes cleanly."""
    a = Identity(fore, sur, PartialDate(1980, 1, 1), (Name(prev_fore, prev_sur),))
    b = Identity(prev_fore, prev_sur)
    assert 0.0 <= engine.score_pair(a, b).probability <= 1.0
    assert len(engine.match_many([a, b])) == 2
    engine.index.add("fuzz", a)
    try:
        assert all(0.0 <= c.probability <= 1.0 for c in engine.match(b).candidates)
    finally:
        engine.index.remove("fuzz")
