"""Synthetic barred list, checks and ground truth for the matcher's development benchmark.

    python -m loadtests.synth --list-size 1000000 --checks 100000 --seed 7 --out DIR

writes ``DIR/list.csv``, ``DIR/checks.csv`` and ``DIR/truth.csv`` (UTF-8, header, ``\\n``).
Output is a pure function of (list size, checks, seed): same arguments, same bytes.
No network: every name comes from files inside installed packages (see ``loadtests.names``).

Fixed settings (these are the benchmark; change them only with a new ``SYNTH_VERSION``):

Population (list entries and non-matching applicants drawn the same way)
  * origins: English-language 84.4% (US census 1990 frequencies, Zipf-like); Latin script with
    diacritics 7.0% (fr 1.2, de 1.2, es 1.0, pl 1.0, it 0.6, pt 0.5, tr 0.5, cs 0.5, ga 0.5);
    Dutch 0.6% (35% with a particle: van, van der, van den, van de, de); Latin script ASCII 4%
    (en_IN 2.5, yo 1.0, ig 0.5); other scripts 4% (Cyrillic 1.2, Chinese 1.2, Greek 0.8,
    Arabic 0.8), written in the native script on the list for half of those people and in the
    usual romanisation for the other half;
  * middle names: 40% one, a further 8% two (none for Chinese names);
  * surnames: English 3% double (2.5% hyphenated, 0.5% space); Spanish 50% two surnames;
    Spanish 3% "de la" particle; Mc/Mac and O' names as frequent as in the census;
  * dates of birth: age on 2025-01-01 from a normal(40, 14) truncated to [16, 90] on the list,
    normal(34, 12) in [16, 90] for applicants; uniform day;
  * list dates: 90% full, 3% year-month, 5% year only, 2% empty; checks always full;
  * list previous names: 12% of women aged 20+ carry a maiden name (same forenames, other
    surname); 1% of everyone an alias (other forename, same surname); applicants: 4% of women
    give a previous surname;
  * gender on the list: M/F, 5% empty.

Checks: 10% true matches, 2% twins, 1.5% same-name parent/child, 1.5% namesakes, the rest
(85%) non-matches, shuffled. Non-matches and hard negatives never share first forename,
surname and a date of birth consistent with the list's (full, or as far as a partial list date
goes) with any name (current, maiden, alias) of any list entry: that case cannot be told apart.

True-match corruptions (share of true matches): exact 20%, typo 15% (insert/delete/substitute/
transpose one letter of the first forename or the surname), nickname 8% (``nicknames``
package, either direction), initial 5%, missing_middle 6%, translit 6% (diacritics folded,
German ae/oe/ue/ss style for half of those with umlauts, or the other script / another
romanisation), swap 4% (forenames and surname fields exchanged), dob_transposed 4%, dob_digit
5% (one digit of YYYYMMDD, giving a valid date), dob_year 4% (year +-1), marriage 6% (the
check gives a new surname with the old name as previous name, or gives the maiden name the
list holds as a previous name), hyphen 3% (one part of a double surname, or a double surname
against one part), mac 2% (Mc <-> Mac), apostrophe 2% (O'Brien -> OBrien / O Brien), and 10%
with two corruptions at once (one name corruption with one date corruption, or one of a few
name pairs), labelled ``a+b``.

Hard negatives: ``twin`` (same surname and date of birth, a different forename that is not a
nickname of the other), ``parent_child`` (same forenames and surname, date of birth 20-35 years
apart), ``namesake`` (same forenames and surname, birth year at least 2 years apart).

truth.csv: ``reference,list_id,kind,corruption,related_list_id,origin`` - ``list_id`` the true
barred entry (true matches only), ``kind`` one of true_match / non_match / hard_negative,
``corruption`` the corruption label(s) or the hard-negative type, ``related_list_id`` the
list entry a hard negative was made from (the one it must NOT be matched to), ``origin`` the
person's name group (en, fr, de, es, pl, it, pt, tr, cs, ga, nl, in, yo, ig, ru, el, zh, ar).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from anyascii import anyascii
from nicknames import NickNamer

from loadtests.names import Group, fold, groups, romanizations

SYNTH_VERSION = "4"
# 2: non-matches also avoid partial list dates and previous names of list entries
# 3: Greek romanised after ELOT 743 (not letter by letter); Chinese given names of 1-2 characters
# 4: a marriage's new surname is written in the same script as the rest of the check
REFERENCE_DATE = dt.date(2025, 1, 1)

# Check mix (share of all checks).
TRUE_MATCH_SHARE = 0.10
HARD_NEGATIVE_SHARES = {"twin": 0.02, "parent_child": 0.015, "namesake": 0.015}

# Corruptions of true matches (share of true matches); "double" = two at once.
CORRUPTION_RATES: dict[str, float] = {
    "exact": 0.20,
    "typo": 0.15,
    "nickname": 0.08,
    "initial": 0.05,
    "missing_middle": 0.06,
    "translit": 0.06,
    "swap": 0.04,
    "dob_transposed": 0.04,
    "dob_digit": 0.05,
    "dob_year": 0.04,
    "marriage": 0.06,
    "hyphen": 0.03,
    "mac": 0.02,
    "apostrophe": 0.02,
    "double": 0.10,
}

LIST_DOB_FORMS = {"full": 0.90, "year_month": 0.03, "year": 0.05, "empty": 0.02}
MIDDLE_ONE, MIDDLE_TWO = 0.40, 0.08
EN_DOUBLE_SURNAME, EN_SPACE_SURNAME = 0.025, 0.005
ES_TWO_SURNAMES, ES_DE_LA = 0.5, 0.03
NL_PARTICLE = 0.35
MAIDEN_SHARE, ALIAS_SHARE, CHECK_PREVIOUS_SHARE = 0.12, 0.01, 0.04
NATIVE_ON_LIST = 0.5
EMPTY_GENDER = 0.05

DOB_TYPES = ("dob_transposed", "dob_digit", "dob_year")
NAME_TYPES_FOR_DOUBLE = (
    "typo",
    "nickname",
    "initial",
    "missing_middle",
    "translit",
    "swap",
    "marriage",
    "hyphen",
)
DOUBLE_PAIRS: tuple[tuple[str, str], ...] = (
    *((n, d) for n in NAME_TYPES_FOR_DOUBLE for d in DOB_TYPES),
    ("nickname", "typo"),
    ("missing_middle", "typo"),
    ("nickname", "missing_middle"),
    ("marriage", "typo"),
    ("marriage", "nickname"),
    ("typo", "swap"),
    ("initial", "missing_middle"),
)
# Name corruptions are applied in this order (structure first, letters last, swap at the end).
APPLY_ORDER = (
    "exact",
    "translit",
    "marriage",
    "hyphen",
    "mac",
    "apostrophe",
    "nickname",
    "initial",
    "missing_middle",
    "typo",
    "swap",
    *DOB_TYPES,
)

_PARTICLES_NL = ("van", "van der", "van den", "van de", "de")


# --------------------------------------------------------------------------- population


@dataclass(slots=True)
class People:
    """A population in columns. Names are kept in the person's own script (``first``,
    ``middles`` space separated, ``surname``); ``native`` says whether a record shows them in
    that script (only meaningful for other-script groups)."""

    group: np.ndarray  # int16 index into groups()
    female: np.ndarray  # bool
    first: np.ndarray  # object (str)
    middles: np.ndarray  # object (str, '' when none)
    surname: np.ndarray  # object (str)
    dob: np.ndarray  # datetime64[D]
    native: np.ndarray  # bool


def _sample(rng: np.random.Generator, pool_names: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    if n == 0:
        return np.empty(0, dtype=object)
    return pool_names[rng.choice(len(pool_names), size=n, p=p)]


def _ages_to_dob(rng: np.random.Generator, n: int, mean: float, sd: float) -> np.ndarray:
    ages = rng.normal(mean, sd, n)
    bad = (ages < 16) | (ages >= 90)
    while bad.any():
        ages[bad] = rng.normal(mean, sd, int(bad.sum()))
        bad = (ages < 16) | (ages >= 90)
    days = np.floor(ages * 365.2425).astype(np.int64)
    ref = np.datetime64(REFERENCE_DATE.isoformat(), "D")
    return ref - days.astype("timedelta64[D]")


def generate_people(rng: np.random.Generator, n: int, age_mean: float, age_sd: float) -> People:
    gs = groups()
    shares = np.asarray([g.share for g in gs])
    group = rng.choice(len(gs), size=n, p=shares / shares.sum()).astype(np.int16)
    female = rng.random(n) < 0.5
    first = np.empty(n, dtype=object)
    middles = np.full(n, "", dtype=object)
    surname = np.empty(n, dtype=object)
    for gi, g in enumerate(gs):
        for is_f in (False, True):
            idx = np.nonzero((group == gi) & (female == is_f))[0]
            if len(idx) == 0:
                continue
            pool = g.female if is_f else g.male
            spool = g.surname_female if is_f else g.surname_male
            first[idx] = _sample(rng, pool.names, pool.p, len(idx))
            surname[idx] = _sample(rng, spool.names, spool.p, len(idx))
            if g.name != "zh":
                m1 = idx[rng.random(len(idx)) < MIDDLE_ONE + MIDDLE_TWO]
                mid = _sample(rng, pool.names, pool.p, len(m1))
                m2mask = rng.random(len(m1)) < MIDDLE_TWO / (MIDDLE_ONE + MIDDLE_TWO)
                mid2 = _sample(rng, pool.names, pool.p, int(m2mask.sum()))
                mid[m2mask] = mid[m2mask] + " " + mid2
                middles[m1] = mid
            _surname_structure(rng, g, idx, surname, spool.names, spool.p)
    dob = _ages_to_dob(rng, n, age_mean, age_sd)
    native = rng.random(n) < NATIVE_ON_LIST
    return People(group, female, first, middles, surname, dob, native)


def _surname_structure(
    rng: np.random.Generator,
    g: Group,
    idx: np.ndarray,
    surname: np.ndarray,
    pool: np.ndarray,
    p: np.ndarray,
) -> None:
    u = rng.random(len(idx))
    if g.name == "en":
        dbl = idx[u < EN_DOUBLE_SURNAME + EN_SPACE_SURNAME]
        second = _sample(rng, pool, p, len(dbl))
        sep = np.where(
            rng.random(len(dbl)) < EN_DOUBLE_SURNAME / (EN_DOUBLE_SURNAME + EN_SPACE_SURNAME),
            "-",
            " ",
        ).astype(object)
        surname[dbl] = surname[dbl] + sep + second
    elif g.name == "es":
        two = idx[u < ES_TWO_SURNAMES]
        surname[two] = surname[two] + " " + _sample(rng, pool, p, len(two))
        dela = idx[(u >= ES_TWO_SURNAMES) & (u < ES_TWO_SURNAMES + ES_DE_LA)]
        surname[dela] = "de la " + surname[dela]
    elif g.name == "nl":
        part = idx[u < NL_PARTICLE]
        choice = rng.integers(0, len(_PARTICLES_NL), len(part))
        surname[part] = np.asarray(_PARTICLES_NL, dtype=object)[choice] + " " + surname[part]


def _canon(group: Group, token: str) -> str:
    return romanizations(group.name, token)[0] if group.script == "other" else token


def render_name(group: Group, text: str, native: bool) -> str:
    """A space-separated name in the record's script."""
    if group.script != "other" or native or not text:
        return text
    return " ".join(_canon(group, t) for t in text.split(" "))


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class Rec:
    """One check being built (or a list entry as a check would copy it)."""

    first: str
    middles: list[str]
    surname: str
    dob: dt.date
    previous: list[str] = field(default_factory=list)
    swapped: bool = False

    def forenames(self) -> str:
        return " ".join([self.first, *self.middles]).strip()

    def row(self) -> tuple[str, str, str, str]:
        fn, sn = self.forenames(), self.surname
        if self.swapped:
            fn, sn = sn, fn
        return fn, sn, self.dob.isoformat(), "|".join(self.previous)


