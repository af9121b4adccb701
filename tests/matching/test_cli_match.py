"""`vbs match` end to end, in a subprocess, on small files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

LIST = """list_id,forenames,surname,date_of_birth,previous_names,gender
L1,William James,Hargreaves,1971-06-02,,m
L2,Jane,Pennington,1983-08-19,Jane Ashworth,f
L3,Gwendolyn,Ashcombe,1984,,
L4,Bad,Date,1984-02-30,,
L5,,,1990-01-01,,
L6,Łukasz,Wójcik,1985-07-30,,
"""
CHECKS = """reference,forenames,surname,date_of_birth,previous_names,extra
R1,Bill,Hargreaves,1971-06-02,,ignored
R2,Jane,Ashworth,1983-08-19,,
R3,Gwendolyn,Ashcombe,1984-03-12,,
R4,Nobody,Known,2000-01-01,,
R5,Broken,Row,12/03/1984,,
R6,Lukasz,Wojcik,1985-07-30,,
"""


def _run(tmp: Path, list_text: str, checks_text: str) -> subprocess.CompletedProcess[str]:
    (tmp / "list.csv").write_text(list_text, encoding="utf-8")
    (tmp / "checks.csv").write_text(checks_text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "vbs.cli", "match", str(tmp / "list.csv"),
         str(tmp / "checks.csv"), "-o", str(tmp / "out.csv"), "--workers", "2", "--chunk", "2"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_vbs_match_end_to_end(tmp_path: Path) -> None:
    proc = _run(tmp_path, LIST, CHECKS)
    assert proc.returncode == 0, proc.stderr
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["reference"] for r in rows] == ["R1", "R2", "R3", "R4", "R5", "R6"]
    assert list(rows[0].keys()) == ["reference", "band", "score", "list_id", "explanation"]
    by = {r["reference"]: r for r in rows}
    assert (by["R1"]["band"], by["R1"]["list_id"]) == ("match", "L1")
    assert (by["R2"]["band"], by["R2"]["list_id"]) == ("match", "L2")  # previous name
    assert (by["R3"]["band"], by["R3"]["list_id"]) == ("possible", "L3")  # year-only date
    assert (by["R4"]["band"], by["R4"]["score"], by["R4"]["list_id"]) == ("no_match", "0", "")
    assert by["R5"]["band"] == "incomplete"
    assert (by["R6"]["band"], by["R6"]["list_id"]) == ("match", "L6")
    expl = json.loads(by["R1"]["explanation"])
    assert expl["matcher_version"] and expl["band"] == "match"
    assert any(f["level"] == "nickname" for f in expl["fields"])
    assert 0.0 < float(by["R1"]["score"]) <= 1.0
    # Malformed rows reported by line number, without their content; the run went on.
    err = proc.stderr
    assert "list.csv: line 5: date_of_birth: day does not exist in that month" in err
    assert "list.csv: line 6: surname: required" in err
    assert "checks.csv: line 6: date_of_birth: expected YYYY-MM-DD" in err
    assert "Broken" not in err and "12/03/1984" not in err
    assert "checks: 6 against 4 list entries" in err
    assert "bands: match 3, possible 1, no_match 1, incomplete 1" in err
    assert "checks/s" in err and "index" in err


def test_vbs_match_bad_header(tmp_path: Path) -> None:
    proc = _run(tmp_path, "id,name\n1,x\n", CHECKS)
    assert proc.returncode == 2
    assert "header is missing column(s): list_id" in proc.stderr
