"""Interned normalised strings with per-string attributes in numpy arrays.

Every name row of the index holds small integer ids into one :class:`Vocab`; the
attributes the comparisons need (length, first letter, phonetic and transliteration-fold
ids, blocking code, term frequencies) live in parallel arrays indexed by id. A query
(a check) interns its unseen strings in an :class:`Overlay`, which never changes the vocab
or its term frequencies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matching import normalize as nz
from matching.variants import equivalents

IntArray = NDArray[np.int64]


class Grow:
    """A growable 1-D numpy array (amortised doubling)."""

    __slots__ = ("_a", "n")

    def __init__(self, dtype: Any, capacity: int = 1024) -> None:
        self._a = np.zeros(capacity, dtype=dtype)
        self.n = 0

    def extend(self, values: NDArray[Any]) -> None:
        need = self.n + len(values)
        if need > len(self._a):
            cap = max(need, 2 * len(self._a))
            b = np.zeros(cap, dtype=self._a.dtype)
            b[: self.n] = self._a[: self.n]
            self._a = b
        self._a[self.n : need] = values
        self.n = need

    def ensure(self, size: int) -> None:
        """Make the array at least ``size`` long (new cells zero)."""
        if size > self.n:
            self.extend(np.zeros(size - self.n, dtype=self._a.dtype))

    @property
    def a(self) -> NDArray[Any]:
        return self._a[: self.n]

    @property
    def raw(self) -> NDArray[Any]:
        """The whole backing buffer (cells beyond n are zero); for in-place updates."""
        return self._a


class Vocab:
    """Normalised strings <-> ids (0 is the empty string) and their attributes."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._strs: list[str] = []
        self._str_arr: NDArray[np.object_] = np.empty(0, dtype=object)
        self._phon_ids: dict[str, int] = {"": 0}
        self._fold_ids: dict[str, int] = {"": 0}
        self._skel_ids: dict[str, int] = {"": 0}
        self.length = Grow(np.int16)
        self.char = Grow(np.int16)
        self.phon = Grow(np.int32)
        self.fold = Grow(np.int32)
        self.code = Grow(np.int32)
        self.skel = Grow(np.int32)
        # Term frequencies: live name rows using the string as first forename / as a surname
        # key (full or part).
        self.fn_count = Grow(np.int64)
        self.sn_count = Grow(np.int64)
        # Live list entries with this first forename and a given gender (female / male):
        # the forename's gender as the list shows it.
        self.fem_count = Grow(np.int32)
        self.male_count = Grow(np.int32)
        # The same counts summed per consonant skeleton (every spelling and script of a name:
        # Hussein, Husain, حسين), refreshed by the index after each change of the counts.
        self.skel_fn_count: NDArray[np.int64] = np.zeros(1, dtype=np.int64)
        self.skel_sn_count: NDArray[np.int64] = np.zeros(1, dtype=np.int64)
        self._pending: list[tuple[int, int, int, int, int, int]] = []
        self.intern("")
        self.flush()

    def __len__(self) -> int:
        return len(self._strs)

    def intern(self, s: str) -> int:
        i = self._ids.get(s)
        if i is not None:
            return i
        i = len(self._strs)
        self._ids[s] = i
        self._strs.append(s)
        self._pending.append(
            attributes(
                s,
                lambda p: self._phon_ids.setdefault(p, len(self._phon_ids)),
                lambda f: self._fold_ids.setdefault(f, len(self._fold_ids)),
                lambda k: self._skel_ids.setdefault(k, len(self._skel_ids)),
            )
        )
        return i

    @staticmethod
    def key_id(s: str) -> int:
        """A key compared for equality only (sorted / joined forenames): its string hash.

        Stable within a process and its forked workers; nothing stores it.
        """
        return hash(s)

    def flush(self) -> None:
        """Move attributes of newly interned strings into the arrays."""
        if not self._pending:
            return
        cols = np.array(self._pending, dtype=np.int64).T
        self._pending = []
        self.length.extend(cols[0].astype(np.int16))
        self.char.extend(cols[1].astype(np.int16))
        self.phon.extend(cols[2].astype(np.int32))
        self.fold.extend(cols[3].astype(np.int32))
        self.code.extend(cols[4].astype(np.int32))
        self.skel.extend(cols[5].astype(np.int32))
        for col in (self.fn_count, self.sn_count, self.fem_count, self.male_count):
            col.ensure(len(self._strs))

    def get(self, s: str) -> int | None:
        return self._ids.get(s)

    def refresh_skeleton_counts(self) -> None:
        """Recompute the per-skeleton counts from the per-string ones (new arrays, swapped
        in whole: a concurrent reader sees the old or the new, never a half)."""
        n = len(self._strs)
        sk = self.skel.a[:n]
        k = len(self._skel_ids)
        fn = np.bincount(sk, weights=self.fn_count.a[:n], minlength=k)
        sn = np.bincount(sk, weights=self.sn_count.a[:n], minlength=k)
        self.skel_fn_count = fn.astype(np.int64)
        self.skel_sn_count = sn.astype(np.int64)

    def strings(self) -> NDArray[np.object_]:
        if len(self._str_arr) != len(self._strs):
            self._str_arr = np.array(self._strs, dtype=object)
        return self._str_arr

    def string(self, i: int) -> str:
        return self._strs[i]

    def equivalent_ids(self, s: str) -> list[int]:
        out = []
        for e in equivalents(s):
            i = self._ids.get(e)
            if i is not None:
                out.append(i)
        return out