@dataclass(slots=True)
class ListData:
    people: People
    dob_form: np.ndarray  # int8: 0 full, 1 year-month, 2 year, 3 empty
    maiden: np.ndarray  # object: maiden surname (in the person's script) or ''
    alias_first: np.ndarray  # object: alias forename or ''
    ids: list[str]


def _to_date(d: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(d))


_NICK = NickNamer()


@cache
def _nick_options(name: str) -> tuple[str, ...]:
    low = name.lower()
    if not low.isascii() or not low.isalpha():
        return ()
    opts = sorted(_NICK.nicknames_of(low) | _NICK.canonicals_of(low))
    return tuple(o.capitalize() for o in opts if o != low and len(o) > 1)


def _related_forenames(a: str, b: str) -> bool:
    la, lb = a.lower(), b.lower()
    if la == lb:
        return True
    return lb.capitalize() in _nick_options(a) or la.capitalize() in _nick_options(b)


class Builder:
    """Builds checks from list entries: eligibility tests and corruptions."""

    def __init__(self, data: ListData, r: random.Random) -> None:
        self.d = data
        self.p = data.people
        self.r = r
        self.gs = groups()

    # -- entry access
    def group(self, i: int) -> Group:
        return self.gs[int(self.p.group[i])]

    def shown(self, i: int, text: str) -> str:
        return render_name(self.group(i), text, bool(self.p.native[i]))

    def rec(self, i: int) -> Rec:
        mid = str(self.p.middles[i])
        return Rec(
            first=self.shown(i, str(self.p.first[i])),
            middles=self.shown(i, mid).split() if mid else [],
            surname=self.shown(i, str(self.p.surname[i])),
            dob=_to_date(self.p.dob[i]),
        )

    def age(self, i: int) -> float:
        return (REFERENCE_DATE - _to_date(self.p.dob[i])).days / 365.2425

    def non_ascii(self, i: int) -> bool:
        return (
            self.group(i).script == "other"
            or not (
                str(self.p.first[i]) + str(self.p.middles[i]) + str(self.p.surname[i])
            ).isascii()
        )

    # -- eligibility
    def eligible(self, kind: str, i: int) -> bool:
        p = self.p
        g = self.group(i)
        shown_first = self.shown(i, str(p.first[i]))
        shown_sur = self.shown(i, str(p.surname[i]))
        form = int(self.d.dob_form[i])
        if kind in ("exact", "swap"):
            return True
        if kind == "typo":
            return len(shown_first) >= 4 or len(shown_sur) >= 4
        if kind == "nickname":
            return g.script == "latin" and bool(_nick_options(shown_first))
        if kind == "initial":
            return len(shown_first) >= 2 and shown_first[0].isalpha()
        if kind == "missing_middle":
            return bool(p.middles[i])
        if kind == "translit":
            return self.non_ascii(i)
        if kind == "dob_transposed":
            d = _to_date(p.dob[i])
            return form == 0 and d.day <= 12 and d.day != d.month
        if kind == "dob_digit":
            return form == 0
        if kind == "dob_year":
            return form in (0, 1, 2)
        if kind == "marriage":
            return bool(self.d.maiden[i]) or (
                bool(p.female[i]) and self.age(i) >= 20 and g.script == "latin"
            )
        if kind == "hyphen":
            return g.script == "latin" and "'" not in shown_sur
        if kind == "mac":
            return re.match(r"^(Mc|Mac)[A-Z]", shown_sur) is not None
        if kind == "apostrophe":
            return re.match(r"^O'[A-Z]", shown_sur) is not None
        raise ValueError(kind)

    # -- corruptions (mutate rec; i is the list entry)
    def apply(self, kind: str, i: int, rec: Rec) -> None:
        getattr(self, "_c_" + kind)(i, rec)

    def _c_exact(self, i: int, rec: Rec) -> None:
        return None

    def _c_typo(self, i: int, rec: Rec) -> None:
        r = self.r
        fields = [f for f in ("first", "surname") if len(getattr(rec, f)) >= 4]
        if not fields:
            fields = ["first" if len(rec.first) >= len(rec.surname) else "surname"]
        f = r.choice(fields)
        s = getattr(rec, f)
        alphabet = "abcdefghijklmnopqrstuvwxyz" if s.isascii() else "".join(sorted(set(s) - {" "}))
        for _ in range(20):
            op = r.choice(("insert", "delete", "substitute", "transpose"))
            pos = r.randrange(1, len(s)) if len(s) > 1 else 0  # keep the first letter
            if op == "insert":
                t = s[:pos] + r.choice(alphabet) + s[pos:]
            elif op == "delete":
                t = s[:pos] + s[pos + 1 :]
            elif op == "substitute":
                t = s[:pos] + r.choice(alphabet) + s[pos + 1 :]
            else:
                pos = min(pos, len(s) - 2)
                t = s[:pos] + s[pos + 1] + s[pos] + s[pos + 2 :]
            if t != s and t.strip() and " " not in (t[0], t[-1]):
                setattr(rec, f, t)
                return

    def _c_nickname(self, i: int, rec: Rec) -> None:
        opts = _nick_options(rec.first)
        if opts:
            rec.first = self.r.choice(opts)

    def _c_initial(self, i: int, rec: Rec) -> None:
        rec.first = rec.first[0].upper() + ("." if self.r.random() < 0.3 else "")

    def _c_missing_middle(self, i: int, rec: Rec) -> None:
        rec.middles = []

    def _c_translit(self, i: int, rec: Rec) -> None:
        g = self.group(i)
        p = self.p
        if g.script == "other":
            if bool(p.native[i]):  # list native -> check romanised (any usual spelling)

                def roman(t: str) -> str:
                    return self.r.choice(romanizations(g.name, t))

                rec.first = roman(str(p.first[i]))
                rec.middles = [roman(t) for t in str(p.middles[i]).split()]
                rec.surname = " ".join(roman(t) for t in str(p.surname[i]).split())
            else:  # list romanised -> check in the native script
                rec.first = str(p.first[i])
                rec.middles = str(p.middles[i]).split()
                rec.surname = str(p.surname[i])
            return
        german = self.r.random() < 0.5
        rec.first = _fold(rec.first, german)
        rec.middles = [_fold(m, german) for m in rec.middles]
        rec.surname = _fold(rec.surname, german)

    def _c_swap(self, i: int, rec: Rec) -> None:
        rec.swapped = True

    def _c_dob_transposed(self, i: int, rec: Rec) -> None:
        rec.dob = rec.dob.replace(day=rec.dob.month, month=rec.dob.day)

    def _c_dob_digit(self, i: int, rec: Rec) -> None:
        s = rec.dob.strftime("%Y%m%d")
        for _ in range(50):
            pos = self.r.randrange(2, 8)
            digit = str(self.r.randrange(10))
            if digit == s[pos]:
                continue
            t = s[:pos] + digit + s[pos + 1 :]
            try:
                d = dt.date(int(t[:4]), int(t[4:6]), int(t[6:]))
            except ValueError:
                continue
            if dt.date(1930, 1, 1) <= d <= REFERENCE_DATE.replace(year=REFERENCE_DATE.year - 15):
                rec.dob = d
                return

    def _c_dob_year(self, i: int, rec: Rec) -> None:
        y = rec.dob.year + self.r.choice((-1, 1))
        day = min(rec.dob.day, 28) if rec.dob.month == 2 else rec.dob.day
        rec.dob = rec.dob.replace(year=y, day=day)

    def _c_marriage(self, i: int, rec: Rec) -> None:
        maiden = self.d.maiden[i]
        if maiden and (not (bool(self.p.female[i]) and self.age(i) >= 20) or self.r.random() < 0.5):
            # The list holds the maiden name as a previous name; the check gives it.
            rec.surname = self.shown(i, maiden)
            return
        # The check gives a new surname and the list's name as a previous name.
        g = self.group(i)
        pool = g.surname_female
        new = self.shown(i, str(pool.names[_pick(self.r, pool.p)]))
        old = rec.surname
        rec.previous = [" ".join([rec.first, *rec.middles, old])]
        rec.surname = new

    def _c_hyphen(self, i: int, rec: Rec) -> None:
        parts = [x for x in re.split(r"[- ]", rec.surname) if x and x[0].isupper()]
        lowers = [x for x in rec.surname.split() if x and x[0].islower()]
        if len(parts) >= 2 and not lowers:
            rec.surname = self.r.choice(parts)
            return
        g = self.group(i)
        new = str(g.surname_male.names[_pick(self.r, g.surname_male.p)])
        rec.surname = f"{rec.surname}-{new}" if self.r.random() < 0.5 else f"{new}-{rec.surname}"

    def _c_mac(self, i: int, rec: Rec) -> None:
        s = rec.surname
        rec.surname = "Mac" + s[2:] if s.startswith("Mc") else "Mc" + s[3:]

    def _c_apostrophe(self, i: int, rec: Rec) -> None:
        rec.surname = rec.surname.replace("'", "" if self.r.random() < 0.7 else " ", 1)


