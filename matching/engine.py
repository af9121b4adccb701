"""Match one identity or many: block -> score (vectorised) -> explained result.

One check and many checks go through the same code: a batch of checks becomes columns,
blocking keys are looked up for all of them at once, every (check, entry) candidate is
expanded to all pairings of their names (current and previous, both sides), levels and
weights are computed with numpy / rapidfuzz over all pairings, the best pairing per
candidate is kept, and only candidates reaching the `possible` threshold are turned into
explained :class:`Candidate` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from matching import compare as C
from matching import model as M
from matching.identity import Identity
from matching.index import (
    ALL_LISTS,
    DOB_ABJAD_ROW,
    GENDER_CODE,
    T_F_SI,
    T_FS_ALL,
    T_FS_NODOB,
    T_S_FI,
    ListIndex,
    forename_ids,
    key_dob,
    key_f_md,
    key_f_si_y,
    key_f_y,
    key_fs,
    key_s_md,
    key_s_y,
    key_s_yd,
    key_s_ym,
    surname_ids,
)
from matching.model import MATCHER_VERSION, Band, Thresholds
from matching.variants import is_direct
from matching.vocab import IntArray, Overlay

FloatArray = NDArray[np.float64]

__all__ = [
    "MATCHER_VERSION",
    "Band",
    "Candidate",
    "Engine",
    "FieldExplanation",
    "MatchResult",
    "Thresholds",
]


@dataclass(frozen=True, slots=True)
class FieldExplanation:
    field: str
    level: str
    weight: float
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {
            "field": self.field,
            "level": self.level,
            "weight": round(self.weight, 3),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str
    probability: float
    band: Band
    weight: float
    fields: tuple[FieldExplanation, ...]
    name_pairing: tuple[int, int, bool] = (0, 0, False)  # (check name, list name, swapped)
    prior: float = 0.0  # the prior log2 odds included in `weight`

    def explanation(self) -> dict[str, object]:
        ci, li, swapped = self.name_pairing
        return {
            "matcher_version": MATCHER_VERSION,
            "probability": round(self.probability, 6),
            "band": self.band,
            "weight": round(self.weight, 3),
            "prior_weight": round(self.prior, 3),
            "fields": [f.as_dict() for f in self.fields],
            "name_pairing": {
                "check_name": "current" if ci == 0 else f"previous {ci}",
                "list_name": "current" if li == 0 else f"previous {li}",
                "swapped": swapped,
            },
        }


@dataclass(frozen=True, slots=True)
class MatchResult:
    band: Band
    candidates: tuple[Candidate, ...]
    matcher_version: str

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass(slots=True)
class _Table:
    """Owners (checks or list entries) with their name rows, as columns."""

    row_start: IntArray
    row_count: IntArray
    year: IntArray
    month: IntArray
    day: IntArray
    gender: IntArray
    first: IntArray
    mid1: IntArray
    fsorted: IntArray
    fjoined: IntArray
    fabjad: IntArray
    fsur: IntArray
    sur: IntArray
    p1: IntArray
    p2: IntArray
    sabjad: IntArray


_IdCache = dict[str, tuple[int, ...]]


def _query_table(
    identities: Sequence[Identity],
    lex: Overlay,
    fcache: _IdCache | None = None,
    scache: _IdCache | None = None,
) -> _Table:
    """Columns of the checks' names. Ids known to the vocab are cached across calls (the
    vocab only grows, so they stay valid); ids private to this overlay are not."""
    fcache = {} if fcache is None else fcache
    scache = {} if scache is None else scache
    base = lex.base
    rows: list[int] = []
    owners: list[int] = []
    n_rows = 0
    for ident in identities:
        names = ident.names
        for n in names:
            f = fcache.get(n.forenames)
            if f is None:
                f = forename_ids(n.forenames, lex)
                if f[0] < base and f[1] < base and f[5] < base:
                    fcache[n.forenames] = f
            s = scache.get(n.surname)
            if s is None:
                s = surname_ids(n.surname, lex)
                if s[0] < base and s[1] < base and s[2] < base:
                    scache[n.surname] = s
            rows += f
            rows += s
        dob = ident.date_of_birth
        if dob is None:
            y = m = d = 0
        else:
            y, m, d = dob.year, dob.month or 0, dob.day or 0
        owners += (n_rows, len(names), y, m, d, GENDER_CODE.get(ident.gender, 0))
        n_rows += len(names)
    r = np.array(rows, dtype=np.int64).reshape(-1, 10).T
    o = np.array(owners, dtype=np.int64).reshape(-1, 6).T
    return _Table(*o, *r)


def _index_table(index: ListIndex) -> _Table:
    def i64(a: NDArray[np.generic]) -> IntArray:
        return a  # type: ignore[return-value]

    return _Table(
        i64(index.row_start.a),
        i64(index.row_count.a),
        i64(index.year.a),
        i64(index.month.a),
        i64(index.day.a),
        i64(index.gender.a),
        i64(index.r_first.a),
        i64(index.r_mid1.a),
        i64(index.r_fsorted.a),
        i64(index.r_fjoined.a),
        i64(index.r_fabjad.a),
        i64(index.r_fsur.a),
        i64(index.r_sur.a),
        i64(index.r_p1.a),
        i64(index.r_p2.a),
        i64(index.r_sabjad.a),
    )


@dataclass(slots=True)
class _Scored:
    """Per candidate (check, entry): best pairing, levels, weights, probability."""

    qa: IntArray  # owner index on side a (check)
    qb: IntArray  # owner index on side b (entry)
    row_a: IntArray  # best pairing's name rows
    row_b: IntArray
    swapped: NDArray[np.bool_]
    fn: IntArray
    md: IntArray
    sn: IntArray
    dob: IntArray
    gd: IntArray
    w_fn: FloatArray
    w_md: FloatArray
    w_sn: FloatArray
    w_dob: FloatArray
    w_gd: FloatArray
    total: FloatArray
    prob: FloatArray
    capped: NDArray[np.bool_]
    # Why forenames at `jaro_winkler_high` or `nickname` hold a pair at `possible` (0: they
    # do not; see the _HELD_FORENAMES sentences).
    forename_hold: IntArray


class Engine:
    """Scores identities against a :class:`ListIndex`."""

    def __init__(self, index: ListIndex, thresholds: Thresholds | None = None) -> None:
        self.index = index
        self.thresholds = thresholds or Thresholds()
        self._fcache: _IdCache = {}
        self._scache: _IdCache = {}

    # ---- public ---------------------------------------------------------------------

    def match(self, identity: Identity, lists: int = ALL_LISTS) -> MatchResult:
        return self.match_many([identity], lists)[0]

    def match_many(
        self, identities: Sequence[Identity], lists: int = ALL_LISTS
    ) -> list[MatchResult]:
        if not identities:
            return []
        lex = Overlay(self.index.vocab)
        if len(self._fcache) > 300_000:
            self._fcache.clear()
        if len(self._scache) > 300_000:
            self._scache.clear()
        qt = _query_table(identities, lex, self._fcache, self._scache)
        et = _index_table(self.index)
        qa, qb = self._candidates(qt, lex, lists)
        prior = M.prior_log2(len(self.index))
        qa, qb, dob = self._reachable(qa, qb, qt, et, prior)
        floor = M.log2_odds(self.thresholds.possible)
        s = _score(qa, qb, qt, et, lex, self.index.live_rows, prior, floor, dob)
        keep = s.prob >= self.thresholds.possible
        per_check: list[list[Candidate]] = [[] for _ in identities]
        for j in np.flatnonzero(keep):
            per_check[int(s.qa[j])].append(
                _candidate(s, int(j), self.index.key_of(int(s.qb[j])), qt, et, lex, self.thresholds)
            )
        out = []
        for cands in per_check:
            cands.sort(key=lambda c: (-c.probability, -c.weight, c.key))
            if len(cands) > 1 and cands[0].band == "match":
                cands = _hold_ambiguous(cands, self.thresholds, self._same_person)
            band: Band = cands[0].band if cands else "no_match"
            out.append(MatchResult(band, tuple(cands), MATCHER_VERSION))
        return out

    def score_pair(self, a: Identity, b: Identity) -> Candidate:
        """Explain any pair; term frequencies come from this engine's list."""
        lex = Overlay(self.index.vocab)
        ta = _query_table([a], lex)
        tb = _query_table([b], lex)
        zero = np.zeros(1, dtype=np.int64)
        prior = M.prior_log2(len(self.index))
        floor = M.log2_odds(self.thresholds.possible)
        s = _score(zero, zero, ta, tb, lex, self.index.live_rows, prior, floor)
        return _candidate(s, 0, "", ta, tb, lex, self.thresholds)

    def _same_person(self, key_a: str, key_b: str) -> bool:
        """Do two list entries match each other (a person listed twice)?"""
        idx = self.index
        ea, eb = idx.entry_of(key_a), idx.entry_of(key_b)
        if ea is None or eb is None:
            return False
        et = _index_table(idx)
        prior = M.prior_log2(len(idx))
        floor = M.log2_odds(self.thresholds.possible)
        qa, qb = np.array([ea], dtype=np.int64), np.array([eb], dtype=np.int64)
        s = _score(qa, qb, et, et, Overlay(idx.vocab), idx.live_rows, prior, floor)
        return M.band_of(float(s.prob[0]), bool(s.capped[0]), self.thresholds) == "match"

    # ---- blocking --------------------------------------------------------------------

    def _reachable(
        self, qa: IntArray, qb: IntArray, qt: _Table, et: _Table, prior: float
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Drop candidates that cannot reach `possible` even with every name agreeing
        exactly (in practice: dates of birth too different). Exact, and cheap: the date
        levels are a few integer comparisons, the names are the expensive part. Returns
        the kept pairs and their date-of-birth levels (scoring reuses them)."""
        dob = _dob_levels(qa, qb, qt, et)
        best_case = prior + M.MAX_NAME_WEIGHT + M.DOB_WEIGHTS[dob] + M.GD_WEIGHTS.max()
        ok = best_case >= M.log2_odds(self.thresholds.possible)
        return qa[ok], qb[ok], dob[ok]

    def _candidates(self, qt: _Table, lex: Overlay, lists: int) -> tuple[IntArray, IntArray]:
        idx = self.index
        owner_of_row = np.repeat(np.arange(len(qt.row_start)), qt.row_count)
        y, m, d = qt.year, qt.month, qt.day
        full = (y > 0) & (m > 0) & (d > 0)
        trans = full & (d <= 12) & (d != m)
        keys: list[IntArray] = []
        owners: list[IntArray] = []
        ry, rm, rd = y[owner_of_row], m[owner_of_row], d[owner_of_row]
        rfull, rtrans = full[owner_of_row], trans[owner_of_row]
        code_first = lex.code(qt.first)
        code_sur = lex.code(qt.sur)
        code_p1 = lex.code(qt.p1)
        char_first = lex.char(qt.first)
        char_sur = lex.char(qt.sur)
        char_p1 = lex.char(qt.p1)
        char_p2 = lex.char(qt.p2)
        # Full date of birth (also transposed) with the forename's or the surname's initial,
        # straight and swapped.
        for which, letter in (
            (1, char_first),
            (2, char_sur),
            (1, char_sur),
            (2, char_first),
            (1, char_p1),
            (2, char_p1),
            (2, char_p2),
        ):
            sel = rfull & (letter > 0)
            keys.append(key_dob(ry[sel], rm[sel], rd[sel], which, letter[sel]))
            owners.append(owner_of_row[sel])
            sel = rtrans & (letter > 0)
            keys.append(key_dob(ry[sel], rd[sel], rm[sel], which, letter[sel]))
            owners.append(owner_of_row[sel])
        # The date alone against list rows written in an abjad; and a check row written in
        # an abjad looks up its date with every initial (its romanised initial is unknown).
        nil = np.zeros(len(ry), dtype=np.int64)
        keys.append(key_dob(ry[rfull], rm[rfull], rd[rfull], DOB_ABJAD_ROW, nil[rfull]))
        owners.append(owner_of_row[rfull])
        keys.append(key_dob(ry[rtrans], rd[rtrans], rm[rtrans], DOB_ABJAD_ROW, nil[rtrans]))
        owners.append(owner_of_row[rtrans])
        abjad = rfull & ((qt.fabjad > 0) | (qt.sabjad > 0))
        if abjad.any():
            ay, am, ad, ao = ry[abjad], rm[abjad], rd[abjad], owner_of_row[abjad]
            for which in (1, 2):
                for ch in range(ord("a"), ord("z") + 1):
                    letter = np.full(len(ay), ch, dtype=np.int64)
                    keys.append(key_dob(ay, am, ad, which, letter))
                    owners.append(ao)
                    keys.append(key_dob(ay, ad, am, which, letter))  # transposed
                    owners.append(ao)
        # A check giving only a year: the surname with each month (its forename may be
        # changed, and the list's entry may have a full date).
        year_only = (ry > 0) & (rm == 0)
        pairs = [
            (code_first, code_sur, char_first, char_sur),
            (code_first, code_p1, char_first, char_p1),
            (code_first, lex.code(qt.p2), char_first, char_p2),
            (code_sur, code_first, char_sur, char_first),  # forename and surname swapped
            (code_p1, code_first, char_p1, char_first),  # swapped, several 'surname' tokens
        ]
        for f, s, fi, si in pairs:
            ok = (s > 0) & (f > 0)
            for sel, key in (
                (ok & (ry > 0) & (rm > 0), key_s_ym(s, ry, rm)),
                (ok & rtrans, key_s_ym(s, ry, rd)),
                (ok & rfull, key_s_md(s, rm, rd)),
                (ok & rfull, key_s_yd(s, ry, rd)),
                (ok & (ry > 0), key_s_y(s, ry)),
                (ok, key_fs(T_FS_NODOB, f, s)),
                (ok & ~rfull, key_fs(T_FS_ALL, f, s)),
                (ok, key_fs(T_S_FI, s, fi)),
                (ok, key_fs(T_F_SI, f, si)),
                (ok & (ry > 0), key_f_y(f, ry)),
                (ok & (ry > 0) & (si > 0), key_f_si_y(f, si, ry)),
                (ok & rfull, key_f_md(f, rm, rd)),
            ):
                keys.append(key[sel])
                owners.append(owner_of_row[sel])
            sel = ok & year_only
            if sel.any():
                for mm in range(1, 13):
                    keys.append(key_s_ym(s[sel], ry[sel], np.full(int(sel.sum()), mm)))
                    owners.append(owner_of_row[sel])
        q_owner, rows = idx.lookup(np.concatenate(keys), np.concatenate(owners))
        if len(rows) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        entry = idx.row_entry.a[rows].astype(np.int64)
        ok = idx.alive.a[entry] & ((idx.lists.a[entry] & lists) != 0)
        pair = np.unique((q_owner[ok] << 32) | entry[ok])
        return pair >> 32, pair & 0xFFFFFFFF


# ---- scoring ------------------------------------------------------------------------------


def _side(t: _Table, rows: IntArray, lex: Overlay, live_rows: int) -> C.Side:
    first = t.first[rows].astype(np.int64)
    mid1 = t.mid1[rows].astype(np.int64)
    sur = t.sur[rows].astype(np.int64)
    p1 = t.p1[rows].astype(np.int64)
    p2 = t.p2[rows].astype(np.int64)
    denom = float(max(live_rows, M.TF_MIN_ROWS))
    sn_count = lex.vocab.sn_count
    return C.Side(
        first=first,
        first_len=lex.length(first),
        first_char=lex.char(first),
        first_phon=lex.phon(first),
        first_fold=lex.fold(first),
        first_skel=lex.skel(first),
        fabjad=t.fabjad[rows].astype(np.int64),
        fsur=t.fsur[rows].astype(np.int64),
        first_str=lex.strings(first),
        mid1=mid1,
        mid1_len=lex.length(mid1),
        mid1_char=lex.char(mid1),
        mid1_fold=lex.fold(mid1),
        mid1_skel=lex.skel(mid1),
        fsorted=t.fsorted[rows].astype(np.int64),
        fjoined=t.fjoined[rows].astype(np.int64),
        sur=sur,
        sur_len=lex.length(sur),
        sur_phon=lex.phon(sur),
        sur_fold=lex.fold(sur),
        sur_skel=lex.skel(sur),
        core_skel=lex.skel(np.where(p1 > 0, p1, sur)),
        sabjad=t.sabjad[rows].astype(np.int64),
        sur_str=lex.strings(sur),
        p1=p1,
        p2=p2,
        sn_freq=lex.count(sn_count, sur) / denom,
        p1_freq=lex.count(sn_count, p1) / denom,
        p2_freq=lex.count(sn_count, p2) / denom,
    )


def _nickname_mask(a: C.Side, b: C.Side, lex: Overlay) -> NDArray[np.bool_]:
    ids = np.unique(a.first)
    keys: list[int] = []
    for i in ids.tolist():
        s = lex.string(i)
        for j in lex.equivalent_ids(s):
            keys.append((i << 32) | j)
    if not keys:
        return np.zeros(len(a.first), dtype=bool)
    allowed = np.unique(np.array(keys, dtype=np.int64))
    probe = (a.first << 32) | b.first
    pos = np.searchsorted(allowed, probe)
    pos = np.minimum(pos, len(allowed) - 1)
    out: NDArray[np.bool_] = allowed[pos] == probe
    return out


def _sibling_nicknames(
    a_first: IntArray, b_first: IntArray, nickname: NDArray[np.bool_], lex: Overlay
) -> NDArray[np.bool_]:
    """Where the forenames are nickname-equivalent only through a third, full name."""
    out: NDArray[np.bool_] = np.zeros(len(a_first), dtype=bool)
    for j in np.flatnonzero(nickname).tolist():
        x, y = lex.string(int(a_first[j])), lex.string(int(b_first[j]))
        out[j] = not is_direct(x, y)
    return out


def _gender(given: IntArray, first: IntArray, lex: Overlay) -> IntArray:
    """The gender given, else the one the list shows for the forename (>= 95% of at least 5
    entries with a gender), else 0 (unknown)."""
    fem = lex.count(lex.vocab.fem_count, first)
    male = lex.count(lex.vocab.male_count, first)
    tot = fem + male
    inferred = np.where(
        (tot >= 5) & (fem >= 0.95 * tot), 1, np.where((tot >= 5) & (male >= 0.95 * tot), 2, 0)
    )
    out: IntArray = np.where(given > 0, given, inferred)
    return out


def _swap_token(x: C.Side, ix: IntArray) -> IntArray:
    """x's forename token to compare with the other side's surname in a swapped pairing:
    the whole forenames field where it reads like a surname (Ó hEarchú), else the first."""
    tok: IntArray = np.where(x.fsur[ix] > 0, x.fsur[ix], x.first[ix])
    return tok


def _cross_possible(x: C.Side, y: C.Side, ix: IntArray, lex: Overlay) -> NDArray[np.bool_]:
    """Could x's first forename agree with y's surname (full key or first part)?"""
    tok = _swap_token(x, ix)
    t_char, t_phon, t_skel = lex.char(tok), lex.phon(tok), lex.skel(tok)
    out: NDArray[np.bool_] = np.zeros(len(ix), dtype=bool)
    for key in (y.sur[ix], y.p1[ix]):
        out |= (key > 0) & (
            (t_char == lex.char(key)) | (t_phon == lex.phon(key)) | (t_skel == lex.skel(key))
        )
    return out


def _cross_level(x: C.Side, y: C.Side, ix: IntArray, lex: Overlay) -> IntArray:
    """Level of x's first forename against y's surname (its full key or first part), for
    swapped pairings; the better of the two (lower level codes are better here)."""
    tok = _swap_token(x, ix)
    tlen, tfold, tphon, tstr = lex.length(tok), lex.fold(tok), lex.phon(tok), lex.strings(tok)
    best: IntArray | None = None
    for key in (y.sur[ix], y.p1[ix]):
        jw = C.jaro_winkler(tstr, lex.strings(key))
        lvl = C.token_levels(
            tok, key, tlen, lex.length(key), tfold, lex.fold(key), tphon, lex.phon(key), jw
        )
        # Where there is no part, that comparison does not exist.
        best = lvl if best is None else np.minimum(best, np.where(key > 0, lvl, M.FN_DIFFERENT))
    assert best is not None
    return best


def _dob_levels(qa: IntArray, qb: IntArray, ta: _Table, tb: _Table) -> IntArray:
    """Date-of-birth level of each candidate (qa[i] of ta against qb[i] of tb)."""
    return C.dob_levels(
        ta.year[qa].astype(np.int64), ta.month[qa].astype(np.int64), ta.day[qa].astype(np.int64),
        tb.year[qb].astype(np.int64), tb.month[qb].astype(np.int64), tb.day[qb].astype(np.int64),
    )  # fmt: skip


def _all_spellings(
    freq: FloatArray,
    abjad: NDArray[np.bool_],
    skel: IntArray,
    skel_counts: NDArray[np.int64],
    lex: Overlay,
    denom: float,
) -> FloatArray:
    """A name written in an abjad is as common as all its spellings (its skeleton's count):
    its own spelling's count would make an exact حسين far rarer than the Husseins it stands
    for. Other names keep ``freq``."""
    if not abjad.any():
        return freq
    every = lex.skel_count(skel_counts, skel) / denom
    out: FloatArray = np.where(abjad, np.maximum(freq, every), freq)
    return out


def _jw_where(
    mask: NDArray[np.bool_], a: NDArray[np.object_], b: NDArray[np.object_]
) -> FloatArray:
    out = np.zeros(len(a))
    if mask.any():
        out[mask] = C.jaro_winkler(a[mask], b[mask])
    return out


def _score(
    qa: IntArray,
    qb: IntArray,
    ta: _Table,
    tb: _Table,
    lex: Overlay,
    live_rows: int,
    prior: float,
    floor: float,
    dob_c: IntArray | None = None,
) -> _Scored:
    """``floor``: the log2 odds of the `possible` threshold (pairs that cannot reach it are
    not looked at more closely); ``dob_c``: the candidates' date levels, if known."""
    n_cand = len(qa)
    # Expand each candidate to every pairing of its names.
    na = ta.row_count[qa].astype(np.int64)
    nb = tb.row_count[qb].astype(np.int64)
    npair = na * nb
    cand = np.repeat(np.arange(n_cand), npair)
    t = np.arange(int(npair.sum())) - np.repeat(np.cumsum(npair) - npair, npair)
    nb_r = nb[cand]
    rows_a = ta.row_start[qa][cand].astype(np.int64) + t // nb_r
    rows_b = tb.row_start[qb][cand].astype(np.int64) + t % nb_r
    a = _side(ta, rows_a, lex, live_rows)
    b = _side(tb, rows_b, lex, live_rows)
    denom = float(max(live_rows, M.TF_MIN_ROWS))
    fn_count = lex.vocab.fn_count
    sn_count = lex.vocab.sn_count

    # Forenames.
    nick = _nickname_mask(a, b, lex)
    need = (a.first != b.first) & (a.first_len > 1) & (b.first_len > 1)
    jw_f = _jw_where(need, a.first_str, b.first_str)
    fn = C.forename_levels(a, b, nick, jw_f)
    fn_freq = np.maximum(lex.count(fn_count, a.first), lex.count(fn_count, b.first)) / denom
    abjad = (a.fabjad > 0) | (b.fabjad > 0)
    fn_freq = _all_spellings(fn_freq, abjad, a.first_skel, lex.vocab.skel_fn_count, lex, denom)
    w_fn_exact = M.exact_weight(fn_freq, M.FN_EXACT_M, M.FN_EXACT_MIN, M.FN_EXACT_MAX)
    w_fn = np.select(
        [fn == M.FN_EXACT, (fn == M.FN_FOLD) & (a.first_fold == b.first_fold)],
        [w_fn_exact, np.maximum(M.FN_WEIGHTS[M.FN_FOLD], w_fn_exact - M.FOLD_COST)],
        M.FN_WEIGHTS[fn],
    )
    need = (a.mid1 != b.mid1) & (a.mid1_len > 1) & (b.mid1_len > 1)
    jw_m = np.zeros(len(need))
    im = np.flatnonzero(need)
    if len(im):
        jw_m[im] = C.jaro_winkler(lex.strings(a.mid1[im]), lex.strings(b.mid1[im]))
    md = C.middle_levels(a, b, fn, jw_m)
    w_md = M.MD_WEIGHTS[md]

    # Surnames.
    need = (a.sur != b.sur) & (a.sur_len > 1) & (b.sur_len > 1)
    jw_s = _jw_where(need, a.sur_str, b.sur_str)
    edit_s = C.one_edit_mask(a.sur_str, b.sur_str, a.sur_len, b.sur_len, jw_s)
    sn, part_freq = C.surname_levels(a, b, jw_s, edit_s)
    sn_freq = np.maximum(a.sn_freq, b.sn_freq)
    abjad = (a.sabjad > 0) | (b.sabjad > 0)
    sn_freq = _all_spellings(sn_freq, abjad, a.sur_skel, lex.vocab.skel_sn_count, lex, denom)
    w_sn_exact = M.exact_weight(sn_freq, M.SN_EXACT_M, M.SN_EXACT_MIN, M.SN_EXACT_MAX)
    w_sn = np.select(
        [sn == M.SN_EXACT, sn == M.SN_PART, (sn == M.SN_FOLD) & (a.sur_fold == b.sur_fold)],
        [
            w_sn_exact,
            M.exact_weight(part_freq, M.SN_EXACT_M, M.SN_EXACT_MIN, M.SN_EXACT_MAX) - M.PART_COST,
            np.maximum(M.SN_WEIGHTS[M.SN_FOLD], w_sn_exact - M.FOLD_COST),
        ],
        M.SN_WEIGHTS[sn],
    )
    # A nickname keyed with a slip (Sahuel / Sam): looked for only where the forenames are
    # otherwise different, the dates of birth agree in full (two steps to agree on the
    # forename is weak evidence: with another difference it is too weak to show a
    # caseworker) and the pair could still reach `possible` with it.
    if dob_c is None:
        dob_c = _dob_levels(qa, qb, ta, tb)
    reach = (
        prior
        + M.FN_WEIGHTS[M.FN_NICKNAME_TYPO]
        + w_sn
        + M.MD_WEIGHTS.max()
        + M.DOB_WEIGHTS[dob_c][cand]
        + M.GD_WEIGHTS.max()
    )
    typo = np.flatnonzero((fn == M.FN_DIFFERENT) & (dob_c[cand] == M.DOB_EXACT) & (reach >= floor))
    if len(typo):
        seen: dict[tuple[int, int], bool] = {}
        hit = np.zeros(len(typo), dtype=bool)
        pairs = zip(a.first[typo].tolist(), b.first[typo].tolist(), strict=True)
        for k, (x, y) in enumerate(pairs):
            got = seen.get((x, y))
            if got is None:
                got = seen[(x, y)] = C.nickname_typo(lex.string(x), lex.string(y))
            hit[k] = got
        fn[typo[hit]] = M.FN_NICKNAME_TYPO
        w_fn[typo[hit]] = M.FN_WEIGHTS[M.FN_NICKNAME_TYPO]
    w_name = w_fn + w_md + w_sn

    # Forename and surname swapped: tried only where the straight pairing is weak.
    weak = {M.FN_DIFFERENT, M.FN_JW_MID, M.FN_PHONETIC}
    weak_sn = {M.SN_DIFFERENT, M.SN_JW_MID, M.SN_PHONETIC}
    trial = np.isin(fn, list(weak)) & np.isin(sn, list(weak_sn))
    if trial.any():
        # Worth trying only where both crossed comparisons can agree at all: same initial,
        # Metaphone or skeleton (a Jaro-Winkler >= 0.85 without one of these is rare).
        ti = np.flatnonzero(trial)
        trial[ti] = _cross_possible(a, b, ti, lex) & _cross_possible(b, a, ti, lex)
    swapped = np.zeros(len(cand), dtype=bool)
    if trial.any():
        ix = np.flatnonzero(trial)
        l1 = _cross_level(a, b, ix, lex)
        l2 = _cross_level(b, a, ix, lex)
        # Exact agreement of a swapped token: weighted by the string's frequency as either.
        t1, t2 = _swap_token(a, ix), _swap_token(b, ix)
        x1 = np.maximum(lex.count(fn_count, t1), lex.count(sn_count, t1))
        x2 = np.maximum(lex.count(fn_count, t2), lex.count(sn_count, t2))
        # Both cross comparisons use the forename table, so that the score is symmetric.
        e1 = M.exact_weight(x1 / denom, M.FN_EXACT_M, M.FN_EXACT_MIN, M.FN_EXACT_MAX)
        e2 = M.exact_weight(x2 / denom, M.FN_EXACT_M, M.FN_EXACT_MIN, M.FN_EXACT_MAX)
        w1 = np.where(l1 == M.FN_EXACT, e1, M.FN_WEIGHTS[l1])
        w2 = np.where(l2 == M.FN_EXACT, e2, M.FN_WEIGHTS[l2])
        md_sw = np.full(len(ix), M.MD_NONE)
        w_sw = w1 + w2 - M.SWAP_COST
        better = w_sw > w_name[ix]
        if better.any():
            bi = ix[better]
            swapped[bi] = True
            # The check's forenames were compared with the entry's surname (l1), and the
            # check's surname with the entry's forenames (l2).
            fn[bi] = l1[better]
            sn[bi] = C.FN_TO_SN[l2[better]]
            md[bi] = md_sw[better]
            w_fn[bi] = w1[better]
            w_sn[bi] = w2[better]
            w_md[bi] = 0.0
            w_name[bi] = w_sw[better]

    # Best pairing per candidate.
    if len(cand) == n_cand:
        best = np.arange(n_cand)
    else:
        order = np.lexsort((-w_name, cand))
        first_of = np.ones(len(order), dtype=bool)
        first_of[1:] = cand[order][1:] != cand[order][:-1]
        best = order[first_of]

    # Date of birth and gender, per candidate.
    dob = dob_c
    # No gender is inferred from a swapped pairing's "first" (a surname), nor across a
    # nickname: short forms cross the sexes (Tony / Antoinette, Jo / Joanne, Sam, Alex).
    no_infer = swapped[best] | (fn[best] == M.FN_NICKNAME)
    ga = _gender(ta.gender[qa].astype(np.int64), np.where(no_infer, 0, a.first[best]), lex)
    gb = _gender(tb.gender[qb].astype(np.int64), np.where(no_infer, 0, b.first[best]), lex)
    gd = C.gender_levels(ga, gb)
    w_dob = M.DOB_WEIGHTS[dob]
    w_gd = M.GD_WEIGHTS[gd]
    total = prior + w_name[best] + w_dob + w_gd
    prob = M.probability(total)
    fnb, snb = fn[best], sn[best]
    # Forenames alike but for the first letter (Bryan / Ryan, Jayden / Hayden): how
    # siblings are named far more often than how a forename is mistyped. Alike but one two
    # or more letters longer (Jose / Joseph, Gauri / Gaurika): a slip changes the length by
    # one letter at most, so another name (or a short form the nickname data lacks). Two
    # nicknames of one full name (Bobbie / Robbie, both of Robert).
    jw_high = (fnb == M.FN_JW_HIGH) & ~swapped[best]
    hold = np.select(
        [
            jw_high & (a.first_char[best] != b.first_char[best]),
            jw_high & (np.abs(a.first_len[best] - b.first_len[best]) >= 2),
            _sibling_nicknames(a.first[best], b.first[best], fnb == M.FN_NICKNAME, lex),
        ],
        [1, 2, 3],
        0,
    ).astype(np.int64)
    sibling = hold > 0
    capped = (
        np.isin(fnb, M.FN_NO_MATCH_BAND)
        | np.isin(snb, M.SN_NO_MATCH_BAND)
        | np.isin(dob, M.DOB_NO_MATCH_BAND)
        | (gd == M.GD_DIFFERENT)
        # A year-only date on one side: `match` only with an agreeing middle name.
        | (np.isin(dob, M.MIDDLE_LIFTS_CAP) & (md[best] != M.MD_FULL))
    )
    return _Scored(
        qa=qa,
        qb=qb,
        row_a=rows_a[best],
        row_b=rows_b[best],
        swapped=swapped[best],
        fn=fnb,
        md=md[best],
        sn=snb,
        dob=dob,
        gd=gd,
        w_fn=w_fn[best],
        w_md=w_md[best],
        w_sn=w_sn[best],
        w_dob=w_dob,
        w_gd=w_gd,
        total=total,
        prob=prob,
        capped=capped | sibling,
        forename_hold=hold,
    )


def _hold_ambiguous(
    cands: list[Candidate], th: Thresholds, same_person: Callable[[str, str], bool]
) -> list[Candidate]:
    """A check is at most one listed person: a `match` must also be the only likely one.

    Each pair's probability is computed on its own; over a check's candidates, the
    probability that the check is candidate i and no other is odds_i / (1 + sum of odds).
    A candidate whose pair probability reaches `match` but whose share falls below the match
    threshold (two listed namesakes, or a namesake beside the true entry) is held at
    `possible`, and says so: a caseworker decides which, if any. Entries that match each
    other (one person listed twice) do not compete: they are the same answer."""
    odds = [min(c.probability, 1 - 1e-15) / (1 - min(c.probability, 1 - 1e-15)) for c in cands]
    total = 1.0 + sum(odds)
    out = []
    for i, (c, o) in enumerate(zip(cands, odds, strict=True)):
        if c.band == "match" and o / total < th.match:
            # Only entries that could be a different person compete (few: this is reached
            # only when several candidates are strong).
            rivals = [
                odds[j]
                for j, d in enumerate(cands)
                if j != i and odds[j] > 1e-3 * o and not same_person(c.key, d.key)
            ]
            share = o / (1.0 + o + sum(rivals))
            if share >= th.match:
                out.append(c)
                continue
            line = FieldExplanation(
                "band",
                "held_at_possible",
                0.0,
                f"band: held at possible, not match, because {len(rivals)} other list "
                f"{'entry matches' if len(rivals) == 1 else 'entries match'} this check too "
                f"(share of the probability {share:.3f}); a caseworker decides which, "
                "if any",
            )
            c = replace(c, band="possible", fields=(*c.fields, line))
        out.append(c)
    return out


_HELD_FORENAMES = (
    "",
    "alike but for the first letter (as siblings' names often are)",
    "alike but one two or more letters longer (another name, or a short form)",
    "a nickname only through a third, full name (as siblings' names can be)",
)


def _held_at_possible(s: _Scored, j: int) -> FieldExplanation:
    """Why a pair whose probability reaches `match` is held at `possible` for a person."""
    fn, sn, dob = int(s.fn[j]), int(s.sn[j]), int(s.dob[j])
    reasons = [
        f"{label} is {level.replace('_', ' ')}"
        for label, level, held in (
            ("forename", M.FN_LEVELS[fn], fn in M.FN_NO_MATCH_BAND),
            ("surname", M.SN_LEVELS[sn], sn in M.SN_NO_MATCH_BAND),
            ("date of birth", M.DOB_LEVELS[dob], dob in M.DOB_NO_MATCH_BAND),
            ("gender", "different", int(s.gd[j]) == M.GD_DIFFERENT),
            (
                "forename",
                _HELD_FORENAMES[int(s.forename_hold[j])],
                int(s.forename_hold[j]) > 0,
            ),
        )
        if held
    ] or ["the date of birth is partial and the middle names do not agree"]
    detail = (
        "band: held at possible, not match, although the probability is high, because the "
        + " and the ".join(reasons)
        + "; a caseworker decides such pairs"
    )
    return FieldExplanation("band", "held_at_possible", 0.0, detail)


def _candidate(
    s: _Scored, j: int, key: str, ta: _Table, tb: _Table, lex: Overlay, th: Thresholds
) -> Candidate:
    ra, rb = int(s.row_a[j]), int(s.row_b[j])
    qa, qb = int(s.qa[j]), int(s.qb[j])
    swapped = bool(s.swapped[j])

    def st(t: _Table, col: str, r: int) -> str:
        return lex.string(int(getattr(t, col)[r]))

    fn_l = M.FN_LEVELS[int(s.fn[j])]
    sn_l = M.SN_LEVELS[int(s.sn[j])]
    md_l = M.MD_LEVELS[int(s.md[j])]
    dob_l = M.DOB_LEVELS[int(s.dob[j])]
    gd_l = M.GD_LEVELS[int(s.gd[j])]
    a_first, a_sur = st(ta, "first", ra), st(ta, "sur", ra)
    b_first, b_sur = st(tb, "first", rb), st(tb, "sur", rb)
    if swapped:
        # The tokens compared: a forenames field that reads like a surname as a whole.
        if int(ta.fsur[ra]):
            a_first = st(ta, "fsur", ra)
        b_first, b_sur = b_sur, st(tb, "fsur", rb) if int(tb.fsur[rb]) else b_first
    fields = [
        FieldExplanation(
            "forenames", fn_l, float(s.w_fn[j]), C.describe("forenames", fn_l, a_first, b_first)
        )
    ]
    if md_l != "missing":
        fields.append(
            FieldExplanation(
                "middle_names",
                md_l,
                float(s.w_md[j]),
                C.describe("middle_names", md_l, st(ta, "mid1", ra), st(tb, "mid1", rb)),
            )
        )
    fields.append(
        FieldExplanation(
            "surname", sn_l, float(s.w_sn[j]), C.describe("surname", sn_l, a_sur, b_sur)
        )
    )
    if swapped:
        fields.append(
            FieldExplanation(
                "names",
                "swapped",
                -M.SWAP_COST,
                "names: forename and surname swapped between the two records",
            )
        )
    da = C.format_date(int(ta.year[qa]), int(ta.month[qa]), int(ta.day[qa]))
    db = C.format_date(int(tb.year[qb]), int(tb.month[qb]), int(tb.day[qb]))
    fields.append(
        FieldExplanation(
            "date_of_birth", dob_l, float(s.w_dob[j]), C.describe("date_of_birth", dob_l, da, db)
        )
    )
    if gd_l != "missing":
        fields.append(
            FieldExplanation("gender", gd_l, float(s.w_gd[j]), C.describe("gender", gd_l, "", ""))
        )
    p = float(s.prob[j])
    band = M.band_of(p, bool(s.capped[j]), th)
    if band == "possible" and p >= th.match:
        fields.append(_held_at_possible(s, j))
    pairing = (ra - int(ta.row_start[qa]), rb - int(tb.row_start[qb]), swapped)
    prior = float(s.total[j]) - sum(f.weight for f in fields)
    return Candidate(key, p, band, float(s.total[j]), tuple(fields), pairing, prior)
