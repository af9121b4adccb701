"""Name pools for the synthetic population, built from data that ships in installed packages.

* English-language names: the US census 1990 frequency files inside the ``names`` package
  (88,799 surnames, 1,219 male and 4,275 female forenames, each with its share of the
  population), used as a stand-in for a UK population: Zipf-like, so common surnames are common.
  Census spellings are upper case without apostrophes; they are cased here (``MCDONALD`` ->
  ``McDonald``; ``MACDONALD`` -> ``MacDonald`` when ``MCDONALD`` also exists; ``OBRIEN`` ->
  ``O'Brien`` for a fixed set of Irish roots).
* Other languages: the person providers of ``faker`` locales (fr_FR, de_DE, es_ES, pl_PL,
  it_IT, pt_PT, tr_TR, cs_CZ, ga_IE with diacritics; en_IN, yo_NG, ig_NG without; ru_RU
  Cyrillic, el_GR Greek, zh_CN Chinese). Faker lists carry no frequencies, so each list gets
  Zipf weights (1/rank^0.9) over a fixed permutation.
* Arabic: a short table in ``arabic.py`` of common names in Arabic script with their usual
  English spellings, because a letter-by-letter transliteration of unvocalised Arabic
  (``أحمد`` -> ``'hmd``) is not what anyone writes on a form.

Nothing is downloaded: every source is a file inside an installed package.
"""

from __future__ import annotations

import importlib
import importlib.resources
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from anyascii import anyascii

from loadtests.names.arabic import ARABIC_FEMALE, ARABIC_MALE, ARABIC_SURNAMES

__all__ = [
    "GROUPS",
    "Group",
    "Pool",
    "fold",
    "romanizations",
]


@dataclass(frozen=True, slots=True)
class Pool:
    """Names with sampling probabilities (summing to 1)."""

    names: np.ndarray  # object array of str
    p: np.ndarray  # float64


@dataclass(frozen=True, slots=True)
class Group:
    """One origin of names in the population."""

    name: str
    share: float  # share of the population
    script: str  # 'latin' or 'other' (non-Latin script: native on one side, romanised on other)
    male: Pool
    female: Pool
    surname_male: Pool
    surname_female: Pool


# Irish surnames written with O' (census drops the apostrophe).
_O_ROOTS = {
    "BRIEN",
    "BRYAN",
    "CONNOR",
    "CONNER",
    "NEILL",
    "NEIL",
    "NEAL",
    "NEALL",
    "SULLIVAN",
    "DONNELL",
    "REILLY",
    "CONNELL",
    "LEARY",
    "HARA",
    "KEEFE",
    "KEEFFE",
    "ROURKE",
    "MALLEY",
    "DONOGHUE",
    "DONAHUE",
    "GRADY",
    "SHEA",
    "DWYER",
    "HALLORAN",
    "MEARA",
    "CALLAGHAN",
    "DOHERTY",
    "FARRELL",
    "FLAHERTY",
    "GORMAN",
    "HARE",
    "KANE",
    "TOOLE",
    "BANNON",
    "BOYLE",
    "CAIN",
    "DAY",
    "DELL",
    "HAIR",
    "LOUGHLIN",
    "MAHONY",
    "MARA",
    "QUINN",
    "ROURK",
    "BRIANT",
    "CONNELLY",
    "DONNELLY",
    "HEARN",
    "KELLY",
    "SHAUGHNESSY",
}


def _census_path(name: str) -> Path:
    """The census files ship inside the ``names`` package, beside its code."""
    return Path(str(importlib.resources.files("names").joinpath(name)))


def _read_census(name: str) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    freqs: list[float] = []
    for line in _census_path(name).read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) >= 4:
            words.append(parts[0])
            freqs.append(float(parts[1]))
    f = np.asarray(freqs, dtype=np.float64)
    # The files round to 3 decimals, so the tail reads 0.000: extend it with a Zipf tail
    # fitted at the last non-zero rank.
    nz = np.nonzero(f > 0)[0]
    last = int(nz[-1])
    ranks = np.arange(1, len(f) + 1, dtype=np.float64)
    tail = f[last] * (ranks[last] / ranks)
    f = np.where(f > 0, f, tail)
    return words, f / f.sum()


def _case_census_surname(word: str, all_words: set[str]) -> str:
    if word.startswith("MC") and len(word) > 3:
        return "Mc" + word[2:].capitalize()
    if word.startswith("MAC") and len(word) > 4 and ("MC" + word[3:]) in all_words:
        return "Mac" + word[3:].capitalize()
    if word.startswith("O") and word[1:] in _O_ROOTS:
        return "O'" + word[1:].capitalize()
    return word.capitalize()


def _pool(names: list[str], weights: np.ndarray) -> Pool:
    w = np.asarray(weights, dtype=np.float64)
    return Pool(np.asarray(names, dtype=object), w / w.sum())


