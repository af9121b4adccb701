"""Scoring matcher output against ``truth.csv`` from :mod:`loadtests.synth`.

Definitions (used by ``bench_matcher`` and ``score_out``):

* a check's *band* is the band of its best candidate (``no_match`` when it has none);
* **precision of match**: of the checks in band ``match``, the share whose best candidate is
  the true list entry (a hard negative or non-match in ``match`` is always wrong);
* **recall (match+possible)**: of the true matches, the share whose true list entry is among
  the check's candidates at ``possible`` or above (with ``score_out`` only the best candidate
  is known, so there it must be the best);
* **review load**: the share of all checks in band ``possible``;
* per corruption / hard-negative type: where the check lands. For a true match that is the
  band of the *true entry* among the candidates (``no_match`` when it is not among them); for
  a hard negative or non-match it is the check's band.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BANDS = ("match", "possible", "no_match")


@dataclass(frozen=True, slots=True)
class Truth:
    list_id: str
    kind: str
    corruption: str
    related: str
    origin: str = ""


def read_truth(path: Path) -> dict[str, Truth]:
    with path.open(encoding="utf-8", newline="") as f:
        return {
            r["reference"]: Truth(
                r["list_id"],
                r["kind"],
                r["corruption"],
                r.get("related_list_id", "") or "",
                r.get("origin", "") or "",
            )
            for r in csv.DictReader(f)
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the matcher said about one check: candidates at or above possible, best first."""

    reference: str
    candidates: tuple[tuple[str, str], ...]  # (list key, band)

    @property
    def band(self) -> str:
        return self.candidates[0][1] if self.candidates else "no_match"

    def band_of(self, key: str) -> str:
        for k, b in self.candidates:
            if k == key:
                return b
        return "no_match"


@dataclass(slots=True)
class Report:
    checks: int = 0
    true_matches: int = 0
    match_checks: int = 0
    match_correct: int = 0
    match_wrong_pairs: int = 0  # candidates in band match that are not the true entry
    possible_checks: int = 0
    true_found: int = 0  # true entry at >= possible
    true_in_match: int = 0
    by_type: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(BANDS, 0))
    )
    # per origin: [true n, true found, true in match, negatives n, negatives match, possible]
    by_origin: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 6))
    missing: int = 0  # references in truth with no outcome

    @property
    def precision(self) -> float:
        return self.match_correct / self.match_checks if self.match_checks else 1.0

    @property
    def recall(self) -> float:
        return self.true_found / self.true_matches if self.true_matches else 1.0

    @property
    def possible_share(self) -> float:
        return self.possible_checks / self.checks if self.checks else 0.0


def _type_key(t: Truth) -> str:
    if t.kind == "true_match":
        return "true: " + ("two corruptions" if "+" in t.corruption else t.corruption)
    if t.kind == "hard_negative":
        return "hard negative: " + t.corruption
    return "non_match"


def score(outcomes: Iterable[Outcome], truth: dict[str, Truth]) -> Report:
    rep = Report()
    seen = set()
    for o in outcomes:
        t = truth[o.reference]
        seen.add(o.reference)
        rep.checks += 1
        band = o.band
        if band == "possible":
            rep.possible_checks += 1
        if band == "match":
            rep.match_checks += 1
            if t.kind == "true_match" and o.candidates[0][0] == t.list_id:
                rep.match_correct += 1
        rep.match_wrong_pairs += sum(1 for k, b in o.candidates if b == "match" and k != t.list_id)
        if t.kind == "true_match":
            rep.true_matches += 1
            landed = o.band_of(t.list_id)
            if landed != "no_match":
                rep.true_found += 1
            if landed == "match" and o.candidates[0][0] == t.list_id:
                rep.true_in_match += 1
            rep.by_type[_type_key(t)][landed] += 1
            o_row = rep.by_origin[t.origin or "?"]
            o_row[0] += 1
            o_row[1] += landed != "no_match"
            o_row[2] += landed == "match" and o.candidates[0][0] == t.list_id
            if "+" in t.corruption:
                for part in t.corruption.split("+"):
                    rep.by_type["  (in two) " + part][landed] += 1
        else:
            rep.by_type[_type_key(t)][band] += 1
            o_row = rep.by_origin[t.origin or "?"]
            o_row[3] += 1
            o_row[4] += band == "match"
            o_row[5] += band == "possible"
    rep.missing = len(set(truth) - seen)
    return rep


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A plain fixed-width table (also valid Markdown)."""
    cells = [[str(h) for h in header], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def format_report(rep: Report) -> str:
    head = [
        ("checks", rep.checks),
        ("true matches", rep.true_matches),
        ("precision of match", f"{pct(rep.precision, 3)} ({rep.match_correct}/{rep.match_checks})"),
        ("recall in match+possible", f"{pct(rep.recall, 3)} ({rep.true_found}/{rep.true_matches})"),
        (
            "recall in match",
            f"{pct(rep.true_in_match / rep.true_matches if rep.true_matches else 1.0)}",
        ),
        ("possible share (review load)", f"{pct(rep.possible_share)} ({rep.possible_checks})"),
        ("wrong candidates in band match", rep.match_wrong_pairs),
    ]
    if rep.missing:
        head.append(("checks missing from the output", rep.missing))
    out = [table(head, ("figure", "value")), ""]
    rows = []
    order = sorted(rep.by_type, key=lambda k: (k.startswith("  "), not k.startswith("true"), k))
    for k in order:
        c = rep.by_type[k]
        n = sum(c.values())
        rows.append((k, n, *(pct(c[b] / n if n else 0.0, 1) for b in BANDS)))
    out.append(table(rows, ("type", "n", "match", "possible", "no_match")))
    if set(rep.by_origin) - {"?"}:
        o_rows = []
        for k in sorted(rep.by_origin, key=lambda k: -sum(rep.by_origin[k])):
            tn, tf, tm, nn, nm, np_ = rep.by_origin[k]
            o_rows.append(
                (
                    k,
                    tn,
                    pct(tf / tn if tn else 1.0, 1),
                    pct(tm / tn if tn else 1.0, 1),
                    nn,
                    pct(nm / nn if nn else 0.0, 2),
                    pct(np_ / nn if nn else 0.0, 1),
                )
            )
        out.append("")
        out.append(
            table(
                o_rows,
                (
                    "origin",
                    "true n",
                    "found (m+p)",
                    "in match",
                    "others n",
                    "others in match",
                    "others in possible",
                ),
            )
        )
    return "\n".join(out)
