"""The synthetic benchmark generator: deterministic, stated rates hold, truth consistent."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from loadtests import synth
from loadtests.names import fold

LIST_SIZE = 20_000
CHECKS = 10_000


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("synth")
    synth.generate(LIST_SIZE, CHECKS, 7, d)
    return d


@pytest.fixture(scope="module")
def files(
    out: Path,
) -> tuple[dict[str, dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    lst = {r["list_id"]: r for r in _read(out / "list.csv")}
    return lst, _read(out / "checks.csv"), _read(out / "truth.csv")


def _digest(d: Path) -> str:
    h = hashlib.sha256()
    for name in ("list.csv", "checks.csv", "truth.csv"):
        h.update((d / name).read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs(out: Path, tmp_path: Path) -> None:
    synth.generate(LIST_SIZE, CHECKS, 7, tmp_path / "again")
    synth.generate(LIST_SIZE, CHECKS, 8, tmp_path / "other")
    assert _digest(tmp_path / "again") == _digest(out)
    assert _digest(tmp_path / "other") != _digest(out)


def test_headers(out: Path) -> None:
    heads = {
        n: (out / n).read_text(encoding="utf-8").split("\n", 1)[0]
        for n in ("list.csv", "checks.csv", "truth.csv")
    }
    assert heads["list.csv"] == "list_id,forenames,surname,date_of_birth,previous_names,gender"
    assert heads["checks.csv"] == "reference,forenames,surname,date_of_birth,previous_names"
    assert heads["truth.csv"] == "reference,list_id,kind,corruption,related_list_id,origin"


def test_check_mix_and_corruption_counts(files: tuple) -> None:  # type: ignore[type-arg]
    _, checks, truth = files
    assert len(checks) == len(truth) == CHECKS
    kinds = Counter(t["kind"] for t in truth)
    assert kinds["true_match"] == round(CHECKS * synth.TRUE_MATCH_SHARE)
    hard = Counter(t["corruption"] for t in truth if t["kind"] == "hard_negative")
    for name, share in synth.HARD_NEGATIVE_SHARES.items():
        assert hard[name] == round(CHECKS * share)
    corr = Counter(
        "double" if "+" in t["corruption"] else t["corruption"]
        for t in truth
        if t["kind"] == "true_match"
    )
    n_true = kinds["true_match"]
    for name, share in synth.CORRUPTION_RATES.items():
        assert abs(corr[name] - n_true * share) <= 1, name


def test_list_shares_roughly_hold(files: tuple) -> None:  # type: ignore[type-arg]
    lst, _, _ = files
    rows = list(lst.values())
    n = len(rows)
    lengths = Counter(len(r["date_of_birth"]) for r in rows)
    assert abs(lengths[10] / n - synth.LIST_DOB_FORMS["full"]) < 0.01
    assert abs(lengths[7] / n - synth.LIST_DOB_FORMS["year_month"]) < 0.006
    assert abs(lengths[4] / n - synth.LIST_DOB_FORMS["year"]) < 0.008
    assert abs(lengths[0] / n - synth.LIST_DOB_FORMS["empty"]) < 0.005
    middle = sum(" " in r["forenames"] for r in rows) / n
    assert 0.42 < middle < 0.53
    non_ascii = sum(not (r["forenames"] + r["surname"]).isascii() for r in rows) / n
    assert 0.03 < non_ascii < 0.08
    surnames = Counter(r["surname"] for r in rows)
    # Zipf-like: the commonest surname is far more common than the median one.
    assert surnames.most_common(1)[0][0] == "Smith"
    assert surnames.most_common(1)[0][1] > 50 * sorted(surnames.values())[len(surnames) // 2]
    ages = [
        (synth.REFERENCE_DATE - dt.date.fromisoformat(r["date_of_birth"])).days / 365.2425
        for r in rows
        if len(r["date_of_birth"]) == 10
    ]
    assert min(ages) >= 16 and max(ages) < 90


def _key(fn: str, sn: str, dob: str) -> tuple[str, str, str]:
    # The generator's own canonical romanisation: a native-script check and a romanised list
    # entry (or the reverse) of the same name give the same key.
    return fold(fn.split()[0]), fold(sn), dob


def test_truth_consistent_with_files(files: tuple) -> None:  # type: ignore[type-arg]
    lst, checks, truth = files
    assert [c["reference"] for c in checks] == [t["reference"] for t in truth]
    assert all(len(c["date_of_birth"]) == 10 for c in checks)  # checks always give full dates
    # Keys at the precision the list knows the date (full, YYYY-MM, YYYY or empty).
    list_keys = {
        _key(r["forenames"], r["surname"], r["date_of_birth"])
        for r in lst.values()
        if r["forenames"]
    }

    def indistinguishable(c: dict[str, str]) -> bool:
        d = c["date_of_birth"]
        return any(
            _key(c["forenames"], c["surname"], p) in list_keys for p in (d, d[:7], d[:4], "")
        )

    for c, t in zip(checks, truth, strict=True):
        kind, corr = t["kind"], t["corruption"]
        if kind == "true_match":
            assert t["list_id"] in lst and not t["related_list_id"]
            entry = lst[t["list_id"]]
            _check_corruption(corr, c, entry)
        elif kind == "hard_negative":
            assert not t["list_id"] and t["related_list_id"] in lst
            entry = lst[t["related_list_id"]]
            _check_hard_negative(corr, c, entry)
            assert not indistinguishable(c)
        else:
            assert kind == "non_match" and not t["list_id"] and not corr
            assert not indistinguishable(c)


def _dob_consistent(check_dob: str, list_dob: str) -> bool:
    return check_dob.startswith(list_dob)


def _check_corruption(corr: str, c: dict[str, str], e: dict[str, str]) -> None:
    if corr == "exact":
        assert (c["forenames"], c["surname"]) == (e["forenames"], e["surname"])
        assert _dob_consistent(c["date_of_birth"], e["date_of_birth"])
    elif corr == "swap":
        assert (c["forenames"], c["surname"]) == (e["surname"], e["forenames"])
    elif corr == "dob_transposed":
        y, m, d = e["date_of_birth"].split("-")
        assert c["date_of_birth"] == f"{y}-{d}-{m}" and m != d
        assert (c["forenames"], c["surname"]) == (e["forenames"], e["surname"])
    elif corr == "dob_year":
        assert abs(int(c["date_of_birth"][:4]) - int(e["date_of_birth"][:4])) == 1
    elif corr == "dob_digit":
        a, b = c["date_of_birth"].replace("-", ""), e["date_of_birth"].replace("-", "")
        assert sum(x != y for x, y in zip(a, b, strict=True)) == 1
    elif corr == "missing_middle":
        assert c["forenames"] == e["forenames"].split()[0] and " " in e["forenames"]
    elif corr == "initial":
        assert len(c["forenames"].split()[0].rstrip(".")) == 1
        assert c["forenames"][0] == e["forenames"][0]
    elif corr == "typo":
        assert (c["forenames"], c["surname"]) != (e["forenames"], e["surname"])
        assert c["date_of_birth"].startswith(e["date_of_birth"])
    elif corr == "nickname":
        assert c["forenames"].split()[0] != e["forenames"].split()[0]
        assert c["surname"] == e["surname"]
    elif corr == "translit":
        assert (c["forenames"] + c["surname"]).isascii() != (
            e["forenames"] + e["surname"]
        ).isascii() or (c["forenames"] + c["surname"] != e["forenames"] + e["surname"])
    elif corr == "marriage":
        assert c["surname"] != e["surname"]
        assert e["surname"] in c["previous_names"] or c["surname"] in e["previous_names"]
    elif corr == "mac":
        assert {c["surname"][:3], e["surname"][:3]} & {"Mac"} and c["surname"] != e["surname"]
    elif corr == "apostrophe":
        assert "'" in e["surname"] and "'" not in c["surname"]
    elif corr == "hyphen":
        assert c["surname"] != e["surname"]
        assert c["surname"] in e["surname"] or e["surname"] in c["surname"]
    else:
        a, b = corr.split("+")
        assert a in synth.CORRUPTION_RATES and b in synth.CORRUPTION_RATES


def _check_hard_negative(kind: str, c: dict[str, str], e: dict[str, str]) -> None:
    if kind == "twin":
        assert c["surname"] == e["surname"]
        assert _dob_consistent(c["date_of_birth"], e["date_of_birth"])
        assert c["forenames"].split()[0] != e["forenames"].split()[0]
    elif kind == "parent_child":
        assert (c["forenames"], c["surname"]) == (e["forenames"], e["surname"])
        if e["date_of_birth"]:
            gap = abs(int(c["date_of_birth"][:4]) - int(e["date_of_birth"][:4]))
            assert 19 <= gap <= 36
    elif kind == "namesake":
        assert (c["forenames"], c["surname"]) == (e["forenames"], e["surname"])
        if e["date_of_birth"]:
            assert abs(int(c["date_of_birth"][:4]) - int(e["date_of_birth"][:4])) >= 2
    else:
        raise AssertionError(kind)


def test_other_scripts_and_diacritics_present(files: tuple) -> None:  # type: ignore[type-arg]
    lst, checks, truth = files
    text = " ".join(r["surname"] for r in lst.values())
    for sample in ("\u0400", "\u0370", "\u0600", "\u4e00"):  # Cyrillic, Greek, Arabic, CJK blocks
        block = ord(sample)
        assert any(
            block <= ord(ch) < block + 0x100 or (block == 0x4E00 and 0x4E00 <= ord(ch) < 0xA000)
            for ch in text
        ), sample
    translit = [
        (c, lst[t["list_id"]])
        for c, t in zip(checks, truth, strict=True)
        if t["corruption"] == "translit"
    ]
    # Both directions occur: native script on the list with a romanised check, and the reverse.
    assert any((e["surname"]).isascii() and not c["surname"].isascii() for c, e in translit)
    assert any(not e["surname"].isascii() and c["surname"].isascii() for c, e in translit)


def test_origin_names_the_persons_name_group(files: tuple) -> None:  # type: ignore[type-arg]
    _, checks, truth = files
    origins = Counter(t["origin"] for t in truth)
    assert origins.most_common(1)[0][0] == "en"
    assert {"ru", "el", "zh", "ar", "de", "pl"} <= set(origins)
    for c, t in zip(checks, truth, strict=True):
        name = c["forenames"] + c["surname"]
        if any("\u0400" <= ch <= "\u04ff" for ch in name):
            assert t["origin"] == "ru"
        if any("\u0600" <= ch <= "\u06ff" for ch in name):
            assert t["origin"] == "ar"


def _other_script(text: str) -> bool:
    return any(ch.isalpha() and ord(ch) > 0x24F for ch in text)


def test_a_check_is_written_in_one_script(files: tuple) -> None:  # type: ignore[type-arg]
    _, checks, _ = files
    mixed = [
        c["reference"]
        for c in checks
        if c["forenames"] and _other_script(c["forenames"]) != _other_script(c["surname"])
    ]
    assert mixed == []
