"""Score the OUT.csv of ``vbs match`` against ``truth.csv`` from ``loadtests.synth``.

    vbs match DIR/list.csv DIR/checks.csv -o OUT.csv
    python -m loadtests.score_out OUT.csv DIR/truth.csv

OUT.csv holds the best candidate per check (``reference,band,score,list_id,explanation``), so
here recall counts a true match only when its true entry is the best candidate.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from loadtests.scoring import BANDS, Outcome, format_report, read_truth, score


def read_out(path: Path) -> Iterator[Outcome]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"reference", "band", "list_id"} - set(reader.fieldnames or ())
        if missing:
            raise SystemExit(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, r in enumerate(reader, start=2):
            band = r["band"]
            if band not in BANDS:
                raise SystemExit(f"{path}: line {line}: band {band!r} is not one of {BANDS}")
            key = r["list_id"] or ""
            cands = ((key, band),) if key and band != "no_match" else ()
            yield Outcome(r["reference"], cands)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m loadtests.score_out", description=__doc__.split("\n")[0]
    )
    ap.add_argument("out", type=Path, help="OUT.csv written by vbs match")
    ap.add_argument("truth", type=Path, help="truth.csv written by loadtests.synth")
    args = ap.parse_args(argv)
    truth = read_truth(args.truth)
    try:
        rep = score(read_out(args.out), truth)
    except KeyError as e:
        print(f"{args.out}: reference {e.args[0]} is not in {args.truth}", file=sys.stderr)
        return 2
    print(format_report(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