def _zipf_pool(names: list[str] | tuple[str, ...], salt: int) -> Pool:
    uniq = sorted(set(names))
    order = np.random.default_rng(1000 + salt).permutation(len(uniq))
    weights = 1.0 / np.power(np.arange(1, len(uniq) + 1, dtype=np.float64), 0.9)
    return _pool([uniq[i] for i in order], weights)


def _provider(locale: str) -> Any:
    module = importlib.import_module(f"faker.providers.person.{locale}")
    return module.Provider


def _seq(provider: Any, *attrs: str) -> list[str]:
    for attr in attrs:
        value = getattr(provider, attr, None)
        if value and list(value) != ["Doe"]:
            return [str(v) for v in value]
    raise LookupError(f"{provider} has none of {attrs}")


_PL_FEMININE = ((r"ski$", "ska"), (r"cki$", "cka"), (r"dzki$", "dzka"))
_RU_FEMININE = (
    (r"ов$", "ова"),
    (r"ев$", "ева"),
    (r"ёв$", "ёва"),
    (r"ин$", "ина"),
    (r"ский$", "ская"),
    (r"цкий$", "цкая"),
)


def _feminine(names: list[str], rules: tuple[tuple[str, str], ...]) -> list[str]:
    out = []
    for n in names:
        for pat, rep in rules:
            if re.search(pat, n):
                n = re.sub(pat, rep, n)
                break
        out.append(n)
    return out


def _faker_group(name: str, share: float, locale: str, script: str, salt: int) -> Group:
    prov = _provider(locale)
    male = _seq(prov, "first_names_male", "first_names")
    female = _seq(prov, "first_names_female", "first_names")
    if locale == "pl_PL":
        sm = _seq(prov, "male_last_names") + _seq(prov, "unisex_last_names")
        sf = _feminine(_seq(prov, "male_last_names"), _PL_FEMININE) + _seq(
            prov, "unisex_last_names"
        )
    elif locale == "ru_RU":
        sm = _seq(prov, "last_names_male", "last_names")
        sf = (
            _seq(prov, "last_names_female")
            if getattr(prov, "last_names_female", None)
            else _feminine(sm, _RU_FEMININE)
        )
    else:
        sm = _seq(prov, "last_names_male", "last_names")
        sf = _seq(prov, "last_names_female", "last_names")
    # Keep single-word forenames (faker lists hold a few compounds such as 'Jean-Pierre' that
    # are fine, but not multi-word entries).
    male = [m for m in male if " " not in m]
    female = [f for f in female if " " not in f]
    if locale == "nl_NL":
        # faker's Dutch list mixes in historical names ("Godfrey van Alemannie", "Bourgondie,
        # van"): keep single-word surnames; the generator adds particles itself.
        sm = sf = [s for s in sm if " " not in s and "," not in s and s[:1].isupper()]
    return Group(
        name=name,
        share=share,
        script=script,
        male=_zipf_pool(male, salt),
        female=_zipf_pool(female, salt + 1),
        surname_male=_zipf_pool(sm, salt + 2),
        surname_female=_zipf_pool(sf, salt + 3) if sf != sm else _zipf_pool(sm, salt + 2),
    )


def _chinese_group(share: float) -> Group:
    prov = _provider("zh_CN")
    last = prov.last_names  # OrderedDict of surname -> frequency (real data)
    surnames = _pool([str(k) for k in last], np.asarray(list(last.values()), dtype=np.float64))
    male1 = [str(x) for x in prov.first_names_male]
    female1 = [str(x) for x in prov.first_names_female]
    # Given names are one or two characters: faker has both; add pairs of single characters.
    rng = np.random.default_rng(77)

    def paired(names: list[str]) -> list[str]:
        single = [x for x in names if len(x) == 1]
        pairs = rng.integers(0, len(single), (300, 2))
        return names + [single[i] + single[j] for i, j in pairs if i != j]

    male, female = paired(male1), paired(female1)
    return Group(
        "zh", share, "other", _zipf_pool(male, 90), _zipf_pool(female, 91), surnames, surnames
    )


def _arabic_group(share: float) -> Group:
    return Group(
        "ar",
        share,
        "other",
        _zipf_pool([a for a, _ in ARABIC_MALE], 95),
        _zipf_pool([a for a, _ in ARABIC_FEMALE], 96),
        _zipf_pool([a for a, _ in ARABIC_SURNAMES], 97),
        _zipf_pool([a for a, _ in ARABIC_SURNAMES], 97),
    )


@cache
def _english() -> Group:
    surnames, sf = _read_census("dist.all.last")
    all_words = set(surnames)
    cased = [_case_census_surname(w, all_words) for w in surnames]
    male, mf = _read_census("dist.male.first")
    female, ff = _read_census("dist.female.first")
    sur = _pool(cased, sf)
    return Group(
        "en",
        0.844,
        "latin",
        _pool([w.capitalize() for w in male], mf),
        _pool([w.capitalize() for w in female], ff),
        sur,
        sur,
    )


