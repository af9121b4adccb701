"""A columnar in-memory index of a barred list, with blocking keys.

Storage is numpy arrays, not a Python object per entry: each entry has a date of birth
(year, month, day; 0 = unknown), a gender code, a list bitmask, an alive flag and a range
of *name rows* (its current name, then previous names and aliases). Each name row holds
vocab ids of its normalised parts (see :mod:`matching.vocab`).

Blocking: every name row / entry is filed under several integer keys; a check is compared
only with entries sharing at least one key. The union of keys is built so that a true pair
survives any single corruption of the names or of the date, and most double ones:

=====  ===========================================  =========================================
type   key                                          keeps a pair when
=====  ===========================================  =========================================
T1     full date of birth + forename initial, and   names changed, misspelt, swapped (one
       full date of birth + surname initial         initial kept)
T2     surname code + year + month                  forename changed; day wrong
T3     surname code + month + day                   year wrong / off by one
T4     surname code + year + day                    month wrong
T5     surname code + year (list year-only dates)   the list knows only the year
T6     forename code + surname code (list entries   the list knows no full date
       without a full date)
T7     forename code + surname code (all)           the check has no full date (looked up
                                                    only for such checks)
T8     forename code + year (list entries without   surname misspelt or changed, and the
       a full date)                                 list knows only the year (and month)
T9     surname code + forename initial (list        forename changed, and the list knows
       entries without a date)                      no date
T10    forename code + surname initial (list        surname misspelt, and the list knows
       entries without a date)                      no date
T11    forename code + month + day                  surname misspelt and year wrong
T12    forename code + surname initial + year       surname misspelt and day or month wrong
       (list entries with a full date)
T1a    full date of birth alone, for list name      a name in an abjad romanised with another
       rows written in an abjad                     initial (عائشة / Aisha)
=====  ===========================================  =========================================

Some lookups fan out instead of filing more keys: a check giving only a year looks up T2
for each of the twelve months (its forename may be changed), and a check name written in an
abjad looks up T1 with every initial (its romanised initial is unknown).

Codes are the first four letters of Metaphone (robust to vowel changes and to romanisations
written without vowels); the surname code is filed for
the full surname and each part (Smith-Jones under smithjones, smith and jones). Checks also
look up T1/T2 with day and month transposed, and T1-T4 with forename and surname swapped;
each of a check's previous names looks up like its current name.

Adding appends to a small unsorted delta that lookups search beside the sorted main arrays;
removing clears the alive flag. The delta is merged at the first lookup after it has grown
past a quarter of the main arrays, or by ``compact()`` (no re-normalisation).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from matching import normalize as nz
from matching.identity import Identity, PartialDate
from matching.vocab import Grow, IntArray, Vocab

LIST_CHILDREN = 1
LIST_ADULTS = 2
ALL_LISTS = 3

# Blocking key types.
T_DOB, T_S_YM, T_S_MD, T_S_YD, T_S_Y, T_FS_NODOB, T_FS_ALL = 1, 2, 3, 4, 5, 6, 7
T_F_Y, T_S_FI, T_F_SI, T_F_MD, T_F_SI_Y = 8, 9, 10, 11, 12
# Full-date key with no initial (T1 with `which` below), filed for list name rows written in
# an abjad: they can romanise to a different initial (عائشة: Aisha / 'A'isha / Ayesha), so
# a date alone blocks them against any check with that date.
DOB_ABJAD_ROW = 3

GENDER_CODE = {None: 0, "female": 1, "male": 2}


# A forenames field starting with one of these and holding more tokens reads like a
# surname (Ó hEarchú, van der Berg, Al-Tamimi, Mac Cosgair): it is also compared as one
# when forename and surname look swapped.
SURNAME_PREFIXES = nz.PARTICLES | {"o", "mac", "mc", "ni", "nic", "ua", "ui", "ben", "bat"}


def forename_strings(text: str) -> tuple[str, str, str, str, str]:
    """(first, first middle name, sorted-tokens key, joined key, as a surname) of a
    forenames field; 'as a surname' is empty unless the field reads like a surname."""
    f = nz.forenames(text)
    mid1 = f.middle.split(" ", 1)[0] if f.middle else ""
    fsur = nz.surname(text).full if f.middle and f.first in SURNAME_PREFIXES else ""
    return f.first, mid1, f.sorted_key, f.joined, fsur


def surname_strings(text: str) -> tuple[str, str, str]:
    """(full key, part 1, part 2) of a surname field."""
    s = nz.surname(text)
    p1 = s.parts[0] if s.parts else ""
    p2 = s.parts[1] if len(s.parts) > 1 else ""
    return s.full, p1, p2


class Interner(Protocol):
    def id(self, s: str) -> int: ...
    def key_id(self, s: str) -> int: ...


def forename_ids(text: str, lex: Interner) -> tuple[int, int, int, int, int, int]:
    """Ids of (first, mid1, sorted key, joined key), 1 if written in an abjad, and the id
    of the field read as a surname (0 unless it reads like one)."""
    first, mid1, skey, joined, fsur = forename_strings(text)
    abjad = int(nz.is_abjad(text))
    return (
        lex.id(first),
        lex.id(mid1),
        lex.key_id(skey),
        lex.key_id(joined),
        abjad,
        lex.id(fsur) if fsur else 0,
    )


def surname_ids(text: str, lex: Interner) -> tuple[int, int, int, int]:
    """Ids of (full, part 1, part 2) and 1 if written in an abjad."""
    full, p1, p2 = surname_strings(text)
    return lex.id(full), lex.id(p1), lex.id(p2), int(nz.is_abjad(text))


def dob_parts(d: PartialDate | None) -> tuple[int, int, int]:
    if d is None:
        return 0, 0, 0
    return d.year, d.month or 0, d.day or 0


def _y(year: IntArray) -> IntArray:
    out: IntArray = np.clip(year - 1800, 0, 511)
    return out


def key_dob(y: IntArray, m: IntArray, d: IntArray, which: int, letter: IntArray) -> IntArray:
    """Full date of birth with the initial of the forename (which=1) or surname (which=2)."""
    return (T_DOB << 56) | (which << 40) | (letter << 32) | (_y(y) << 9) | (m << 5) | d


# Codes (f, s) are < 2**20; years are offset from 1800 and < 2**9.


def key_s_ym(s: IntArray, y: IntArray, m: IntArray) -> IntArray:
    return (T_S_YM << 56) | (s << 16) | (_y(y) << 4) | m


def key_s_md(s: IntArray, m: IntArray, d: IntArray) -> IntArray:
    return (T_S_MD << 56) | (s << 16) | (m << 5) | d


def key_s_yd(s: IntArray, y: IntArray, d: IntArray) -> IntArray:
    return (T_S_YD << 56) | (s << 16) | (_y(y) << 5) | d


def key_s_y(s: IntArray, y: IntArray) -> IntArray:
    return (T_S_Y << 56) | (s << 16) | _y(y)


def key_fs(t: int, f: IntArray, s: IntArray) -> IntArray:
    return (t << 56) | (f << 20) | s


def key_f_y(f: IntArray, y: IntArray) -> IntArray:
    return (T_F_Y << 56) | (f << 16) | _y(y)


def key_f_md(f: IntArray, m: IntArray, d: IntArray) -> IntArray:
    return (T_F_MD << 56) | (f << 16) | (m << 5) | d


def key_f_si_y(f: IntArray, si: IntArray, y: IntArray) -> IntArray:
    return (T_F_SI_Y << 56) | (f << 16) | ((si & 0x7F) << 9) | _y(y)


class ListIndex:
    """The barred list in columns, with blocking keys. See the module docstring."""

    COMPACT_MIN = 50_000

    def __init__(self) -> None:
        self.version = 0
        self.vocab = Vocab()
        self._keys: list[str] = []
        self._slot: dict[str, int] = {}
        # Per entry.
        self.year = Grow(np.int16)
        self.month = Grow(np.int8)
        self.day = Grow(np.int8)
        self.gender = Grow(np.int8)
        self.lists = Grow(np.int8)
        self.alive = Grow(np.bool_)
        self.row_start = Grow(np.int64)
        self.row_count = Grow(np.int16)
        # Per name row.
        self.row_entry = Grow(np.int32)
        self.r_first = Grow(np.int32)
        self.r_mid1 = Grow(np.int32)
        self.r_fsorted = Grow(np.int64)  # string hashes: compared for equality only
        self.r_fjoined = Grow(np.int64)
        self.r_sur = Grow(np.int32)
        self.r_p1 = Grow(np.int32)
        self.r_p2 = Grow(np.int32)
        self.r_fabjad = Grow(np.int8)
        self.r_fsur = Grow(np.int32)
        self.r_sabjad = Grow(np.int8)
        self.live_rows = 0
        # Blocking: sorted main arrays and an unsorted delta.
        self._bk = np.zeros(0, dtype=np.int64)
        self._bv = np.zeros(0, dtype=np.int32)
        self._dk: list[IntArray] = []
        self._dv: list[NDArray[np.int32]] = []
        self._delta_sorted: tuple[IntArray, NDArray[np.int32]] | None = None
        self._delta_n = 0
        self._fcache: dict[str, tuple[int, int, int, int, int, int]] = {}
        self._scache: dict[str, tuple[int, int, int, int]] = {}
        self._interner = _VocabInterner(self.vocab)

    # ---- public API ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, key: object) -> bool:
        return key in self._slot

    def add(self, key: str, identity: Identity, lists: int = ALL_LISTS) -> None:
        self.add_many([(key, identity, lists)])

    def remove(self, key: str) -> bool:
        slot = self._slot.pop(key, None)
        if slot is None:
            return False
        self._kill(np.array([slot], dtype=np.int64))
        return True

    def add_many(self, items: Iterable[tuple[str, Identity, int]]) -> None:
        ecols: list[int] = []  # y, m, d, gender, lists, name count per entry
        rflat: list[int] = []  # 10 ints per name row
        keys: list[str] = []
        replaced: list[int] = []
        base_entry = self.alive.n
        base_row = self.row_entry.n
        fcache, scache = self._fcache, self._scache
        lex = self._interner
        slot = self._slot
        gcode = GENDER_CODE
        for key, ident, lists in items:
            if not 1 <= lists <= ALL_LISTS:
                raise ValueError("lists: must be 1 (children), 2 (adults) or 3 (both)")
            old = slot.get(key)
            if old is not None:
                replaced.append(old)
            slot[key] = base_entry + len(keys)
            keys.append(key)
            fn, sn = ident.forenames, ident.surname
            fi = fcache.get(fn)
            if fi is None:
                fi = fcache[fn] = forename_ids(fn, lex)
            si = scache.get(sn)
            if si is None:
                si = scache[sn] = surname_ids(sn, lex)
            rflat += fi
            rflat += si
            for n in ident.previous_names:
                rflat += forename_ids(n.forenames, lex)
                rflat += surname_ids(n.surname, lex)
            dob = ident.date_of_birth
            if dob is None:
                ecols += (0, 0, 0)
            else:
                ecols += (dob.year, dob.month or 0, dob.day or 0)
            ecols += (gcode.get(ident.gender, 0), lists, 1 + len(ident.previous_names))
        if len(fcache) > 400_000:
            fcache.clear()
        if len(scache) > 400_000:
            scache.clear()
        if not keys:
            return
        self.vocab.flush()
        self._keys.extend(keys)
        ec = np.array(ecols, dtype=np.int64).reshape(-1, 6)
        counts = ec[:, 5]
        starts = base_row + np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.year.extend(ec[:, 0].astype(np.int16))
        self.month.extend(ec[:, 1].astype(np.int8))
        self.day.extend(ec[:, 2].astype(np.int8))
        self.gender.extend(ec[:, 3].astype(np.int8))
        self.lists.extend(ec[:, 4].astype(np.int8))
        self.alive.extend(np.ones(len(keys), dtype=np.bool_))
        self.row_start.extend(starts.astype(np.int64))
        self.row_count.extend(counts.astype(np.int16))
        rc = np.array(rflat, dtype=np.int64).reshape(-1, 10)
        n_rows = len(rc)
        entry_of_row = np.repeat(np.arange(base_entry, base_entry + len(keys)), counts)
        self.row_entry.extend(entry_of_row.astype(np.int32))
        for col, arr in zip(
            (
                self.r_first,
                self.r_mid1,
                self.r_fsorted,
                self.r_fjoined,
                self.r_fabjad,
                self.r_fsur,
                self.r_sur,
                self.r_p1,
                self.r_p2,
                self.r_sabjad,
            ),
            rc.T,
            strict=True,
        ):
            col.extend(arr)
        rows_idx = np.arange(base_row, base_row + n_rows, dtype=np.int64)
        self._count(rows_idx, +1)
        self._file_keys(np.arange(base_entry, base_entry + len(keys), dtype=np.int64), rows_idx)
        if replaced:
            self._kill(np.array(replaced, dtype=np.int64))

    # ---- internals --------------------------------------------------------------------

    def key_of(self, entry: int) -> str:
        return self._keys[entry]

    def entry_of(self, key: str) -> int | None:
        """The live entry filed under ``key``, if any."""
        return self._slot.get(key)

    def _count(self, rows: IntArray, sign: int) -> None:
        v = self.vocab
        n = len(v)
        fn = np.bincount(self.r_first.a[rows], minlength=n)
        sn = np.bincount(
            np.concatenate([self.r_sur.a[rows], self.r_p1.a[rows], self.r_p2.a[rows]]),
            minlength=n,
        )
        fn[0] = 0
        sn[0] = 0
        v.fn_count.raw[:n] += sign * fn
        v.sn_count.raw[:n] += sign * sn
        gender = self.gender.a[self.row_entry.a[rows]]
        first = self.r_first.a[rows]
        v.fem_count.raw[:n] += sign * np.bincount(first[gender == 1], minlength=n).astype(np.int32)
        v.male_count.raw[:n] += sign * np.bincount(first[gender == 2], minlength=n).astype(np.int32)
        self.live_rows += sign * len(rows)
        v.refresh_skeleton_counts()

    def _kill(self, slots: IntArray) -> None:
        alive = self.alive.raw
        slots = slots[alive[slots]]
        if len(slots) == 0:
            return
        alive[slots] = False
        starts = self.row_start.a[slots]
        counts = self.row_count.a[slots].astype(np.int64)
        rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        self._count(rows, -1)

    def _file_keys(self, entries: IntArray, rows: IntArray) -> None:
        y = self.year.a[entries].astype(np.int64)
        m = self.month.a[entries].astype(np.int64)
        d = self.day.a[entries].astype(np.int64)
        del y, m, d
        ks: list[IntArray] = []
        vs: list[NDArray[np.int32]] = []
        ent = self.row_entry.a[rows].astype(np.int64)
        ry, rm, rd = (
            self.year.a[ent].astype(np.int64),
            self.month.a[ent].astype(np.int64),
            self.day.a[ent].astype(np.int64),
        )
        rfull = (ry > 0) & (rm > 0) & (rd > 0)
        code = self.vocab.code.a
        f = code[self.r_first.a[rows]].astype(np.int64)
        chars = self.vocab.char.a
        finit = chars[self.r_first.a[rows]].astype(np.int64)  # the forename's initial
        sinit = chars[self.r_sur.a[rows]].astype(np.int64)
        r32 = rows.astype(np.int32)
        ks.append(key_dob(ry[rfull], rm[rfull], rd[rfull], 1, finit[rfull]))
        vs.append(r32[rfull])
        ks.append(key_dob(ry[rfull], rm[rfull], rd[rfull], 2, sinit[rfull]))
        vs.append(r32[rfull])
        nil = np.zeros(len(rows), dtype=np.int64)
        abjad = rfull & ((self.r_fabjad.a[rows] > 0) | (self.r_sabjad.a[rows] > 0))
        ks.append(key_dob(ry[abjad], rm[abjad], rd[abjad], DOB_ABJAD_ROW, nil[abjad]))
        vs.append(r32[abjad])
        sel = (f > 0) & rfull & (sinit > 0)
        ks.append(key_f_si_y(f[sel], sinit[sel], ry[sel]))
        vs.append(r32[sel])
        for col in (self.r_sur, self.r_p1, self.r_p2):
            s = code[col.a[rows]].astype(np.int64)
            ok = s > 0
            sel = ok & (ry > 0) & (rm > 0)
            ks.append(key_s_ym(s[sel], ry[sel], rm[sel]))
            vs.append(r32[sel])
            sel = ok & rfull
            ks.append(key_s_md(s[sel], rm[sel], rd[sel]))
            vs.append(r32[sel])
            ks.append(key_s_yd(s[sel], ry[sel], rd[sel]))
            vs.append(r32[sel])
            sel = ok & (ry > 0) & (rm == 0)
            ks.append(key_s_y(s[sel], ry[sel]))
            vs.append(r32[sel])
            sel = ok & ~rfull
            ks.append(key_fs(T_FS_NODOB, f[sel], s[sel]))
            vs.append(r32[sel])
            ks.append(key_fs(T_FS_ALL, f[ok], s[ok]))
            vs.append(r32[ok])
            sel = ok & (ry == 0)
            ks.append(key_fs(T_S_FI, s[sel], finit[sel]))
            vs.append(r32[sel])
            ks.append(key_fs(T_F_SI, f[sel], chars[col.a[rows]][sel].astype(np.int64)))
            vs.append(r32[sel])
        sel = (f > 0) & (ry > 0) & ~rfull
        ks.append(key_f_y(f[sel], ry[sel]))
        vs.append(r32[sel])
        sel = (f > 0) & rfull
        ks.append(key_f_md(f[sel], rm[sel], rd[sel]))
        vs.append(r32[sel])
        k = np.concatenate(ks)
        v = np.concatenate(vs)
        if len(self._bk) == 0 and self._delta_n == 0:
            order = np.argsort(k)
            self._bk, self._bv = k[order], v[order]
            return
        self._dk.append(k)
        self._dv.append(v)
        self._delta_n += len(k)
        self._delta_sorted = None

    def compact(self) -> None:
        """Merge the delta into the sorted arrays and drop keys of removed entries.

        Also drops the build caches (raw name -> ids); call it after a bulk load."""
        self._fcache.clear()
        self._scache.clear()
        k = np.concatenate([self._bk, *self._dk])
        v = np.concatenate([self._bv, *self._dv])
        live = self.alive.a[self.row_entry.a[v]]
        k, v = k[live], v[live]
        order = np.argsort(k)
        self._bk, self._bv = k[order], v[order]
        self._dk, self._dv, self._delta_n, self._delta_sorted = [], [], 0, None

    def _delta(self) -> tuple[IntArray, NDArray[np.int32]]:
        if self._delta_sorted is None:
            if self._dk:
                k = np.concatenate(self._dk)
                v = np.concatenate(self._dv)
                order = np.argsort(k)
                self._delta_sorted = (k[order], v[order])
            else:
                self._delta_sorted = (np.zeros(0, np.int64), np.zeros(0, np.int32))
        return self._delta_sorted

    def lookup(self, keys: IntArray, owners: IntArray) -> tuple[IntArray, IntArray]:
        """All (owner, name row) pairs whose keys agree (rows of removed entries included).

        A delta grown past a quarter of the main array is merged first (so a bulk load of
        many ``add_many`` calls sorts once, at its first lookup or at ``compact()``)."""
        if self._delta_n > max(self.COMPACT_MIN, len(self._bk) // 4):
            self.compact()
        outs_o: list[IntArray] = []
        outs_r: list[IntArray] = []
        # Sorted needles search faster (numpy narrows each search from the previous one);
        # the order of the pairs returned does not matter.
        order = np.argsort(keys)
        keys, owners = keys[order], owners[order]
        for bk, bv in ((self._bk, self._bv), self._delta()):
            if len(bk) == 0 or len(keys) == 0:
                continue
            lo = np.searchsorted(bk, keys, "left")
            hi = np.searchsorted(bk, keys, "right")
            cnt = hi - lo
            tot = int(cnt.sum())
            if tot == 0:
                continue
            own = np.repeat(owners, cnt)
            offs = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(tot)
            outs_o.append(own)
            outs_r.append(bv[offs].astype(np.int64))
        if not outs_o:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(outs_o), np.concatenate(outs_r)


class _VocabInterner:
    def __init__(self, vocab: Vocab) -> None:
        self.id = vocab.intern
        self.key_id = vocab.key_id
