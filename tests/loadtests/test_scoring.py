"""Scoring of matcher output against the synthetic truth, and the bench's smoke run."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from loadtests import bench_matcher, score_out, synth
from loadtests.scoring import Outcome, Truth, score


def _truth() -> dict[str, Truth]:
    return {
        "C1": Truth("L1", "true_match", "exact", "", "en"),
        "C2": Truth("L2", "true_match", "typo", "", "ar"),
        "C3": Truth("L3", "true_match", "typo+dob_year", ""),
        "C4": Truth("", "hard_negative", "twin", "L4"),
        "C5": Truth("", "non_match", "", ""),
    }


def test_score_counts_precision_recall_and_review_load() -> None:
    outcomes = [
        Outcome("C1", (("L1", "match"),)),
        Outcome("C2", (("L9", "possible"), ("L2", "possible"))),  # true entry second: found
        Outcome("C3", ()),  # missed
        Outcome("C4", (("L4", "match"),)),  # a twin in match: a wrong match
        Outcome("C5", (("L5", "possible"),)),
    ]
    rep = score(outcomes, _truth())
    assert rep.checks == 5 and rep.true_matches == 3
    assert (rep.match_checks, rep.match_correct) == (2, 1)
    assert rep.precision == 0.5
    assert rep.true_found == 2 and rep.recall == pytest.approx(2 / 3)
    assert rep.possible_checks == 2 and rep.possible_share == pytest.approx(0.4)
    assert rep.by_type["true: typo"]["possible"] == 1
    assert rep.by_type["true: two corruptions"]["no_match"] == 1
    assert rep.by_type["  (in two) dob_year"]["no_match"] == 1
    assert rep.by_type["hard negative: twin"]["match"] == 1
    assert rep.missing == 0
    assert rep.by_origin["en"] == [1, 1, 1, 0, 0, 0]
    assert rep.by_origin["ar"] == [1, 1, 0, 0, 0, 0]  # found, but in possible
    assert rep.by_origin["?"] == [1, 0, 0, 2, 1, 1]  # no origin given: C3 missed; C4, C5


def test_score_out_reads_vbs_match_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "truth.csv"
    with truth.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(("reference", "list_id", "kind", "corruption", "related_list_id"))
        for ref, t in _truth().items():
            w.writerow((ref, t.list_id, t.kind, t.corruption, t.related))
    out = tmp_path / "out.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(("reference", "band", "score", "list_id", "explanation"))
        w.writerow(("C1", "match", "0.99", "L1", "{}"))
        w.writerow(("C2", "possible", "0.6", "L2", "{}"))
        w.writerow(("C3", "no_match", "0", "", "{}"))
        w.writerow(("C4", "possible", "0.7", "L4", "{}"))
        w.writerow(("C5", "no_match", "0", "", "{}"))
    assert score_out.main([str(out), str(truth)]) == 0
    text = capsys.readouterr().out
    assert "100.000% (1/1)" in text  # precision of match
    assert "66.667% (2/3)" in text  # recall in match+possible

    bad = tmp_path / "bad.csv"
    bad.write_text("reference,band,score,list_id\nC1,maybe,0,L1\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="line 2"):
        score_out.main([str(bad), str(truth)])


@pytest.mark.skipif(
    importlib.util.find_spec("matching.engine") is None, reason="matcher not present"
)
def test_bench_runs_on_a_small_synthetic_set(tmp_path: Path) -> None:
    synth.generate(3000, 400, 3, tmp_path)
    text = bench_matcher.bench_synthetic(tmp_path, workers=1, limit=None, chunk=200)
    assert "blocking recall" in text and "precision of match" in text
    assert "| checks                         | 400" in text
    assert "true: exact" in text and "hard negative: twin" in text
