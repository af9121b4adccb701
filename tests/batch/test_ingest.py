"""The batch file format: upload checks (limits, encodings, header) and row errors."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from batch.ingest import FileProblem, ParsedRow, RowError, UploadScanner, parse_date, parse_rows
from vbs.errors import PayloadTooLarge, UnsupportedFile, ValidationFailed

HEADER = b"reference,forenames,surname,date_of_birth\n"


def scan(data: bytes, *, max_bytes: int = 10_000, max_rows: int = 100, step: int = 7) -> list[str]:
    s = UploadScanner(max_bytes=max_bytes, max_rows=max_rows)
    for i in range(0, len(data), step):
        s.feed(data[i : i + step])
    return s.finish()


def parse(data: bytes, max_rows: int = 1000) -> list[ParsedRow | RowError]:
    return list(parse_rows([data[i : i + 5] for i in range(0, len(data), 5)], max_rows))


def errors_of(data: bytes) -> dict[int, str]:
    return {r.line_no: r.reason for r in parse(data) if isinstance(r, RowError)}


# --- upload scanning ----------------------------------------------------------------


def test_good_header_with_bom_and_optional_columns() -> None:
    data = (
        b"\xef\xbb\xbfReference, Forenames,surname,date_of_birth,"
        b"previous_names,gender,workforce\r\n"
    )
    assert scan(data + b"r1,A,B,2000-01-01,,,\r\n") == [
        "reference",
        "forenames",
        "surname",
        "date_of_birth",
        "previous_names",
        "gender",
        "workforce",
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"reference,forenames,surname\n", "missing required column(s) date_of_birth"),
        (
            b"reference,forenames,surname,date_of_birth,shoe_size\n",
            "unknown column(s) at position 5",
        ),
        (b"reference,forenames,surname,date_of_birth,surname\n", "repeated column(s) surname"),
        (b"\n", "header line is empty"),
    ],
)
def test_bad_header_is_a_file_problem(header: bytes, expected: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        scan(header + b"r1,A,B,2000-01-01\n")
    assert exc.value.errors[0].field == "file"
    assert expected in exc.value.errors[0].message
    assert exc.value.errors[0].message.startswith("line 1")


def test_ten_thousand_columns_is_a_file_problem() -> None:
    header = HEADER.rstrip(b"\n") + b"".join(b",c%d" % i for i in range(10_000)) + b"\n"
    with pytest.raises(ValidationFailed) as exc:
        scan(header, max_bytes=1_000_000, step=4096)
    assert "line 1" in exc.value.errors[0].message


def test_utf16_is_refused() -> None:
    data = "reference,forenames,surname,date_of_birth\n".encode("utf-16")
    with pytest.raises(UnsupportedFile, match="UTF-16"):
        scan(data)


def test_utf16_without_bom_is_refused_for_its_nul_bytes() -> None:
    data = "reference,forenames,surname,date_of_birth\n".encode("utf-16-le")
    with pytest.raises(UnsupportedFile, match="NUL"):
        scan(data)


def test_nul_byte_anywhere_is_refused() -> None:
    with pytest.raises(UnsupportedFile, match="NUL"):
        scan(HEADER + b"r1,A,B,2000-01-01\n" * 20 + b"r2,A\x00,B,2000-01-01\n")


def test_binary_file_is_refused() -> None:
    with pytest.raises(UnsupportedFile, match="not UTF-8 text"):
        scan(b"\x89PNG\r\n\x1a\n" + bytes(range(128, 256)))


def test_empty_file_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="empty"):
        scan(b"")


def test_byte_limit_exact_passes_and_one_over_fails() -> None:
    data = HEADER + b"r1,A,B,2000-01-01\n"
    assert scan(data, max_bytes=len(data))
    with pytest.raises(PayloadTooLarge):
        scan(data + b"x", max_bytes=len(data))


def test_row_limit_counts_non_blank_lines() -> None:
    rows = b"r1,A,B,2000-01-01\n" * 3
    assert scan(HEADER + rows + b"\n\n", max_rows=3)
    with pytest.raises(PayloadTooLarge, match="3 rows"):
        scan(HEADER + rows + b"r4,A,B,2000-01-01", max_rows=3)


# --- rows ---------------------------------------------------------------------------


def test_good_rows_are_parsed() -> None:
    data = (
        b"reference,forenames,surname,date_of_birth,previous_names,gender,workforce\n"
        b"r1,Anne Marie, Smith ,1980-02-29,Anne  Jones|Anne Brown,F,children\n"
        b"\n"
        b'r2,"O\'Brien, Pat",Le Roux,03/04/1990,,,\n'
    )
    rows = parse(data)
    assert rows == [
        ParsedRow(
            2,
            "r1",
            "Anne Marie",
            "Smith",
            date(1980, 2, 29),
            ("Anne Jones", "Anne Brown"),
            "female",
            "children",
        ),
        ParsedRow(4, "r2", "O'Brien, Pat", "Le Roux", date(1990, 4, 3), (), None, "both"),
    ]


def test_every_row_error_is_reported_with_its_line() -> None:
    future = (date.today() + timedelta(days=1)).isoformat()
    data = (
        b"reference,forenames,surname,date_of_birth,previous_names,gender,workforce\n"
        b"r1,,Smith,1980-01-01,,,\n"  # 2 missing forenames
        b"r2,Ann,Smith,1980-02-30,,,\n"  # 3 impossible date
        + f"r3,Ann,Smith,{future},,,\n".encode()  # 4 future date
        + b"r4,Ann,Smith,1980/01/01,,,\n"  # 5 wrong date form
        b"r5," + b"A" * 201 + b",Smith,1980-01-01,,,\n"  # 6 over-long value
        b"r6,Ann,Smith,1980-01-01,,x,\n"  # 7 bad gender
        b"r7,Ann,Smith,1980-01-01,,,pets\n"  # 8 bad workforce
        b"r8,Ann,Smith,1980-01-01\n"  # 9 too few values
        b"r9,Ann,Smith,1980-01-01,Cher,,\n"  # 10 previous name not a full name
        b"r10,Ann\xff\xfe,Smith,1980-01-01,,,\n"  # 11 invalid UTF-8
        b",Ann,Smith,1850-01-01,,,\n"  # 12 missing reference, too old
        b"r12,Ann,Smith,,,,\n"  # 13 missing date
        b"r13,Ann,Smith,1980-01-01,,,\n"  # 14 good
    )
    errs = errors_of(data)
    assert errs[2] == "forenames: missing"
    assert errs[3] == "date_of_birth: not a real date"
    assert errs[4] == "date_of_birth: is in the future"
    assert "YYYY-MM-DD or DD/MM/YYYY" in errs[5]
    assert errs[6] == "forenames: longer than 200 characters"
    assert errs[7].startswith("gender:")
    assert errs[8].startswith("workforce:")
    assert errs[9] == "has 4 values; the header has 7 columns"
    assert "previous_names" in errs[10]
    assert errs[11] == "not valid UTF-8 text"
    assert errs[12] == "reference: missing; date_of_birth: is before 1900"
    assert errs[13] == "date_of_birth: missing"
    assert 14 not in errs
    assert len(errs) == 12


def test_reasons_never_quote_the_value() -> None:
    data = HEADER + b"r1,Zebedee,Quixotic,31/02/1980\n"
    (err,) = parse(data)
    assert isinstance(err, RowError)
    assert err.reference == "r1"
    assert "Zebedee" not in err.reason and "Quixotic" not in err.reason and "31" not in err.reason


def test_poison_rows_become_row_errors_and_parsing_goes_on() -> None:
    huge = b"x" * (10 * 1024 * 1024)
    data = (
        HEADER
        + b"r1,Ann," + huge + b",1980-01-01\n"  # 10 MB field
        + b"r2,=cmd|' /C calc'!A0,Smith,1980-01-01\n"  # formula: a name, stored as text
        + b"r3," + b",".join([b"x"] * 10_000) + b"\n"  # 10,000 columns
        + b"r4,Ann,Smith,1980-01-01\n"
    )  # fmt: skip
    rows = parse_rows([data[i : i + 1_000_000] for i in range(0, len(data), 1_000_000)], 100)
    out = list(rows)
    errs = {r.line_no: r.reason for r in out if isinstance(r, RowError)}
    good = [r for r in out if isinstance(r, ParsedRow)]
    assert set(errs) == {2, 4}
    assert "too long" in errs[2]
    assert errs[4] == "has 10001 values; the header has 4 columns"
    assert [r.reference for r in good] == ["r2", "r4"]
    assert good[0].forenames == "=cmd|' /C calc'!A0"


def test_file_problems_while_parsing() -> None:
    with pytest.raises(FileProblem, match="empty"):
        parse(b"")
    with pytest.raises(FileProblem, match="unknown column"):
        parse(b"reference,name\nr1,x\n")
    with pytest.raises(FileProblem, match="NUL"):
        parse(HEADER + b"r1,\x00,B,2000-01-01\n")
    with pytest.raises(FileProblem, match="limit of 2 rows"):
        parse(HEADER + b"r,A,B,2000-01-01\n" * 3, max_rows=2)


def test_uk_and_iso_dates() -> None:
    assert parse_date("1/2/2000") == date(2000, 2, 1)
    assert parse_date("2000-02-01") == date(2000, 2, 1)
    for bad in ("2000-2-1", "01-02-2000", "2000-02-30", "32/01/2000", "yesterday"):
        with pytest.raises(ValueError):
            parse_date(bad)


@pytest.mark.parametrize(
    "row",
    [
        b"r1,Ann,Smith,1980-01-01,,,\n",
        b'r2,"Ann\tMarie",Smith,1980-01-01,,,\n',
        b'r3,"Ann\nMarie",Smith,1980-01-01,,,\n',
        b"r4,Ann,Smith,1900-01-01,Ann Jones|Ann Brown,unspecified,adults\n",
        b"r5,Ann,Smith,1899-12-31,,,\n",
        b"r6," + b"A" * 200 + b",Smith,1980-01-01,,,\n",
        b"r7,Ann,Smith,1980-01-01," + b"|".join([b"Ann X"] * 21) + b",,\n",
        b"r8,Ann,Smith,1980-01-01,Cher,,\n",
        b"r9\x7f,Ann,Smith,1980-01-01,,,\n",
    ],
)
def test_a_row_accepted_here_passes_the_single_check_rules(row: bytes) -> None:
    """The batch reader is at least as strict as vbs.services.checks.validate, so the rows
    it passes to record_batch_rows are valid checks."""
    from vbs.services.checks import CheckRequest, validate

    header = b"reference,forenames,surname,date_of_birth,previous_names,gender,workforce\n"
    (item,) = parse(header + row)
    if isinstance(item, ParsedRow):
        request = CheckRequest(
            reference=item.reference,
            forenames=item.forenames,
            surname=item.surname,
            date_of_birth=item.date_of_birth,
            workforce=item.workforce,
            previous_names=item.previous_names,
            gender=item.gender,
        )
        assert validate(request) == []


def test_a_missing_header_line_is_named_without_echoing_the_data() -> None:
    with pytest.raises(ValidationFailed) as exc:
        scan(b"r1,Zebedee,Quarrington,1985-03-03\n")
    message = exc.value.errors[0].message
    assert "position 1, 2, 3, 4" in message and "should be the header line" in message
    assert "Zebedee" not in str(exc.value.detail) and "1985" not in str(exc.value.detail)
