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

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from anyascii import anyascii

TITLES = frozenset(
    """mr mrs ms miss mx dr doctor rev revd reverend sir dame lord lady prof professor
    fr father capt captain col colonel major hon rt mstr master sgt""".split()
)
SUFFIXES = frozenset("jr jnr junior sr snr senior ii iii iv esq phd md obe mbe cbe kc qc".split())
PARTICLES = frozenset(
    """van von der den de la le du del della di da dos das do ter ten st saint al el
    bin ibn bint binti abu ap""".split()
)
_APOSTROPHES = "'`´‘’ʼ"


def _ascii_tokens(text: str) -> list[str]:
    t = unicodedata.normalize("NFKC", text)
    t = anyascii(t).lower()
    for ch in _APOSTROPHES:
        t = t.replace(ch, "")
    out = []
    for ch in t:
        out.append(ch if "a" <= ch <= "z" else " ")
    return "".join(out).split()


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


@lru_cache(maxsize=200_000)
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


@lru_cache(maxsize=400_000)
def surname(text: str) -> NormSurname:
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


@lru_cache(maxsize=400_000)
def phonetic(token: str) -> str:
    """Metaphone of a normalised token ('' for '')."""
    return jellyfish.metaphone(token) if token else ""


@lru_cache(maxsize=400_000)
def block_code(token: str) -> int:
    """Soundex of a normalised token as a small int (0 for ''), used in blocking keys."""
    if not token:
        return 0
    code = jellyfish.soundex(token)
    return (ord(code[0]) - 64) * 1000 + int(code[1:])


@lru_cache(maxsize=400_000)
def fold(token: str) -> str:
    """A transliteration-insensitive form: German umlaut spellings folded (mueller -> muller)."""
    return token.replace("ae", "a").replace("oe", "o").replace("ue", "u")
