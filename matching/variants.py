"""Forename equivalences (Bill/William, Peggy/Margaret, Jack/John) from the maintained
``nicknames`` data package (Old Dominion University's nickname/canonical name lists).

Two forenames are equivalent when one is a nickname of the other, or both are nicknames of
the same longer canonical name (Bill and Will, both of William). The relation is symmetric.
"""

from __future__ import annotations

from functools import lru_cache

from nicknames import NickNamer


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if "a" <= ch <= "z")


@lru_cache(maxsize=1)
def _table() -> dict[str, frozenset[str]]:
    nicks = NickNamer().nickname_lookup  # name -> its nicknames
    related: dict[str, set[str]] = {}

    def link(a: str, b: str) -> None:
        if a and b and a != b:
            related.setdefault(a, set()).add(b)
            related.setdefault(b, set()).add(a)

    for canon, names in nicks.items():
        c = _key(canon)
        group = sorted({_key(n) for n in names} - {"", c})
        for n in group:
            link(c, n)
        # Siblings (Bill and Will, both of William) only under a longer, full form: the
        # data also lists short names as "canonical" (bill -> robert, william), and those
        # must not make Robert and William equivalent.
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if len(c) > max(len(a), len(b)):
                    link(a, b)
    return {n: frozenset(g) for n, g in related.items()}


def equivalents(name: str) -> frozenset[str]:
    """Normalised forenames equivalent to ``name`` (a normalised token), itself excluded."""
    return _table().get(name, frozenset())


def are_equivalent(a: str, b: str) -> bool:
    return a != b and b in equivalents(a)