_GERMAN = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


def _fold(s: str, german: bool) -> str:
    if german:
        s = s.translate(_GERMAN)
    return anyascii(s)


_CUM: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _pick(r: random.Random, p: np.ndarray) -> int:
    """Index drawn with probabilities p, from the Python RNG (p arrays live as long as the
    cached name pools, so their id is a stable cache key)."""
    hit = _CUM.get(id(p))
    if hit is None or hit[0] is not p:
        hit = (p, np.cumsum(p))
        _CUM[id(p)] = hit
    return min(int(np.searchsorted(hit[1], r.random(), side="right")), len(p) - 1)


# --------------------------------------------------------------------------- generation


def _fold_key(first: str, surname: str, dob: str) -> str:
    return f"{fold(first)}|{fold(surname)}|{dob}"


def make_list(rng: np.random.Generator, n: int) -> ListData:
    people = generate_people(rng, n, 40.0, 14.0)
    forms = list(LIST_DOB_FORMS.values())
    dob_form = rng.choice(4, size=n, p=np.asarray(forms) / sum(forms)).astype(np.int8)
    gs = groups()
    ages = (np.datetime64(REFERENCE_DATE.isoformat(), "D") - people.dob).astype(np.int64) / 365.2425
    maiden_mask = people.female & (ages >= 20) & (rng.random(n) < MAIDEN_SHARE)
    alias_mask = rng.random(n) < ALIAS_SHARE
    maiden = np.full(n, "", dtype=object)
    alias = np.full(n, "", dtype=object)
    for gi, g in enumerate(gs):
        in_g = people.group == gi
        idx = np.nonzero(in_g & maiden_mask)[0]
        maiden[idx] = _sample(rng, g.surname_female.names, g.surname_female.p, len(idx))
        for is_f in (False, True):
            idx = np.nonzero(in_g & alias_mask & (people.female == is_f))[0]
            pool = g.female if is_f else g.male
            alias[idx] = _sample(rng, pool.names, pool.p, len(idx))
    maiden[maiden == people.surname] = ""
    alias[alias == people.first] = ""
    ids = [f"L{i:07d}" for i in range(1, n + 1)]
    return ListData(people, dob_form, maiden, alias, ids)