def attributes(
    s: str,
    phon_id: Callable[[str], int],
    fold_id: Callable[[str], int],
    skel_id: Callable[[str], int],
) -> tuple[int, int, int, int, int, int]:
    """(length, first letter, phonetic id, fold id, blocking code, skeleton id) of a string."""
    return (
        len(s),
        ord(s[0]) if s else 0,
        phon_id(nz.phonetic(s)),
        fold_id(nz.fold(s)),
        nz.block_code(s),
        skel_id(nz.skeleton(s)),
    )


class Overlay:
    """A query's view of a vocab: unseen strings get ids >= len(vocab), kept here only."""

    def __init__(self, vocab: Vocab) -> None:
        vocab.flush()
        self.vocab = vocab
        self.base = len(vocab)
        self._ids: dict[str, int] = {}
        self._strs: list[str] = []
        self._attrs: list[tuple[int, int, int, int, int, int]] = []
        # Phonetic / fold ids of unseen codes live above the vocab's, in private dicts.
        self._phon: dict[str, int] = {}
        self._fold: dict[str, int] = {}
        self._skel: dict[str, int] = {}

    def id(self, s: str) -> int:
        i = self.vocab._ids.get(s)
        if i is not None and i < self.base:
            return i
        j = self._ids.get(s)
        if j is None:
            j = self.base + len(self._strs)
            self._ids[s] = j
            self._strs.append(s)
            self._attrs.append(
                attributes(
                    s,
                    lambda p: _chained(self.vocab._phon_ids, self._phon, p),
                    lambda f: _chained(self.vocab._fold_ids, self._fold, f),
                    lambda k: _chained(self.vocab._skel_ids, self._skel, k),
                )
            )
        return j

    def key_id(self, s: str) -> int:
        return hash(s)

    def _gather(self, col: Grow, k: int, ids: IntArray) -> IntArray:
        base_vals = col.a
        out = base_vals[np.minimum(ids, self.base - 1)].astype(np.int64)
        if self._strs:
            extra = np.array([a[k] for a in self._attrs], dtype=np.int64)
            hi = ids >= self.base
            if hi.any():
                out[hi] = extra[ids[hi] - self.base]
        return out

    def length(self, ids: IntArray) -> IntArray:
        return self._gather(self.vocab.length, 0, ids)

    def char(self, ids: IntArray) -> IntArray:
        return self._gather(self.vocab.char, 1, ids)

    def phon(self, ids: IntArray) -> IntArray:
        return self._gather(self.vocab.phon, 2, ids)

    def fold(self, ids: IntArray) -> IntArray:
        return self._gather(self.vocab.fold, 3, ids)

    def code(self, ids: IntArray) -> IntArray:
        return self._gather(self.vocab.code, 4, ids)

    def skel(self, ids: IntArray) -> IntArray:
        return self._gather(self.vocab.skel, 5, ids)

    def skel_count(self, counts: NDArray[np.int64], skel_ids: IntArray) -> IntArray:
        """Per-skeleton counts (see Vocab.skel_fn_count) for skeleton ids; 0 for skeletons
        the list does not hold."""
        known = skel_ids < len(counts)
        out: IntArray = np.where(known, counts[np.where(known, skel_ids, 0)], 0)
        return out

    def count(self, col: Grow, ids: IntArray) -> IntArray:
        base_vals = col.a
        out = base_vals[np.minimum(ids, self.base - 1)].astype(np.int64)
        out[ids >= self.base] = 0
        return out

    def strings(self, ids: IntArray) -> NDArray[np.object_]:
        arr = self.vocab.strings()
        out = arr[np.minimum(ids, self.base - 1)]
        hi = ids >= self.base
        if hi.any():
            extra = np.array(self._strs, dtype=object)
            out[hi] = extra[ids[hi] - self.base]
        return out

    def string(self, i: int) -> str:
        return self.vocab.string(i) if i < self.base else self._strs[i - self.base]

    def equivalent_ids(self, s: str) -> list[int]:
        out = [i for i in self.vocab.equivalent_ids(s) if i < self.base]
        for e in equivalents(s):
            j = self._ids.get(e)
            if j is not None:
                out.append(j)
        return out


def _chained(parent: dict[str, int], own: dict[str, int], key: str) -> int:
    """The parent's id of ``key``, else a private id numbered far above the parent's."""
    v = parent.get(key)
    if v is not None:
        return v
    got = own.get(key)
    if got is None:
        got = (1 << 30) + len(own)
        own[key] = got
    return got
