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
def _tables() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(all equivalences, direct ones: a name and its own nicknames)."""
    nicks = NickNamer().nickname_lookup  # name -> its nicknames
    related: dict[str, set[str]] = {}
    direct: dict[str, set[str]] = {}

    def link(a: str, b: str, table: dict[str, set[str]] = related) -> None:
        if a and b and a != b:
            table.setdefault(a, set()).add(b)
            table.setdefault(b, set()).add(a)

    for canon, names in nicks.items():
        c = _key(canon)
        group = sorted({_key(n) for n in names} - {"", c})
        for n in group:
            link(c, n)
            link(c, n, direct)
        # Siblings (Bill and Will, both of William) only under a longer, full form: the
        # data also lists short names as "canonical" (bill -> robert, william), and those
        # must not make Robert and William equivalent.
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if len(c) > max(len(a), len(b)):
                    link(a, b)
    return (
        {n: frozenset(g) for n, g in related.items()},
        {n: frozenset(g) for n, g in direct.items()},
    )


def equivalents(name: str) -> frozenset[str]:
    """Normalised forenames equivalent to ``name`` (a normalised token), itself excluded."""
    return _tables()[0].get(name, frozenset())


def is_direct(a: str, b: str) -> bool:
    """True when one is a nickname of the other (Bill / William), not only both nicknames
    of a third name (Bobbie / Robbie, both of Robert)."""
    return b in _tables()[1].get(a, frozenset())


def are_equivalent(a: str, b: str) -> bool:
    return a != b and b in equivalents(a)
