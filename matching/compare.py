"""Field comparisons: vectorised over candidate pairs, one function per field.

Each function takes per-pair columns of the two sides (numpy arrays, aligned) and returns
the level code per pair (see :mod:`matching.model`); ``describe_*`` turn one pair's level
into the sentence a caseworker reads. String similarity uses rapidfuzz's batch
``cpdist`` (element-wise Jaro-Winkler over the pairs, in C++).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.process import cpdist

from matching import model as M
from matching.variants import equivalents

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

JW_HIGH = 0.92
JW_MID = 0.85


@dataclass(slots=True)
class Side:
    """One side's columns, one cell per candidate name pairing."""

    first: IntArray
    first_len: IntArray
    first_char: IntArray
    first_phon: IntArray
    first_fold: IntArray
    first_skel: IntArray
    fabjad: IntArray  # 1 if the forenames were written in an abjad (Arabic, Hebrew)
    fsur: IntArray  # the forenames read as a surname (Ó hEarchú), else 0: for swaps
    first_str: NDArray[np.object_]
    mid1: IntArray
    mid1_len: IntArray
    mid1_char: IntArray
    mid1_fold: IntArray
    mid1_skel: IntArray
    fsorted: IntArray
    fjoined: IntArray
    sur: IntArray
    sur_len: IntArray
    sur_phon: IntArray
    sur_fold: IntArray
    sur_skel: IntArray
    core_skel: IntArray  # skeleton of the surname without particles (al-): first part, else full
    sabjad: IntArray
    sur_str: NDArray[np.object_]
    p1: IntArray
    p2: IntArray
    sn_freq: FloatArray  # frequency of `sur` as a surname key in the list
    p1_freq: FloatArray
    p2_freq: FloatArray


def jaro_winkler(a: NDArray[np.object_], b: NDArray[np.object_]) -> FloatArray:
    if len(a) == 0:
        return np.zeros(0)
    out: FloatArray = cpdist(
        a, b, scorer=JaroWinkler.normalized_similarity, dtype=np.float32
    ).astype(np.float64)
    return out


ONE_EDIT_MIN_LEN = 5
ONE_EDIT_MIN_JW = 0.75


def one_edit_mask(
    a: NDArray[np.object_], b: NDArray[np.object_], a_len: IntArray, b_len: IntArray, jw: FloatArray
) -> BoolArray:
    """Strings one keystroke apart (optimal string alignment distance 1: a letter replaced,
    inserted or dropped, or two neighbours swapped), both of ONE_EDIT_MIN_LEN+ letters.
    Computed only where Jaro-Winkler is between ONE_EDIT_MIN_JW and the high band (one edit
    on 5+ letters never scores lower; at or above the high band the level is already set)."""
    out = np.zeros(len(a), dtype=bool)
    need = (
        (a_len >= ONE_EDIT_MIN_LEN)
        & (b_len >= ONE_EDIT_MIN_LEN)
        & (jw >= ONE_EDIT_MIN_JW)
        & (jw < JW_HIGH)
    )
    ix = np.flatnonzero(need)
    if len(ix):
        d = cpdist(a[ix], b[ix], scorer=OSA.distance, dtype=np.int32)
        out[ix] = d == 1
    return out


def nickname_typo(a: str, b: str) -> bool:
    """``a`` is one keystroke (OSA distance 1) from a nickname or equivalent of ``b``, or
    ``b`` from one of ``a``'s; names of 3+ letters."""
    if len(a) < 3 or len(b) < 3:
        return False
    for x, y in ((a, b), (b, a)):
        for e in equivalents(y):
            if len(e) >= 3 and OSA.distance(x, e, score_cutoff=1) <= 1:
                return True
    return False


def forename_levels(a: Side, b: Side, nickname: BoolArray, jw: FloatArray) -> IntArray:
    """Level of the first forenames (whole forenames for exact: token order ignored)."""
    missing = (a.first_len == 0) | (b.first_len == 0)
    exact = (a.first == b.first) | (a.fsorted == b.fsorted) | (a.fjoined == b.fjoined)
    initial = ((a.first_len == 1) | (b.first_len == 1)) & (a.first_char == b.first_char)
    both_long = (a.first_len > 1) & (b.first_len > 1)
    phonetic = (a.first_phon == b.first_phon) & both_long
    mid_first = ((a.first == b.mid1) & (b.mid1_len > 0)) | ((a.mid1 == b.first) & (a.mid1_len > 0))
    conds = [
        missing,
        exact,
        ((a.first_fold == b.first_fold) & both_long)
        | ((a.fabjad != b.fabjad) & (a.first_skel == b.first_skel)),
        nickname,
        (jw >= JW_HIGH) & both_long,
        initial,
        phonetic,
        mid_first,
        (jw >= JW_MID) & both_long,
    ]
    choices = [
        M.FN_MISSING,
        M.FN_EXACT,
        M.FN_FOLD,
        M.FN_NICKNAME,
        M.FN_JW_HIGH,
        M.FN_INITIAL,
        M.FN_PHONETIC,
        M.FN_MIDDLE_AS_FIRST,
        M.FN_JW_MID,
    ]
    out: IntArray = np.select(conds, choices, M.FN_DIFFERENT).astype(np.int64)
    return out