def list_rows(data: ListData) -> list[tuple[str, ...]]:
    p = data.people
    gs = groups()
    dob_s = p.dob.astype(str)
    gender = np.where(p.female, "F", "M").astype(object)
    n = len(data.ids)
    rng = np.random.default_rng(int(n) + 1)  # only for empty gender, independent of seed flow
    gender[rng.random(n) < EMPTY_GENDER] = ""
    rows: list[tuple[str, ...]] = []
    for i in range(n):
        g = gs[int(p.group[i])]
        native = bool(p.native[i])
        other = g.script == "other"
        first = str(p.first[i])
        mid = str(p.middles[i])
        sur = str(p.surname[i])
        if other and not native:
            first, mid, sur = (
                render_name(g, first, False),
                render_name(g, mid, False),
                render_name(g, sur, False),
            )
        fn = f"{first} {mid}" if mid else first
        d = str(dob_s[i])
        form = data.dob_form[i]
        if form == 1:
            d = d[:7]
        elif form == 2:
            d = d[:4]
        elif form == 3:
            d = ""
        prev = []
        if data.maiden[i]:
            m = data.maiden[i]
            prev.append(f"{fn} {render_name(g, m, native) if other else m}")
        if data.alias_first[i]:
            a = data.alias_first[i]
            prev.append(f"{render_name(g, a, native) if other else a} {sur}")
        rows.append((data.ids[i], fn, sur, d, "|".join(prev), str(gender[i])))
    return rows


