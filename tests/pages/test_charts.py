"""The server-side SVG charts: described for screen readers, labels escaped, bars scaled."""

from __future__ import annotations

import re

from api.pages import charts


def test_stacked_bars_describe_totals_and_escape_labels() -> None:
    svg = charts.stacked_bars(
        "c",
        "Checks <b>per</b> day",
        [("1 Nov", {"clear": 3, "barred": 1}), ("<x>", {"under_review": 2})],
    )
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "6 in all" in svg and "Clear: 3" in svg and "Barred: 1" in svg
    assert "<b>" not in svg and "&lt;b&gt;per&lt;/b&gt;" in svg
    assert "&lt;x&gt;" in svg and "<x>" not in svg
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', svg)]
    # Three segments (3, 1, 2) plus the four legend swatches (12 high).
    segments = sorted(h for h in heights if h != 12.0)
    assert len(segments) == 3
    assert abs(segments[2] / segments[0] - 3.0) < 0.01


def test_bars_axis_uses_whole_numbers_for_small_counts() -> None:
    svg = charts.bars("q", "Queue", [("a", 1.0), ("b", 0.0)])
    labels = re.findall(r'text-anchor="end"[^>]*>([^<]+)<', svg)
    assert labels == ["0", "1", "2", "3", "4"]