def surname_levels(
    a: Side, b: Side, jw: FloatArray, one_edit: BoolArray
) -> tuple[IntArray, FloatArray]:
    """Level of the surnames, and for a `part` agreement the matched part's frequency.

    ``one_edit``: the surnames are one keystroke apart (see :func:`one_edit_mask`)."""
    missing = (a.sur_len == 0) | (b.sur_len == 0)
    exact = a.sur == b.sur
    part_freq = np.full(len(a.sur), np.inf)
    part = np.zeros(len(a.sur), dtype=bool)
    a_keys = ((a.sur, a.sn_freq), (a.p1, a.p1_freq), (a.p2, a.p2_freq))
    b_keys = ((b.sur, b.sn_freq), (b.p1, b.p1_freq), (b.p2, b.p2_freq))
    for ia, (ka, fa) in enumerate(a_keys):
        for ib, (kb, fb) in enumerate(b_keys):
            if ia == 0 and ib == 0:
                continue
            hit = (ka == kb) & (ka > 0)
            part |= hit
            part_freq = np.where(hit, np.minimum(part_freq, np.maximum(fa, fb)), part_freq)
    both_long = (a.sur_len > 1) & (b.sur_len > 1)
    conds = [
        missing,
        exact,
        part,
        ((a.sur_fold == b.sur_fold) & both_long)
        | (
            (a.sabjad != b.sabjad)
            & ((a.sur_skel == b.sur_skel) | ((a.core_skel == b.core_skel) & (a.core_skel > 0)))
        ),
        (jw >= JW_HIGH) & both_long,
        one_edit,
        (a.sur_phon == b.sur_phon) & both_long,
        (jw >= JW_MID) & both_long,
    ]
    choices = [
        M.SN_MISSING,
        M.SN_EXACT,
        M.SN_PART,
        M.SN_FOLD,
        M.SN_JW_HIGH,
        M.SN_ONE_EDIT,
        M.SN_PHONETIC,
        M.SN_JW_MID,
    ]
    out: IntArray = np.select(conds, choices, M.SN_DIFFERENT).astype(np.int64)
    return out, np.where(np.isfinite(part_freq), part_freq, 0.0)


def middle_levels(a: Side, b: Side, fn_level: IntArray, jw: FloatArray) -> IntArray:
    """Middle names: compared only when both sides have some. ``jw``: Jaro-Winkler of the
    first middle names (0 where not computed)."""
    has_a = a.mid1_len > 0
    has_b = b.mid1_len > 0
    full = (a.mid1 == b.mid1) & has_a & has_b
    initial = has_a & has_b & ((a.mid1_len == 1) | (b.mid1_len == 1)) & (a.mid1_char == b.mid1_char)
    # Same fold (Juergen / Jurgen), or the same skeleton between an abjad and a romanisation
    # (Yasser / ياسر), as for forenames.
    both_long = (a.mid1_len > 1) & (b.mid1_len > 1)
    fold = both_long & (
        (a.mid1_fold == b.mid1_fold) | ((a.fabjad != b.fabjad) & (a.mid1_skel == b.mid1_skel))
    )
    conds = [
        fn_level == M.FN_MIDDLE_AS_FIRST,
        ~has_a & ~has_b,
        has_a ^ has_b,
        full,
        initial,
        fold,
        both_long & (jw >= M.MD_JW_MIN),
    ]
    choices = [
        M.MD_ONE_SIDE,
        M.MD_NONE,
        M.MD_ONE_SIDE,
        M.MD_FULL,
        M.MD_INITIAL,
        M.MD_FOLD,
        M.MD_JW,
    ]
    out: IntArray = np.select(conds, choices, M.MD_DIFFERENT).astype(np.int64)
    return out


