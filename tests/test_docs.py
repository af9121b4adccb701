"""The docs promise what the code does: every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

from vbs.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"VBS_{name.upper()}" for name in Settings.model_fields if f"VBS_{name.upper()}" not in text
    ]
    assert missing == []


def test_no_documented_setting_is_unknown() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(VBS_[A-Z0-9_]+)`", text))
    known = {f"VBS_{n.upper()}" for n in Settings.model_fields}
    assert documented - known == set()
