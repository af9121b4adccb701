"""Forename equivalences (Bill/William, Peggy/Margaret, Jack/John) from the maintained
``nicknames`` data package (Old Dominion University's nickname/canonical name lists).

Two forenames are equivalent when one is a nickname of the other, or both are nicknames of
the same canonical name (Bill and Will, both of William). The relation is symmetric.
"""

from __future__ import annotations

from functools import lru_cache

from nicknames import NickNamer


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if "a" <= ch <= "z")


@lru_cache(maxsize=1)
def _table() -> dict[str, frozenset[str]]:
    nicks = NickNamer().nickname_lookup  # canonical -> nicknames
    related: dict[str, set[str]] = {}
    for canon, names in nicks.items():
        group = {_key(canon), *(_key(n) for n in names)}
        group.discard("")
        for n in group:
            related.setdefault(n, set()).update(group)
    return {n: frozenset(g - {n}) for n, g in related.items()}


def equivalents(name: str) -> frozenset[str]:
    """Normalised forenames equivalent to ``name`` (a normalised token), itself excluded."""
    return _table().get(name, frozenset())


def are_equivalent(a: str, b: str) -> bool:
    return a != b and b in equivalents(a)