def token_levels(
    a_id: IntArray,
    b_id: IntArray,
    a_len: IntArray,
    b_len: IntArray,
    a_fold: IntArray,
    b_fold: IntArray,
    a_phon: IntArray,
    b_phon: IntArray,
    jw: FloatArray,
) -> IntArray:
    """Forename-style level of two single tokens (used for swapped pairings)."""
    both_long = (a_len > 1) & (b_len > 1)
    conds = [
        (a_len == 0) | (b_len == 0),
        a_id == b_id,
        (a_fold == b_fold) & both_long,
        (jw >= JW_HIGH) & both_long,
        (a_phon == b_phon) & both_long,
        (jw >= JW_MID) & both_long,
    ]
    choices = [M.FN_MISSING, M.FN_EXACT, M.FN_FOLD, M.FN_JW_HIGH, M.FN_PHONETIC, M.FN_JW_MID]
    out: IntArray = np.select(conds, choices, M.FN_DIFFERENT).astype(np.int64)
    return out


# Surname level for a forename-style token level (swapped pairings).
FN_TO_SN = np.array(
    [
        M.SN_EXACT,
        M.SN_FOLD,
        M.SN_DIFFERENT,
        M.SN_JW_HIGH,
        M.SN_DIFFERENT,
        M.SN_PHONETIC,
        M.SN_DIFFERENT,
        M.SN_JW_MID,
        M.SN_MISSING,
        M.SN_DIFFERENT,
        M.SN_DIFFERENT,
    ]
)