# (group name, share of population, faker locale, script)
_FAKER_GROUPS: tuple[tuple[str, float, str, str], ...] = (
    # Latin script, mostly with diacritics (7% of the population together)
    ("fr", 0.012, "fr_FR", "latin"),
    ("de", 0.012, "de_DE", "latin"),
    ("es", 0.010, "es_ES", "latin"),
    ("pl", 0.010, "pl_PL", "latin"),
    ("it", 0.006, "it_IT", "latin"),
    ("pt", 0.005, "pt_PT", "latin"),
    ("tr", 0.005, "tr_TR", "latin"),
    ("cs", 0.005, "cs_CZ", "latin"),
    ("ga", 0.005, "ga_IE", "latin"),
    ("nl", 0.006, "nl_NL", "latin"),
    # Latin script, ASCII (4%)
    ("in", 0.025, "en_IN", "latin"),
    ("yo", 0.010, "yo_NG", "latin"),
    ("ig", 0.005, "ig_NG", "latin"),
    # Other scripts (4% with zh and ar below)
    ("ru", 0.012, "ru_RU", "other"),
    ("el", 0.008, "el_GR", "other"),
)


@cache
def groups() -> tuple[Group, ...]:
    out = [_english()]
    for i, (name, share, locale, script) in enumerate(_FAKER_GROUPS):
        out.append(_faker_group(name, share, locale, script, salt=10 * (i + 1)))
    out.append(_chinese_group(0.012))
    out.append(_arabic_group(0.008))
    total = sum(g.share for g in out)
    if abs(total - 1.0) > 1e-9:
        raise AssertionError(f"group shares sum to {total}")
    return tuple(out)


GROUPS = groups


_ARABIC_ROMAN: dict[str, tuple[str, ...]] = {
    a: r for a, r in (*ARABIC_MALE, *ARABIC_FEMALE, *ARABIC_SURNAMES)
}

# Alternative spellings of romanised Cyrillic (BGN/PCGN vs ISO-like vs popular).
_RU_VARIANTS = (
    ("iy", "y"),
    ("yu", "iu"),
    ("ya", "ia"),
    ("kh", "h"),
    ("ks", "x"),
    ("shch", "sch"),
    ("ye", "e"),
    ("ts", "tz"),
)
_EL_VARIANTS = (("ou", "u"), ("ch", "h"), ("y", "i"), ("f", "ph"), ("mp", "b"), ("nt", "d"))

# Greek to Latin after ELOT 743 (the form on Greek passports), digraphs first.
_EL_DIGRAPHS = (
    ("ου", "ou"),
    ("αυ", "av"),
    ("ευ", "ev"),
    ("ηυ", "iv"),
    ("γγ", "ng"),
    ("γκ", "gk"),
    ("γξ", "nx"),
    ("γχ", "nch"),
    ("μπ", "mp"),
    ("ντ", "nt"),
    ("τσ", "ts"),
    ("τζ", "tz"),
)
_EL_LETTERS = str.maketrans(
    {
        "α": "a",
        "β": "v",
        "γ": "g",
        "δ": "d",
        "ε": "e",
        "ζ": "z",
        "η": "i",
        "θ": "th",
        "ι": "i",
        "κ": "k",
        "λ": "l",
        "μ": "m",
        "ν": "n",
        "ξ": "x",
        "ο": "o",
        "π": "p",
        "ρ": "r",
        "σ": "s",
        "ς": "s",
        "τ": "t",
        "υ": "y",
        "φ": "f",
        "χ": "ch",
        "ψ": "ps",
        "ω": "o",
    }
)


def _greek(native: str) -> str:
    import unicodedata

    s = "".join(
        c for c in unicodedata.normalize("NFD", native.lower()) if not unicodedata.combining(c)
    )
    for a, b in _EL_DIGRAPHS:
        s = s.replace(a, b)
    return anyascii(s.translate(_EL_LETTERS))


def _title(s: str) -> str:
    return " ".join(
        "-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")) for w in s.split()
    )


@cache
def romanizations(group: str, native: str) -> tuple[str, ...]:
    """The usual romanised spellings of a name in a non-Latin script; the first is canonical."""
    if group == "ar":
        return _ARABIC_ROMAN[native]
    base = _title((_greek(native) if group == "el" else anyascii(native)).replace("'", ""))
    out = [base]
    rules = _RU_VARIANTS if group == "ru" else _EL_VARIANTS if group == "el" else ()
    for a, b in rules:
        low = base.lower()
        if a in low:
            out.append(_title(low.replace(a, b)))
    return tuple(dict.fromkeys(out))


def fold(text: str) -> str:
    """A name in any script as lower-case ASCII, romanising each token the canonical way
    (Arabic from the table, Greek after ELOT 743, the rest by anyascii)."""
    return " ".join(_fold_token(t) for t in text.split()).lower()


@cache
def _fold_token(tok: str) -> str:
    rom = _ARABIC_ROMAN.get(tok)
    if rom is not None:
        return rom[0]
    if any("\u0370" <= ch <= "\u03ff" or "\u1f00" <= ch <= "\u1fff" for ch in tok):
        return _greek(tok)
    return anyascii(tok).replace("'", "")
