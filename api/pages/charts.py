"""Charts drawn on the server as SVG (no JavaScript): stacked bars and plain bars.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` summarising it; the
page shows the same numbers in a table beside it, so nothing is only in the picture. Every
label is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 260
LEFT = 48
BOTTOM = 40
TOP = 16
RIGHT = 12


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    label: str
    colour: str


OUTCOME_SERIES: tuple[Series, ...] = (
    Series("clear", "Clear", "#00703c"),
    Series("barred", "Barred", "#d4351c"),
    Series("under_review", "Under review", "#f47738"),
    Series("incomplete", "Incomplete", "#505a5f"),
)


def _nice_max(value: float) -> float:
    """A round upper bound for the axis (1, 2, 5 times a power of ten)."""
    if value <= 4:
        return 4.0  # counts: whole-number grid lines
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return float(factor * step)
    return float(10 * step)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _axis(parts: list[str], top_value: float) -> None:
    """Grid lines and labels: 4 intervals when the top divides by 4, else 5 (whole steps)."""
    plot_h = HEIGHT - TOP - BOTTOM
    steps = 4 if top_value % 4 == 0 else 5
    for i in range(steps + 1):
        v = top_value * i / steps
        y = TOP + plot_h - plot_h * i / steps
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            'stroke="#b1b4b6" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#0b0c0c">{escape(_fmt(v))}</text>'
        )


def _open(chart_id: str, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="vbs-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        'font-family="GDS Transport, arial, sans-serif">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def _columns(n: int) -> tuple[float, float, int]:
    """For ``n`` bars: the width of each bar's slot, of the bar, and label every how many."""
    slot = (WIDTH - LEFT - RIGHT) / max(n, 1)
    return slot, max(slot * 0.7, 1.0), max(1, -(-n // 12))


def _x_label(x: float, label: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" '
        f'text-anchor="middle" font-size="12" fill="#0b0c0c">{escape(label)}</text>'
    )


def stacked_bars(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[Series] = OUTCOME_SERIES,
) -> Markup:
    """One stacked bar per row (e.g. a day), one segment per series (e.g. an outcome)."""
    totals = [sum(counts.get(s.key, 0) for s in series) for _, counts in rows]
    grand = sum(totals)
    desc = (
        f"{len(rows)} bars, {grand:,} in all. "
        + ", ".join(f"{s.label}: {sum(c.get(s.key, 0) for _, c in rows):,}" for s in series)
        + "."
    )
    parts = _open(chart_id, title, desc)
    top_value = _nice_max(max(totals, default=0))
    _axis(parts, top_value)
    plot_h = HEIGHT - TOP - BOTTOM
    slot, bar_w, step = _columns(len(rows))
    for i, (label, counts) in enumerate(rows):
        x = LEFT + slot * i + (slot - bar_w) / 2
        y = float(TOP + plot_h)
        for s in series:
            value = counts.get(s.key, 0)
            if value <= 0:
                continue
            h = plot_h * value / top_value
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{escape(label)}: {escape(s.label)} '
                f"{value:,}</title></rect>"
            )
        if i % step == 0:
            parts.append(_x_label(x + bar_w / 2, label))
    # Legend along the bottom.
    lx = LEFT
    for s in series:
        parts.append(f'<rect x="{lx}" y="{HEIGHT - 14}" width="12" height="12" fill="{s.colour}"/>')
        parts.append(
            f'<text x="{lx + 16}" y="{HEIGHT - 4}" font-size="12" fill="#0b0c0c">'
            f"{escape(s.label)}</text>"
        )
        lx += 24 + 8 * len(s.label)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label above went through escape()


def bars(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, float]],
    unit: str = "",
    colour: str = "#1d70b8",
) -> Markup:
    """One plain bar per row."""
    total = sum(v for _, v in rows)
    desc = f"{len(rows)} bars; total {_fmt(total)}{(' ' + unit) if unit else ''}."
    parts = _open(chart_id, title, desc)
    top_value = _nice_max(max((v for _, v in rows), default=0))
    _axis(parts, top_value)
    plot_h = HEIGHT - TOP - BOTTOM
    slot, bar_w, step = _columns(len(rows))
    for i, (label, value) in enumerate(rows):
        x = LEFT + slot * i + (slot - bar_w) / 2
        h = plot_h * value / top_value if value > 0 else 0.0
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: '
            f"{escape(_fmt(value))}{escape((' ' + unit) if unit else '')}</title></rect>"
        )
        if i % step == 0:
            parts.append(_x_label(x + bar_w / 2, label))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label above went through escape()