def dob_levels(
    ay: IntArray, am: IntArray, ad: IntArray, by: IntArray, bm: IntArray, bd: IntArray
) -> IntArray:
    """Date-of-birth level; 0 in a component means unknown (year 0: no date)."""
    missing = (ay == 0) | (by == 0)
    full = (am > 0) & (ad > 0) & (bm > 0) & (bd > 0)
    same_y = ay == by
    exact = full & same_y & (am == bm) & (ad == bd)
    transposed = full & same_y & (am == bd) & (ad == bm) & (am != ad)
    off_by_one = full & (np.abs(ay - by) == 1) & (am == bm) & (ad == bd)
    # One digit wrong, or two neighbouring digits of one field swapped (12 / 21, 1985 / 1958,
    # the other commonest keying slip): both change exactly one of year, month and day, so
    # the eight digits of YYYYMMDD are compared only for such pairs (few of all candidates).
    # A slip in the year's decade or century digit counts as `decade` (a parent's year).
    one_digit = np.zeros(len(ay), dtype=bool)
    one_digit_decade = np.zeros(len(ay), dtype=bool)
    nfields = (ay != by).astype(np.int8) + (am != bm) + (ad != bd)
    ix = np.flatnonzero(full & (nfields == 1))
    if len(ix):
        da = ay[ix] * 10000 + am[ix] * 100 + ad[ix]
        db = by[ix] * 10000 + bm[ix] * 100 + bd[ix]
        dig_a = [(da // 10**k) % 10 for k in range(8)]
        dig_b = [(db // 10**k) % 10 for k in range(8)]
        differs = [x != y for x, y in zip(dig_a, dig_b, strict=True)]
        ndiff = np.sum(differs, axis=0)
        decade_or_century = differs[5] | differs[6] | differs[7]
        swap = np.zeros(len(ix), dtype=bool)
        swap_decade = np.zeros(len(ix), dtype=bool)
        for k in (0, 2, 4, 5, 6):  # pairs (k, k+1) inside DD, MM or YYYY
            hit = (
                (ndiff == 2)
                & (dig_a[k] == dig_b[k + 1])
                & (dig_a[k + 1] == dig_b[k])
                & (dig_a[k] != dig_a[k + 1])
            )
            if k >= 4:
                swap_decade |= hit
            else:
                swap |= hit
        one_digit[ix] = ((ndiff == 1) & ~decade_or_century) | swap
        one_digit_decade[ix] = ((ndiff == 1) & decade_or_century) | swap_decade
    same_ym = full & same_y & (am == bm)
    partial = ~full
    months_ok = (am == 0) | (bm == 0) | (am == bm)
    partial_ym = (
        partial & same_y & (am > 0) & (bm > 0) & (am == bm) & ((ad == 0) | (bd == 0) | (ad == bd))
    )
    partial_y = partial & same_y & months_ok
    days_ok = (ad == 0) | (bd == 0) | (ad == bd)
    partial_off = partial & (np.abs(ay - by) == 1) & months_ok & days_ok
    conds = [
        missing,
        exact,
        transposed,
        off_by_one,
        partial_ym,
        one_digit,
        one_digit_decade,
        partial_y,
        same_ym,
        partial_off,
    ]
    choices = [
        M.DOB_MISSING,
        M.DOB_EXACT,
        M.DOB_TRANSPOSED,
        M.DOB_YEAR_OFF_BY_ONE,
        M.DOB_PARTIAL_YM,
        M.DOB_ONE_DIGIT,
        M.DOB_ONE_DIGIT_DECADE,
        M.DOB_PARTIAL_Y,
        M.DOB_SAME_YEAR_MONTH,
        M.DOB_PARTIAL_OFF,
    ]
    out: IntArray = np.select(conds, choices, M.DOB_DIFFERENT).astype(np.int64)
    return out


def gender_levels(ag: IntArray, bg: IntArray) -> IntArray:
    out: IntArray = np.where(
        (ag == 0) | (bg == 0), M.GD_MISSING, np.where(ag == bg, M.GD_AGREE, M.GD_DIFFERENT)
    ).astype(np.int64)
    return out


# ---- sentences for caseworkers ----------------------------------------------------------

_FN_TEXT = {
    "exact": "same forename ({a})",
    "transliteration": "same forename in another transliteration ({a} vs {b})",
    "nickname": "nickname or equivalent forename ({a} vs {b})",
    "jaro_winkler_high": "forenames spelled very similarly ({a} vs {b})",
    "initial": "initial against full forename ({a} vs {b})",
    "phonetic": "forenames sound alike ({a} vs {b})",
    "middle_as_first": "forename given matches a middle name on the other side ({a} vs {b})",
    "jaro_winkler_mid": "forenames somewhat similar ({a} vs {b})",
    "missing": "forename missing on one side",
    "different": "different forenames ({a} vs {b})",
    "nickname_typo": "one keystroke from a nickname or equivalent of the other ({a} vs {b})",
}
_SN_TEXT = {
    "exact": "same surname ({a})",
    "part": "one part of a double-barrelled or prefixed surname agrees ({a} vs {b})",
    "transliteration": "same surname in another transliteration ({a} vs {b})",
    "jaro_winkler_high": "surnames spelled very similarly ({a} vs {b})",
    "one_edit": "surnames one keystroke apart ({a} vs {b})",
    "phonetic": "surnames sound alike ({a} vs {b})",
    "jaro_winkler_mid": "surnames somewhat similar ({a} vs {b})",
    "missing": "surname missing on one side",
    "different": "different surnames ({a} vs {b})",
}
_MD_TEXT = {
    "exact": "same middle name ({a})",
    "transliteration": "same middle name in another transliteration ({a} vs {b})",
    "initial": "middle initial agrees ({a} vs {b})",
    "one_side_only": "middle name on one side only",
    "missing": "no middle names",
    "different": "different middle names ({a} vs {b})",
    "jaro_winkler": "similar middle names ({a} vs {b})",
}
_DOB_TEXT = {
    "exact": "same date of birth ({a})",
    "transposed_day_month": "day and month transposed ({a} vs {b})",
    "year_off_by_one": "year of birth one apart ({a} vs {b})",
    "partial_year_month": "year and month of birth agree, day unknown on one side ({a} vs {b})",
    "one_digit": (
        "dates of birth differ in one digit, or by two neighbouring digits swapped ({a} vs {b})"
    ),
    "one_digit_decade": (
        "years of birth differ in the decade or century digit, or by two of its digits"
        " swapped ({a} vs {b})"
    ),
    "partial_year": "year of birth agrees, the rest unknown on one side ({a} vs {b})",
    "same_year_month": "same year and month, different day ({a} vs {b})",
    "missing": "date of birth missing on one side",
    "different": "different dates of birth ({a} vs {b})",
    "partial_year_off_by_one": (
        "years of birth one apart, the rest unknown on one side ({a} vs {b})"
    ),
}
_GD_TEXT = {
    "agree": "same gender",
    "different": "different genders (as given, or as the list shows the forenames)",
    "missing": "gender not given on one side",
}
TEXTS = {
    "forenames": _FN_TEXT,
    "surname": _SN_TEXT,
    "middle_names": _MD_TEXT,
    "date_of_birth": _DOB_TEXT,
    "gender": _GD_TEXT,
}


def describe(field: str, level: str, a: str, b: str) -> str:
    text = TEXTS[field][level].format(a=a or "none", b=b or "none")
    return f"{field.replace('_', ' ')}: {text}"


def format_date(y: int, m: int, d: int) -> str:
    if y == 0:
        return ""
    if m == 0:
        return f"{y:04d}"
    if d == 0:
        return f"{m:02d}/{y:04d}"
    return f"{d:02d}/{m:02d}/{y:04d}"
