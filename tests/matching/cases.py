"""Named matching cases as data: (name, check, list entry, expected band, expected levels).

Each case is scored against a background list (see ``conftest``-free ``background()``) so
that term frequencies are realistic: common names are common there. ``levels`` maps a field
to the level the explanation must report (only the fields that the case is about).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matching.identity import Identity, Name, PartialDate

D = PartialDate


def I(  # noqa: E743 - a short constructor keeps the table readable
    fore: str,
    sur: str,
    dob: str = "",
    prev: tuple[tuple[str, str], ...] = (),
    gender: str | None = None,
) -> Identity:
    return Identity(fore, sur, D.parse(dob), tuple(Name(f, s) for f, s in prev), gender)


@dataclass(frozen=True)
class Case:
    name: str
    check: Identity
    entry: Identity
    band: str  # expected band
    levels: dict[str, str] = field(default_factory=dict)


CASES: list[Case] = [
    # ---- agreement and name levels ------------------------------------------------------
    Case(
        "exact",
        I("Aoife", "Brennan", "1984-03-12"),
        I("Aoife", "Brennan", "1984-03-12"),
        "match",
        {"forenames": "exact", "surname": "exact", "date_of_birth": "exact"},
    ),
    Case(
        "case and spaces",
        I("  aoife ", "BRENNAN", "1984-03-12"),
        I("Aoife", "Brennan", "1984-03-12"),
        "match",
        {"forenames": "exact"},
    ),
    Case(
        "nickname Bill/William",
        I("Bill", "Hargreaves", "1971-06-02"),
        I("William", "Hargreaves", "1971-06-02"),
        "match",
        {"forenames": "nickname"},
    ),
    Case(
        "nickname Peggy/Margaret",
        I("Peggy", "Okonkwo", "1950-01-30"),
        I("Margaret", "Okonkwo", "1950-01-30"),
        "match",
        {"forenames": "nickname"},
    ),
    Case(
        "nickname Jack/John",
        I("Jack", "Pemberton", "1990-12-01"),
        I("John", "Pemberton", "1990-12-01"),
        "match",
        {"forenames": "nickname"},
    ),
    Case(
        "initial against full forename",
        I("R", "Featherstonehaugh", "1966-09-17"),
        I("Rupert", "Featherstonehaugh", "1966-09-17"),
        "match",
        {"forenames": "initial"},
    ),
    Case(
        "typo in forename (Jaro-Winkler high)",
        I("Kathrine", "Oyelaran", "1979-02-14"),
        I("Katherine", "Oyelaran", "1979-02-14"),
        "match",
        {"forenames": "jaro_winkler_high"},
    ),
    Case(
        "typo in surname",
        I("Priya", "Ramachandarn", "1988-07-07"),
        I("Priya", "Ramachandran", "1988-07-07"),
        "match",
        {"surname": "jaro_winkler_high"},
    ),
    Case(
        "phonetic surname",
        I("Stephen", "Thwaites", "1975-05-05"),
        I("Stephen", "Thwaytes", "1975-05-05"),
        "match",
    ),
    Case(
        "middle name on one side only",
        I("Anna", "Kowalczyk", "1993-11-20"),
        I("Anna Maria", "Kowalczyk", "1993-11-20"),
        "match",
        {"middle_names": "one_side_only"},
    ),
    Case(
        "middle initial agrees",
        I("Anna M", "Kowalczyk", "1993-11-20"),
        I("Anna Maria", "Kowalczyk", "1993-11-20"),
        "match",
        {"middle_names": "initial"},
    ),
    Case(
        "forename order does not matter",
        I("Maria Anna", "Kowalczyk", "1993-11-20"),
        I("Anna Maria", "Kowalczyk", "1993-11-20"),
        "match",
        {"forenames": "exact"},
    ),
    Case(
        "forename and surname swapped",
        I("Fitzwilliam", "Darcy", "1970-08-08"),
        I("Darcy", "Fitzwilliam", "1970-08-08"),
        "match",
        {"names": "swapped"},
    ),
    Case(
        "goes by middle name",
        I("Edward", "Blackwood", "1958-04-23"),
        I("Thomas Edward", "Blackwood", "1958-04-23"),
        "possible",
        {"forenames": "middle_as_first"},
    ),
    # ---- normalisation --------------------------------------------------------------------
    Case(
        "diacritics Zoë/Zoe",
        I("Zoe", "Lefevre", "1999-01-09"),
        I("Zoë", "Lefèvre", "1999-01-09"),
        "match",
        {"forenames": "exact"},
    ),
    Case(
        "Müller/Mueller",
        I("Jurgen", "Mueller", "1962-10-03"),
        I("Jürgen", "Müller", "1962-10-03"),
        "match",
        {"surname": "transliteration"},
    ),
    Case(
        "Łukasz/Lukasz",
        I("Lukasz", "Wojcik", "1985-07-30"),
        I("Łukasz", "Wójcik", "1985-07-30"),
        "match",
        {"forenames": "exact"},
    ),
    Case(
        "Cyrillic script",
        I("Vladimir", "Petrov", "1977-03-03"),
        I("Владимир", "Петров", "1977-03-03"),
        "match",
        {"surname": "exact"},
    ),
    Case(
        "Arabic script against romanisation",
        I("Bilal", "Al-Zahrani", "1987-05-11"),
        I("بلال", "الزهراني", "1987-05-11"),
        "match",
        {"forenames": "transliteration", "surname": "transliteration"},
    ),
    Case(
        "middle name in Arabic script against romanisation",
        I("Hamza Yasser", "Kassem", "1992-12-26"),
        I("حمزة ياسر", "قاسم", "1992-12-26"),
        "match",
        {"forenames": "transliteration", "middle_names": "transliteration"},
    ),
    Case(
        "surnames one keystroke apart (short surname)",
        I("Gwendolyn", "Mqrin", "1984-03-12"),
        I("Gwendolyn", "Morin", "1984-03-12"),
        "match",
        {"surname": "one_edit"},
    ),
    Case(
        "surnames of four letters one keystroke apart are not one_edit (Sias / Sims)",
        I("Gwendolyn", "Sias", "1984-03-12"),
        I("Gwendolyn", "Sims", "1984-03-12"),
        "possible",
        {"surname": "jaro_winkler_mid"},
    ),
    Case(
        "titles and suffixes",
        I("Dr James", "Whitfield Jr", "1960-02-02"),
        I("James", "Whitfield", "1960-02-02"),
        "match",
        {"forenames": "exact"},
    ),
    Case(
        "apostrophe O'Brien/OBrien",
        I("Siobhan", "OBrien", "1982-06-15"),
        I("Siobhan", "O'Brien", "1982-06-15"),
        "match",
        {"surname": "exact"},
    ),
    Case(
        "hyphenated surname, one part",
        I("Harriet", "Jones", "1991-09-09"),
        I("Harriet", "Smith-Jones", "1991-09-09"),
        "match",
        {"surname": "part"},
    ),
    Case(
        "double-barrelled with a space",
        I("Harriet", "Smith Jones", "1991-09-09"),
        I("Harriet", "Smith-Jones", "1991-09-09"),
        "match",
        {"surname": "exact"},
    ),
    Case(
        "Mc/Mac",
        I("Callum", "McDonald", "1980-01-01"),
        I("Callum", "MacDonald", "1980-01-01"),
        "match",
        {"surname": "exact"},
    ),
    Case(
        "particles van der",
        I("Pieter", "Berg", "1974-12-12"),
        I("Pieter", "van der Berg", "1974-12-12"),
        "match",
        {"surname": "part"},
    ),
    Case(
        "particles joined",
        I("Pieter", "Vanderberg", "1974-12-12"),
        I("Pieter", "van der Berg", "1974-12-12"),
        "match",
        {"surname": "exact"},
    ),
    Case(
        "previous (maiden) name on the list",
        I("Claire", "Ashworth", "1983-08-19"),
        I("Claire", "Pennington", "1983-08-19", prev=(("Claire", "Ashworth"),)),
        "match",
        {"surname": "exact"},
    ),
    Case(
        "previous name given by the applicant",
        I("Claire", "Pennington", "1983-08-19", prev=(("Claire", "Ashworth"),)),
        I("Claire", "Ashworth", "1983-08-19"),
        "match",
    ),
    # ---- dates of birth ----------------------------------------------------------------------
    Case(
        "day and month transposed",
        I("Gwendolyn", "Ashcombe", "1984-12-03"),
        I("Gwendolyn", "Ashcombe", "1984-03-12"),
        "match",
        {"date_of_birth": "transposed_day_month"},
    ),
    Case(
        "one digit wrong",
        I("Gwendolyn", "Ashcombe", "1984-03-17"),
        I("Gwendolyn", "Ashcombe", "1984-03-12"),
        "possible",
        {"date_of_birth": "one_digit"},
    ),
    Case(
        "one digit wrong, middle name agrees too: still a caseworker's call",
        I("Gwendolyn Maud", "Ashcombe", "1984-03-17"),
        I("Gwendolyn Maud", "Ashcombe", "1984-03-12"),
        "possible",
        {"date_of_birth": "one_digit", "middle_names": "exact"},
    ),
    Case(
        "one digit wrong in the decade, same full name (parent and child)",
        I("Gwendolyn Maud", "Ashcombe", "1994-03-12"),
        I("Gwendolyn Maud", "Ashcombe", "1964-03-12"),
        "possible",
        {"date_of_birth": "one_digit_decade"},
    ),
    Case(
        "year off by one",
        I("Gwendolyn", "Ashcombe", "1985-03-12"),
        I("Gwendolyn", "Ashcombe", "1984-03-12"),
        "match",
        {"date_of_birth": "year_off_by_one"},
    ),
    Case(
        "same year and month",
        I("Gwendolyn", "Ashcombe", "1984-03-28"),
        I("Gwendolyn", "Ashcombe", "1984-03-02"),
        "possible",
        {"date_of_birth": "same_year_month"},
    ),
    Case(
        "partial date on the list: year and month",
        I("Gwendolyn", "Ashcombe", "1984-03-12"),
        I("Gwendolyn", "Ashcombe", "1984-03"),
        "match",
        {"date_of_birth": "partial_year_month"},
    ),
    Case(
        "partial date on the list: year only",
        I("Gwendolyn", "Ashcombe", "1984-03-12"),
        I("Gwendolyn", "Ashcombe", "1984"),
        "possible",
        {"date_of_birth": "partial_year"},
    ),
    Case(
        "partial date on the list: year only, middle name agrees too",
        I("Gwendolyn Maud", "Ashcombe", "1984-03-12"),
        I("Gwendolyn Maud", "Ashcombe", "1984"),
        "match",
        {"date_of_birth": "partial_year", "middle_names": "exact"},
    ),
    Case(
        "partial date on the list: year only, middle names differ",
        I("Gwendolyn Maud", "Ashcombe", "1984-03-12"),
        I("Gwendolyn Ruth", "Ashcombe", "1984"),
        "possible",
        {"date_of_birth": "partial_year", "middle_names": "different"},
    ),
    Case(
        "date missing on the list, rare name",
        I("Gwendolyn", "Ashcombe", "1984-03-12"),
        I("Gwendolyn", "Ashcombe", ""),
        "possible",
        {"date_of_birth": "missing"},
    ),
    # ---- hard negatives ------------------------------------------------------------------------
    Case(
        "twins",
        I("Oliver", "Smith", "2001-05-05"),
        I("George", "Smith", "2001-05-05"),
        "no_match",
        {"forenames": "different"},
    ),
    # With a surname this rare on a small list a caseworker looks; never `match`.
    Case(
        "twins, very rare surname",
        I("Oliver", "Featherstonehaugh", "2001-05-05"),
        I("George", "Featherstonehaugh", "2001-05-05"),
        "possible",
        {"forenames": "different"},
    ),
    Case(
        "twins of different sex, similar forenames",
        I("Patricia", "Ashcombe", "2001-05-05", gender="female"),
        I("Patrick", "Ashcombe", "2001-05-05", gender="male"),
        "possible",
        {"gender": "different"},
    ),
    Case(
        "father and son, same name",
        I("John", "Smith", "1985-06-01"),
        I("John", "Smith", "1958-02-14"),
        "no_match",
        {"date_of_birth": "different"},
    ),
    Case(
        "father and son, common name",
        I("David", "Jones", "1999-06-01"),
        I("David", "Jones", "1968-02-14"),
        "no_match",
    ),
    Case(
        "father and son, rare name",
        I("Gwendolyn", "Ashcombe", "1999-06-01"),
        I("Gwendolyn", "Ashcombe", "1968-02-14"),
        "no_match",
    ),
    Case(
        "different person, same birthday",
        I("Paul", "Jones", "1980-01-01"),
        I("Mark", "Taylor", "1980-01-01"),
        "no_match",
    ),
    Case(
        "namesake one digit away, common name",
        I("John", "Smith", "1985-06-01"),
        I("John", "Smith", "1985-06-07"),
        "possible",
    ),
    # ---- matcher 1.3.0 -------------------------------------------------------------------
    Case(
        "twins named alike but for the first letter",
        I("Bryan", "Ashcombe", "1990-04-04"),
        I("Ryan", "Ashcombe", "1990-04-04"),
        "possible",
        {"forenames": "jaro_winkler_high"},
    ),
    Case(
        "forenames alike but one is a longer name",
        I("Jose", "Ashcombe", "1990-04-04"),
        I("Joseph", "Ashcombe", "1990-04-04"),
        "possible",
        {"forenames": "jaro_winkler_high"},
    ),
    Case(
        "twins with two nicknames of one full name",
        I("Bobbie", "Ashcombe", "1990-04-04"),
        I("Robbie", "Ashcombe", "1990-04-04"),
        "possible",
        {"forenames": "nickname"},
    ),
    Case(
        "a nickname keyed with a slip",
        I("Sahuel", "Ashcombe", "1990-04-04"),
        I("Sam", "Ashcombe", "1990-04-04"),
        "possible",
        {"forenames": "nickname_typo"},
    ),
    Case(
        "day digits swapped",
        I("Aoife", "Brennan", "1984-03-12"),
        I("Aoife", "Brennan", "1984-03-21"),
        "possible",
        {"date_of_birth": "one_digit"},
    ),
    Case(
        "year digits swapped across the decade: a parent's year too",
        I("Aoife", "Brennan", "1985-03-12"),
        I("Aoife", "Brennan", "1958-03-12"),
        "possible",
        {"date_of_birth": "one_digit_decade"},
    ),
    Case(
        "swapped names, the surname with a prefix",
        I("Ó hEarchú", "Brendan", "1945-03-03"),
        I("Brendan", "Ó hEarchú", "1945-03-03"),
        "match",
        {"names": "swapped", "forenames": "exact", "surname": "exact"},
    ),
    Case(
        "middle name in another transliteration",
        I("Nina Yulya", "Ermakova", "1977-09-11"),
        I("Нина Юлия", "Ермакова", "1977-09-11"),
        "match",
        {"middle_names": "jaro_winkler"},
    ),
    Case(
        "Arabic script against a romanisation with another initial",
        I("عائشة", "عباس", "1971-06-07"),
        I("Aisha", "Abbas", "1971-06-07"),
        "match",
        {"forenames": "transliteration", "surname": "transliteration"},
    ),
    Case(
        "Arabic name in a French romanisation, the article on one side only",
        I("Rachid", "Tamimi", "2003-03-30"),
        I("رشيد", "التميمي", "2003-03-30"),
        "match",
        {"forenames": "transliteration", "surname": "transliteration"},
    ),
    Case(
        "a check giving only the year, with a nickname",
        I("Bill", "Ashcombe", "1984"),
        I("William", "Ashcombe", "1984-03-12"),
        "possible",
        {"forenames": "nickname", "date_of_birth": "partial_year"},
    ),
    Case(
        "different gender",
        I("Sam", "Ashcombe", "1984-03-12", gender="female"),
        I("Sam", "Ashcombe", "1984-03-12", gender="male"),
        "possible",
        {"gender": "different"},
    ),
]


def background() -> list[tuple[str, Identity, int]]:
    """A background list: common names many times, so term frequencies mean something."""
    common_fore = ["John", "David", "Paul", "Mark", "James", "Mary", "Sarah", "Emma"]
    common_sur = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson"]
    out: list[tuple[str, Identity, int]] = []
    k = 0
    for i, f in enumerate(common_fore):
        for j, s in enumerate(common_sur):
            for n in range(6):
                year = 1950 + (i * 7 + j * 3 + n * 11) % 55
                month = 1 + (i + j + n) % 12
                day = 1 + (i * 3 + j * 5 + n * 7) % 28
                out.append((f"bg{k}", Identity(f, s, PartialDate(year, month, day)), 3))
                k += 1
    return out
