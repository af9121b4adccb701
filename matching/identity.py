"""The identities the matcher compares: names as given, and a possibly partial date of birth.

The original text is kept for display; comparisons use the normalised forms built by
:mod:`matching.normalize`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date of birth: the year is required, month and day may be unknown (list side)."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if not 1800 <= self.year <= 2200:
            raise ValueError("date_of_birth: year out of range (1800-2200)")
        if self.month is None:
            if self.day is not None:
                raise ValueError("date_of_birth: a day needs a month")
            return
        if not 1 <= self.month <= 12:
            raise ValueError("date_of_birth: month must be 1-12")
        if self.day is not None:
            last = calendar.monthrange(self.year, self.month)[1]
            if not 1 <= self.day <= last:
                raise ValueError("date_of_birth: day does not exist in that month")

    @classmethod
    def parse(cls, text: str) -> PartialDate | None:
        """'YYYY-MM-DD', 'YYYY-MM', 'YYYY' or '' (None). Anything else raises ValueError."""
        t = text.strip()
        if not t:
            return None
        m = _DATE_RE.match(t)
        if m is None:
            raise ValueError("date_of_birth: expected YYYY-MM-DD, YYYY-MM, YYYY or empty")
        year = int(m.group(1))
        month = int(m.group(2)) if m.group(2) else None
        day = int(m.group(3)) if m.group(3) else None
        return cls(year, month, day)

    @property
    def is_full(self) -> bool:
        return self.month is not None and self.day is not None

    def iso(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True, slots=True)
class Name:
    """One full name: forenames (first and middle) and surname."""

    forenames: str
    surname: str

    @classmethod
    def parse_full(cls, text: str) -> Name:
        """A full name in one string ('Jane Anne Smith'): the last token is the surname.

        A comma form ('Smith, Jane Anne') is also understood.
        """
        t = " ".join(text.split())
        if "," in t:
            sur, _, fore = t.partition(",")
            return cls(fore.strip(), sur.strip())
        from matching.normalize import PARTICLES

        tokens = t.split(" ")
        if len(tokens) == 1:
            return cls("", tokens[0])
        start = len(tokens) - 1
        # Particles before the last token belong to the surname ('Anne van der Berg').
        while start > 1 and tokens[start - 1].lower() in PARTICLES:
            start -= 1
        return cls(" ".join(tokens[:start]), " ".join(tokens[start:]))


@dataclass(frozen=True, slots=True)
class Identity:
    forenames: str
    surname: str
    date_of_birth: PartialDate | None = None
    previous_names: tuple[Name, ...] = ()
    gender: str | None = None  # 'female' | 'male' | None

    @property
    def names(self) -> tuple[Name, ...]:
        """The current name first, then previous names and aliases."""
        return (Name(self.forenames, self.surname), *self.previous_names)


def parse_gender(text: str) -> str | None:
    """'female'/'f', 'male'/'m' (any case) or '' (None); anything else raises ValueError."""
    t = text.strip().lower()
    if not t:
        return None
    if t in ("f", "female", "woman"):
        return "female"
    if t in ("m", "male", "man"):
        return "male"
    raise ValueError("gender: expected female, male or empty")
