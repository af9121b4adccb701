"""The Fellegi-Sunter model: comparison levels, their weights, term frequencies, bands.

Each field comparison lands in one *level*; a level carries a weight, the log2 of its Bayes
factor m/u (m: how often a true match shows this level; u: how often two different people
do). The weights add up with the prior log2 odds; the match probability is the logistic of
the sum. For exact name agreement u is the name's frequency in the loaded list
(term-frequency adjustment), so an exact "Smith" counts for less than an exact "Oyelaran".
See docs/matching.md for the rationale behind each figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

MATCHER_VERSION = "1.3.0"

Band = Literal["match", "possible", "no_match"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Probability thresholds: >= match is `match`, >= possible is `possible`."""

    match: float = 0.995
    possible: float = 0.15

    def __post_init__(self) -> None:
        if not 0.0 < self.possible <= self.match <= 1.0:
            raise ValueError("thresholds: need 0 < possible <= match <= 1")


# Prior log2 odds that a check and one list entry that reached scoring are the same person:
# -20 for a list of 1M entries, one bit more for each halving (a bigger list holds more
# namesakes), from a floor of 50,000 entries.
PRIOR_LOG2_1M = -20.0


def prior_log2(list_size: int) -> float:
    return PRIOR_LOG2_1M + math.log2(1_000_000 / max(list_size, 50_000))


# ---- forename (first forename) levels -------------------------------------------------
FN_EXACT, FN_FOLD, FN_NICKNAME, FN_JW_HIGH, FN_INITIAL, FN_PHONETIC = 0, 1, 2, 3, 4, 5
FN_MIDDLE_AS_FIRST, FN_JW_MID, FN_MISSING, FN_DIFFERENT = 6, 7, 8, 9
FN_NICKNAME_TYPO = 10
FN_LEVELS = (
    "exact",
    "transliteration",
    "nickname",
    "jaro_winkler_high",
    "initial",
    "phonetic",
    "middle_as_first",
    "jaro_winkler_mid",
    "missing",
    "different",
    "nickname_typo",
)
# Exact: m=0.80, u=frequency of the forename (see exact_weight).
# initial: one side gives only an initial and it agrees: m ~0.05, u ~0.05 x 1/15: ~3.8.
# middle_as_first: one side's first forename is the other's middle name (someone known by
# a middle name): m ~0.02, u ~0.05 among candidates sharing a surname: -1.5 (always
# capped at `possible`, so the weight only decides between `possible` and `no_match`).
# nickname_typo: one keystroke from a nickname or equivalent of the other forename (Sahuel /
# Sam via Samuel, Pollhy / Pauline via Polly), both of 3+ letters: a nickname keyed with a
# slip. m ~0.005, u ~0.002 among pairs already agreeing on surname and date: 1.0, always
# capped at `possible` (siblings' names can be that close too); looked for only where the
# full dates of birth agree.
FN_WEIGHTS = np.array([np.nan, 5.5, 2.5, 4.3, 4.0, 2.0, -1.5, 0.5, 0.0, -16.0, 1.0])

# ---- surname levels ----------------------------------------------------------------------
SN_EXACT, SN_PART, SN_FOLD, SN_JW_HIGH, SN_PHONETIC, SN_JW_MID, SN_MISSING, SN_DIFFERENT = range(8)
SN_ONE_EDIT = 8
SN_LEVELS = (
    "exact",
    "part",
    "transliteration",
    "jaro_winkler_high",
    "phonetic",
    "jaro_winkler_mid",
    "missing",
    "different",
    "one_edit",
)
# Exact and part: from the frequency (part = exact weight of the matched part - PART_COST).
# one_edit: one keystroke apart (a letter replaced, inserted, dropped, or two neighbours
# swapped), both surnames of 5+ letters, Jaro-Winkler below the high band (short names,
# where one slip costs Jaro-Winkler most: Morin / Mqrin). m ~0.05 (a single typo), u ~0.005
# (another real surname one edit away: Moran / Morin): log2(10) ~ 3.3.
# phonetic only (Reid / Reed, Knight / Night): different real surnames sound alike far more
# often than one person's surname is re-spelt beyond Jaro-Winkler's reach: m ~0.01,
# u ~0.0025: 2.0.
# jaro_winkler_high (>= 0.92): m ~0.07 (a typo in a keyed surname), u ~0.002: about 5.
SN_WEIGHTS = np.array([np.nan, np.nan, 6.5, 5.0, 2.0, 1.0, 0.0, -12.0, 3.5])

