"""Normalisation of names to the forms the matcher compares.

Steps, in order: Unicode NFKC; transliteration of every script to ASCII with ``anyascii``
(Zoë -> zoe, Łukasz -> lukasz, Владимир -> vladimir, 王 -> wang); casefold; apostrophes
dropped (O'Brien -> obrien); any other punctuation, hyphens included, splits tokens;
titles (Mr, Dr, Rev...) and suffixes (Jr, III...) dropped; in surnames, Mac/Mc folded to
``mc`` and particles (van der, de la, al...) kept in the full key but dropped from the
"parts" so that "van der Berg" also matches "Berg" and "Smith-Jones" matches "Smith" and
"Jones".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from anyascii import anyascii

TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "doctor",
        "rev",
        "revd",
        "reverend",
        "sir",
        "dame",
        "lord",
        "lady",
        "prof",
        "professor",
        "fr",
        "father",
        "capt",
        "captain",
        "col",
        "colonel",
        "major",
        "hon",
        "rt",
        "mstr",
        "master",
        "sgt",
    ]
)
SUFFIXES = frozenset(
    [
        "jr",
        "jnr",
        "junior",
        "sr",
        "snr",
        "senior",
        "ii",
        "iii",
        "iv",
        "esq",
        "phd",
        "md",
        "obe",
        "mbe",
        "cbe",
        "kc",
        "qc",
    ]
)
PARTICLES = frozenset(
    [
        "van",
        "von",
        "der",
        "den",
        "de",
        "la",
        "le",
        "du",
        "del",
        "della",
        "di",
        "da",
        "dos",
        "das",
        "do",
        "ter",
        "ten",
        "st",
        "saint",
        "al",
        "el",
        "bin",
        "ibn",
        "bint",
        "binti",
        "abu",
        "ap",
    ]
)
_APOSTROPHES = "'`´‘’ʼ"


_TABLE: dict[int, str | None] = {i: " " for i in range(128) if not chr(i).isalpha()}
_TABLE.update({ord(ch): None for ch in _APOSTROPHES})


def _ascii_tokens(text: str) -> list[str]:
    if not text.isascii():
        for ch in _APOSTROPHES:
            text = text.replace(ch, "'")
        text = anyascii(unicodedata.normalize("NFKC", text))
    return text.lower().translate(_TABLE).split()


@dataclass(frozen=True, slots=True)
class NormForenames:
    first: str  # first forename ('' if none)
    middle: str  # middle names joined by one space ('' if none)
    sorted_key: str  # all tokens sorted and joined by a space (token order does not matter)
    joined: str  # all tokens joined without spaces ('Mary-Ann' == 'Maryann')


@dataclass(frozen=True, slots=True)
class NormSurname:
    full: str  # every token joined without spaces ('vanderberg', 'smithjones')
    parts: tuple[str, ...]  # up to two other keys: core tokens without particles


@lru_cache(maxsize=20_000)
def forenames(text: str) -> NormForenames:
    tokens = _ascii_tokens(text)
    while len(tokens) > 1 and tokens[0] in TITLES:
        tokens = tokens[1:]
    while len(tokens) > 1 and tokens[-1] in SUFFIXES:
        tokens = tokens[:-1]
    if not tokens:
        return NormForenames("", "", "", "")
    return NormForenames(tokens[0], " ".join(tokens[1:]), " ".join(sorted(tokens)), "".join(tokens))


def _fold_mac(token: str) -> str:
    if token.startswith("mac") and len(token) > 5:
        return "mc" + token[3:]
    return token


_ARABIC_AL = re.compile(r"(^|[\s\-])\u0627\u0644(?=\w)")


@lru_cache(maxsize=20_000)
def surname(text: str) -> NormSurname:
    if "\u0627\u0644" in text:
        # Arabic article al- written joined to the word: make it a particle token.
        text = _ARABIC_AL.sub(r"\1al ", text)
    tokens = _ascii_tokens(text)
    while len(tokens) > 1 and tokens[-1] in SUFFIXES:
        tokens = tokens[:-1]
    while len(tokens) > 1 and tokens[0] in TITLES:
        tokens = tokens[1:]
    tokens = [_fold_mac(t) for t in tokens]
    if not tokens:
        return NormSurname("", ())
    full = "".join(tokens)
    core = [t for t in tokens if t not in PARTICLES] or tokens
    parts: list[str] = []
    if len(core) >= 2:
        parts = [core[0], core[-1]]
    elif core[0] != full:
        parts = [core[0]]
    parts = [p for p in parts if p != full and len(p) > 1]
    return NormSurname(full, tuple(dict.fromkeys(parts)))


@lru_cache(maxsize=20_000)
def phonetic(token: str) -> str:
    """Metaphone of a normalised token ('' for '')."""
    return jellyfish.metaphone(token) if token else ""


_META = "0ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@lru_cache(maxsize=20_000)
def block_code(token: str) -> int:
    """The first four letters of the token's Metaphone as an int in [1, 27**4) (0 for '').

    Metaphone ignores vowels after the first letter, so it also joins romanisations
    written without vowels (Arabic 'mnswr' and 'Mansour' both give MNSR).
    """
    if not token:
        return 0
    code = (jellyfish.metaphone(token) or token[0].upper())[:4]
    n = 0
    for ch in code:
        n = n * 27 + max(_META.find(ch), 0)
    return max(n, 1)


@lru_cache(maxsize=20_000)
def fold(token: str) -> str:
    """A transliteration-insensitive form: German umlaut spellings folded (mueller -> muller)."""
    return token.replace("ae", "a").replace("oe", "o").replace("ue", "u")


_SKEL_TABLE = str.maketrans({"q": "k", "c": "k", "v": "w", **{ch: None for ch in "aeiouywh"}})


@lru_cache(maxsize=20_000)
def skeleton(token: str) -> str:
    """Consonant skeleton: vowels, y, w, h dropped, q/c as k, ch as s, doubled letters
    collapsed.

    Used only between a name written in an abjad (Arabic, Hebrew: vowels mostly unwritten)
    and a romanised one: 'mhmd' and 'mohammed' both give 'md'.
    """
    # ch is the French romanisation of ش (Rachid, Achraf, Chaker = Rashid, Ashraf, Shaker).
    t = token.replace("ph", "f").replace("ch", "s").translate(_SKEL_TABLE)
    out: list[str] = []
    for ch in t:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


_ABJAD = re.compile("[\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\ufb1d-\ufdff\ufe70-\ufeff]")


def is_abjad(text: str) -> bool:
    """True when the text is written (at least partly) in the Arabic or Hebrew script."""
    return not text.isascii() and _ABJAD.search(text) is not None


def clear_caches() -> None:
    """Drop the normalisation caches (after a bulk index build, to return memory)."""
    for f in (forenames, surname, phonetic, block_code, fold, skeleton):
        f.cache_clear()