@dataclass(slots=True)
class CheckOut:
    fields: tuple[str, str, str, str]
    list_id: str
    kind: str
    corruption: str
    related: str
    origin: str  # name group of the person (en, fr, de, ..., ru, el, zh, ar)


def _draw(
    r: random.Random, n: int, ok: Callable[[int], bool], used: set[int], tries: int = 200_000
) -> int | None:
    """A random eligible list entry, preferring one not used yet (small lists may have to
    reuse one); None when no entry is eligible at all."""
    for _ in range(min(tries, 50 * n)):
        i = r.randrange(n)
        if i not in used and ok(i):
            used.add(i)
            return i
    fresh = [i for i in range(n) if i not in used and ok(i)]
    pool = fresh or [i for i in range(n) if ok(i)]
    if not pool:
        return None
    i = r.choice(pool)
    used.add(i)
    return i


def _counts(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Largest-remainder apportionment: counts sum exactly to total."""
    raw = {k: total * v / sum(shares.values()) for k, v in shares.items()}
    out = {k: int(v) for k, v in raw.items()}
    rest = total - sum(out.values())
    for k in sorted(raw, key=lambda k: (out[k] - raw[k], k))[:rest]:
        out[k] += 1
    return out


def make_checks(
    data: ListData, n_checks: int, seed: int, rng: np.random.Generator
) -> list[CheckOut]:
    r = random.Random(seed * 7919 + 17)
    b = Builder(data, r)
    n_list = len(data.ids)
    used: set[int] = set()
    out: list[CheckOut] = []
    shares = {"true_match": TRUE_MATCH_SHARE, **HARD_NEGATIVE_SHARES}
    shares["non_match"] = 1.0 - sum(shares.values())
    counts = _counts(n_checks, shares)

    # True matches.
    per_type = _counts(counts["true_match"], CORRUPTION_RATES)
    for kind, k in per_type.items():
        for _ in range(k):
            if kind == "double":
                kinds: Sequence[str] = ()
                i = None
                while i is None:
                    pair = r.choice(DOUBLE_PAIRS)

                    def both(j: int, pr: tuple[str, str] = pair) -> bool:
                        return all(b.eligible(x, j) for x in pr)

                    i = _draw(r, n_list, both, used, 20_000)
                    kinds = pair
            else:
                kinds = (kind,)

                def fits(j: int, kd: str = kind) -> bool:
                    return b.eligible(kd, j)

                i = _draw(r, n_list, fits, used)
                if i is None:  # only on tiny lists (e.g. no O' surname at all): say so
                    print(f"synth: no list entry fits {kind}; made an exact match", file=sys.stderr)
                    kinds = ("exact",)
                    i = _draw(r, n_list, lambda j: True, used)
                    assert i is not None
            rec = b.rec(i)
            for c in sorted(kinds, key=APPLY_ORDER.index):
                b.apply(c, i, rec)
            label = "+".join(sorted(kinds, key=APPLY_ORDER.index))
            out.append(CheckOut(rec.row(), data.ids[i], "true_match", label, "", b.group(i).name))

    # Keys of the list: a generated non-match must never equal a list entry on first forename,
    # surname and full date of birth (then it could not be told apart from the barred person).
    keys = _list_keys(data)

    def clash(first: str, surname: str, dob: dt.date) -> bool:
        iso = dob.isoformat()
        return any(_fold_key(first, surname, d) in keys for d in (iso, iso[:7], iso[:4], ""))

    gs = groups()
    # Twins.
    for _ in range(counts["twin"]):
        while True:
            i = _draw(r, n_list, lambda j: True, used)
            assert i is not None
            g = b.group(i)
            rec = b.rec(i)
            same_sex = r.random() < 0.5
            female = bool(data.people.female[i]) == same_sex
            pool = g.female if female else g.male
            new_first = b.shown(i, str(pool.names[_pick(r, pool.p)]))
            if _related_forenames(new_first, rec.first) or clash(new_first, rec.surname, rec.dob):
                used.discard(i)
                continue
            rec.first = new_first
            rec.middles = []
            out.append(
                CheckOut(rec.row(), "", "hard_negative", "twin", data.ids[i], b.group(i).name)
            )
            break
    # Parent / child with the same full name.
    for _ in range(counts["parent_child"]):
        while True:
            i = _draw(r, n_list, lambda j: True, used)
            assert i is not None
            rec = b.rec(i)
            gap = r.randint(20, 35)
            age = b.age(i)
            up = age + gap < 89.5 and (age - gap < 16.5 or r.random() < 0.5)
            years = -gap if up else gap
            if not up and age - gap < 16.5:
                used.discard(i)
                continue
            d = rec.dob
            new = dt.date(d.year + years, d.month, min(d.day, 28)) + dt.timedelta(
                days=r.randrange(0, 300)
            )
            if clash(rec.first, rec.surname, new):
                used.discard(i)
                continue
            rec.dob = new
            out.append(
                CheckOut(
                    rec.row(), "", "hard_negative", "parent_child", data.ids[i], b.group(i).name
                )
            )
            break
    # Namesakes.
    for _ in range(counts["namesake"]):
        while True:
            i = _draw(r, n_list, lambda j: True, used)
            assert i is not None
            rec = b.rec(i)
            new = _to_date(_ages_to_dob(rng, 1, 34.0, 12.0)[0])
            if abs(new.year - rec.dob.year) < 2 or clash(rec.first, rec.surname, new):
                used.discard(i)
                continue
            rec.dob = new
            out.append(
                CheckOut(rec.row(), "", "hard_negative", "namesake", data.ids[i], b.group(i).name)
            )
            break

    # Non-matches: fresh people from the same population.
    need = counts["non_match"]
    while need > 0:
        people = generate_people(rng, int(need * 1.02) + 16, 34.0, 12.0)
        prev_mask = people.female & (rng.random(len(people.first)) < CHECK_PREVIOUS_SHARE)
        for j in range(len(people.first)):
            if need == 0:
                break
            g = gs[int(people.group[j])]
            native = bool(people.native[j])
            first = render_name(g, str(people.first[j]), native)
            mid = render_name(g, str(people.middles[j]), native)
            sur = render_name(g, str(people.surname[j]), native)
            d = _to_date(people.dob[j])
            if clash(first, sur, d):
                continue
            previous = []
            if prev_mask[j]:
                m = str(g.surname_female.names[_pick(r, g.surname_female.p)])
                if m != people.surname[j]:
                    fn = f"{first} {mid}" if mid else first
                    previous.append(f"{fn} {render_name(g, m, native)}")
            rec = Rec(first, mid.split() if mid else [], sur, d, previous)
            out.append(CheckOut(rec.row(), "", "non_match", "", "", g.name))
            need -= 1

    order = list(range(len(out)))
    r.shuffle(order)
    return [out[k] for k in order]


def _list_keys(data: ListData) -> set[str]:
    """First forename | surname | date of birth *as far as the list knows it*, for every name
    of every entry (current, maiden, alias), romanised and folded."""
    p = data.people
    gs = groups()
    dob_s = p.dob.astype(str)
    cut = {0: 10, 1: 7, 2: 4, 3: 0}
    keys = set()
    for i in range(len(data.ids)):
        g = gs[int(p.group[i])]
        first = str(p.first[i])
        sur = str(p.surname[i])
        names = [(first, sur)]
        if data.maiden[i]:
            names.append((first, str(data.maiden[i])))
        if data.alias_first[i]:
            names.append((str(data.alias_first[i]), sur))
        dob = str(dob_s[i])[: cut[int(data.dob_form[i])]]
        for f, s in names:
            if g.script == "other":
                f, s = render_name(g, f, False), render_name(g, s, False)
            keys.add(_fold_key(f, s, dob))
    return keys


def generate(list_size: int, n_checks: int, seed: int, out: Path) -> dict[str, float]:
    """Write list.csv, checks.csv and truth.csv into ``out``; returns timings in seconds."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    data = make_list(rng, list_size)
    t1 = time.perf_counter()
    checks = make_checks(data, n_checks, seed, rng)
    t2 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with (out / "list.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("list_id", "forenames", "surname", "date_of_birth", "previous_names", "gender"))
        w.writerows(list_rows(data))
    with (out / "checks.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("reference", "forenames", "surname", "date_of_birth", "previous_names"))
        w.writerows((f"C{k:07d}", *c.fields) for k, c in enumerate(checks, 1))
    with (out / "truth.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("reference", "list_id", "kind", "corruption", "related_list_id", "origin"))
        w.writerows(
            (f"C{k:07d}", c.list_id, c.kind, c.corruption, c.related, c.origin)
            for k, c in enumerate(checks, 1)
        )
    t3 = time.perf_counter()
    return {"list": t1 - t0, "checks": t2 - t1, "write": t3 - t2, "total": t3 - t0}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m loadtests.synth", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--list-size", type=int, default=1_000_000)
    ap.add_argument("--checks", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.list_size < 1000:
        ap.error("--list-size must be at least 1000")
    if args.checks < 1:
        ap.error("--checks must be at least 1")
    t = generate(args.list_size, args.checks, args.seed, args.out)
    print(
        f"synth v{SYNTH_VERSION}: {args.list_size} list entries, {args.checks} checks, seed "
        f"{args.seed} -> {args.out} in {t['total']:.1f}s (list {t['list']:.1f}s, checks "
        f"{t['checks']:.1f}s, write {t['write']:.1f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