# ---- middle names (only when both sides have some) ----------------------------------------
MD_FULL, MD_INITIAL, MD_ONE_SIDE, MD_NONE, MD_DIFFERENT, MD_FOLD, MD_JW = range(7)
MD_LEVELS = (
    "exact",
    "initial",
    "one_side_only",
    "missing",
    "different",
    "transliteration",
    "jaro_winkler",
)
# transliteration: the same middle name in another romanisation, or written in an abjad on
# one side (Yasser / ياسر): weaker than exact, as for forenames and surnames.
# jaro_winkler: similar spellings (Yulya / Yuliya, Glavki / Glafki, a typo), >= MD_JW_MIN.
# one_side_only: middle names on one side only. m ~0.25 (a form filled without them), u ~0.5
# (about two people in three have a middle name, so two different people show exactly one
# side with middle names about half the time): -1.
# exact: m ~0.7, u = the middle name's frequency, 2-5% for the commonest (Ann, Marie, John,
# James): about 4.
# different: both sides give a middle name and they are unrelated. m ~0.03 (a middle name
# replaced or mis-keyed beyond recognition), u ~0.9: about -5.
MD_WEIGHTS = np.array([4.0, 1.5, -1.0, 0.0, -5.0, 2.0, 1.0])
MD_JW_MIN = 0.85

# ---- date of birth -------------------------------------------------------------------------
(
    DOB_EXACT,
    DOB_TRANSPOSED,
    DOB_YEAR_OFF_BY_ONE,
    DOB_PARTIAL_YM,
    DOB_ONE_DIGIT,
    DOB_PARTIAL_Y,
    DOB_SAME_YEAR_MONTH,
    DOB_MISSING,
    DOB_DIFFERENT,
    DOB_PARTIAL_OFF,
    DOB_ONE_DIGIT_DECADE,
) = range(11)
DOB_LEVELS = (
    "exact",
    "transposed_day_month",
    "year_off_by_one",
    "partial_year_month",
    "one_digit",
    "partial_year",
    "same_year_month",
    "missing",
    "different",
    "partial_year_off_by_one",
    "one_digit_decade",
)
# exact: m=0.88, u=1/(365*70); transposed: m=0.02; one digit: m=0.03, u~40 neighbours;
# different: m=0.005 (a true match with an unrelated date is rare), u=0.99, i.e. -7.6; set
# at -18 by policy so that no agreement of names can outweigh it, even at the smallest
# list's prior: such pairs are not even candidates (no blocking key joins names with
# unrelated dates), and a pair explained on its own must say the same;
# partial_year_off_by_one: m~0.015 (a wrong year on a partial date), u~2/70 (a namesake born
# in the year before or after): log2(0.5) = -1.
# one_digit_decade: the wrong digit is the year's decade or century (1961 / 1991): the only
# one-digit difference a same-name parent and child can show; reported apart so that a
# caseworker sees it. Same weight; both are capped.
# same_year_month: the day wrong in more than one keystroke: m ~0.0015, u ~0.001: 0.5.
# one_digit also takes two neighbouring digits swapped within the day, month or year
# (12 / 21: the other commonest keying slip), with the same m and u.
DOB_WEIGHTS = np.array([14.3, 9.0, 5.0, 9.5, 5.0, 6.0, 0.5, 0.0, -18.0, -1.0, 5.0])

# ---- gender ----------------------------------------------------------------------------------
GD_AGREE, GD_DIFFERENT, GD_MISSING = range(3)
GD_LEVELS = ("agree", "different", "missing")
GD_WEIGHTS = np.array([0.5, -4.0, 0.0])

# Levels that keep a pair out of `match` whatever its probability (at most `possible`):
# without agreement on forename, surname and a full date of birth a caseworker must look
# (twins, a parent and child with the same name, namesakes a digit apart). One exception,
# see DOB_PARTIAL_Y below.
# `phonetic` forenames (Gene / John, Gayle / Kyle, Jeanie / Joann) are how twins and other
# siblings sharing a surname and a date of birth most often look: a caseworker decides.
FN_NO_MATCH_BAND = (
    FN_DIFFERENT,
    FN_JW_MID,
    FN_MISSING,
    FN_MIDDLE_AS_FIRST,
    FN_PHONETIC,
    FN_NICKNAME_TYPO,
)
SN_NO_MATCH_BAND = (SN_DIFFERENT, SN_JW_MID, SN_MISSING)
DOB_NO_MATCH_BAND = (
    DOB_DIFFERENT,
    DOB_MISSING,
    DOB_ONE_DIGIT,
    DOB_ONE_DIGIT_DECADE,
    DOB_SAME_YEAR_MONTH,
    DOB_PARTIAL_OFF,
)
# DOB_PARTIAL_Y is capped in the engine unless the middle names agree exactly
# (MIDDLE_LIFTS_CAP): a list entry with only a year of birth that agrees is no bar to `match`
# when forename, middle name and surname all agree. A namesake who shares all three names
# *and* the year of birth is far rarer than the independence of the weights says for
# forename and surname alone (names run in families and communities), and a same-name
# parent and child are never born in the same year. Without an agreeing middle name the
# pair stays at most `possible`. (Tried and dropped for DOB_ONE_DIGIT, twice: on two
# synthetic seeds of 100k checks against 1M entries the pairs it let through were about
# 99.5% right, below the 99.9% asked of `match`; the wrong ones were full three-name
# namesakes a digit apart, Bryan William Clinton 1991 / 1994.)
MIDDLE_LIFTS_CAP = (DOB_PARTIAL_Y,)

# Term frequency for the transliteration level where the folded forms agree (Müller /
# Mueller, Zoë / Zoe, Łukasz / Lukasz): the same name written another way carries nearly
# the information of the name itself, so its weight is the exact weight of the more
# frequent of the two strings less FOLD_COST, never below the flat level weight. An abjad
# skeleton agreement (Lina / لينا) stays flat: a consonant skeleton is shared by many
# names. Jaro-Winkler levels stay flat too: near a rare surname lie other real surnames
# (Cuellar / Cellar, Randolph / Rando), and twins are given similar forenames.
FOLD_COST = 1.5

# Cost of pairing forename with surname and surname with forename (swapped fields).
SWAP_COST = 1.0

# Term-frequency adjustment of exact name agreement.
FN_EXACT_M = 0.80
SN_EXACT_M = 0.85
TF_FLOOR = 1.0 / 200_000  # frequency floor (names unseen or nearly unseen in the list)
FN_EXACT_MIN = 6.0  # exact agreement always above any fuzzy level
FN_EXACT_MAX = 12.0
SN_EXACT_MIN = 7.0
SN_EXACT_MAX = 15.0
# A part of a double-barrelled or particled surname (Cooper in Parrish-Cooper): the part's
# frequency as a whole surname understates how often it appears as a part of others.
PART_COST = 2.5
# Frequencies are counts over max(list rows, TF_MIN_ROWS): a small list is read as a sample
# of a large population, so one entry in a list of 300 does not make a name "common".
TF_MIN_ROWS = 50_000


# The most the names of a pair can add: exact forename and surname at their caps, and an
# exact middle name (a swapped pairing adds less).
MAX_NAME_WEIGHT = FN_EXACT_MAX + SN_EXACT_MAX + float(MD_WEIGHTS.max())


def exact_weight(freq: NDArray[np.float64], m: float, lo: float, hi: float) -> NDArray[np.float64]:
    """log2(m / u) with u the name's frequency in the list, clipped to [lo, hi]."""
    u = np.maximum(freq, TF_FLOOR)
    w: NDArray[np.float64] = np.clip(np.log2(m / u), lo, hi)
    return w


def probability(weight: NDArray[np.float64]) -> NDArray[np.float64]:
    """Logistic of the total log2 odds (prior included), in [0, 1]."""
    z = np.clip(weight, -60.0, 60.0)
    p: NDArray[np.float64] = 1.0 / (1.0 + np.exp2(-z))
    return p


def band_of(p: float, capped: bool, thresholds: Thresholds) -> Band:
    if p >= thresholds.match and not capped:
        return "match"
    if p >= thresholds.possible:
        return "possible"
    return "no_match"


def log2_odds(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))
