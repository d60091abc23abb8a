"""English text normalization: written forms → speakable words (steptts.textnorm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.corpus import spoken_form
from steptts.textnorm import (
    normalize_text,
    number_words,
    ordinal_words,
    year_words,
)

DEV_NORM = Path(__file__).parents[2] / "shared/data/dev_norm.tsv"


def _dev_norm_rows() -> list[tuple[str, str]]:
    lines = DEV_NORM.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line.strip()]


def said(text: str) -> str:
    return spoken_form(normalize_text(text))


@pytest.mark.parametrize(("written", "expected"), _dev_norm_rows())
def test_dev_norm(written: str, expected: str) -> None:
    assert said(written) == expected


def test_dev_norm_is_not_empty() -> None:
    assert len(_dev_norm_rows()) >= 7


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("0", "zero"),
        ("7", "seven"),
        ("13", "thirteen"),
        ("40", "forty"),
        ("101", "one hundred one"),
        ("12345", "twelve thousand three hundred forty five"),
        ("1,200", "one thousand two hundred"),
        ("2,500,000 people", "two million five hundred thousand people"),
        ("1000000", "one million"),
        ("It is -5 today", "it is minus five today"),
        ("between -3 and 4", "between minus three and four"),
        ("1500 people came", "one thousand five hundred people came"),
    ],
)
def test_cardinals(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1st", "first"), ("2nd", "second"), ("3rd", "third"), ("4th", "fourth"), ("11th", "eleventh"),
        ("12th", "twelfth"), ("21st", "twenty first"), ("22nd", "twenty second"), ("100th", "one hundredth"),
        ("the 1,000th visitor", "the one thousandth visitor"), ("her 90th birthday", "her ninetieth birthday"),
    ],
)
def test_ordinals(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1987", "nineteen eighty seven"),
        ("in 1945", "in nineteen forty five"),
        ("2005", "two thousand five"),
        ("2019", "twenty nineteen"),
        ("1900", "nineteen hundred"),
        ("1905", "nineteen oh five"),
        ("2000", "two thousand"),
        ("In 1999 the band split.", "in nineteen ninety nine the band split"),
        ("from 1939 to 1945", "from nineteen thirty nine to nineteen forty five"),
        ("the 1990s", "the nineteen nineties"),
        ("the 80s", "the eighties"),
        ("May 5, 2020", "may fifth twenty twenty"),
        ("2019-05-01", "may first twenty nineteen"),
    ],
)
def test_years_and_dates(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1.5", "one point five"),
        ("0.25", "zero point two five"),
        ("3.14159", "three point one four one five nine"),
        (".5", "point five"),
        ("1,234.5", "one thousand two hundred thirty four point five"),
    ],
)
def test_decimals(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("$3.50", "three dollars fifty cents"),
        ("$1", "one dollar"),
        ("$0.99", "ninety nine cents"),
        ("$1.01", "one dollar one cent"),
        ("$3.5", "three dollars fifty cents"),
        ("$1,200", "one thousand two hundred dollars"),
        ("$2 million", "two million dollars"),
        ("$1.5 billion", "one point five billion dollars"),
        ("$5m", "five million dollars"),
        ("-$5", "minus five dollars"),
        ("£1", "one pound"),
        ("£3.50", "three pounds fifty pence"),
        ("€20", "twenty euros"),
        ("€1.01", "one euro one cent"),
    ],
)
def test_currency(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("15%", "fifteen percent"),
        ("1.5%", "one point five percent"),
        ("-2%", "minus two percent"),
        ("100 %", "one hundred percent"),
    ],
)
def test_percent(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("7:45", "seven forty five"),
        ("7:00", "seven o'clock"),
        ("7:05", "seven oh five"),
        ("7:30 pm", "seven thirty pm"),
        ("7:30am", "seven thirty am"),
        ("at 7 p.m.", "at seven pm"),
        ("11 AM", "eleven am"),
        ("19:00", "nineteen hundred"),
    ],
)
def test_times(written: str, expected: str) -> None:
    assert said(written) == expected


def test_meridiem_is_read_as_letters_and_keeps_the_sentence_end() -> None:
    # espeak reads "am" as the verb; the normalizer writes "AM", which it spells.
    assert normalize_text("We met at 7 p.m.") == "We met at seven PM."
    assert normalize_text("At 7 a.m. we left.") == "At seven AM we left."


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("555-1234", "five five five one two three four"),
        ("(555) 123-4567", "five five five one two three four five six seven"),
        ("555-123-4567", "five five five one two three four five six seven"),
        ("+1 555-123-4567", "plus one five five five one two three four five six seven"),
        ("1-800-555-0199", "one eight zero zero five five five zero one nine nine"),
        ("5551234567", "five five five one two three four five six seven"),
        ("code 0042", "code zero zero four two"),
    ],
)
def test_phone_numbers_and_digit_runs(written: str, expected: str) -> None:
    assert said(written) == expected


def test_phone_groups_are_separated_for_prosody() -> None:
    assert normalize_text("Call 555-1234.") == "Call five five five, one two three four."


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("221 Baker St.", "two twenty one baker street"),
        ("221B Baker Street", "two twenty one b baker street"),
        ("1600 Pennsylvania Avenue", "sixteen hundred pennsylvania avenue"),
        ("305 Elm Road", "three oh five elm road"),
        ("10 Downing Street", "ten downing street"),
        ("Room 221 is free", "room two hundred twenty one is free"),
    ],
)
def test_house_numbers(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("10-20", "ten to twenty"),
        ("pages 5–9", "pages five to nine"),
        ("1939-1945", "nineteen thirty nine to nineteen forty five"),
        ("10-20 km", "ten to twenty kilometers"),
        ("$10-$20", "ten dollars to twenty dollars"),
        ("200-1000 people", "two hundred to one thousand people"),
        ("open 9:00-17:30", "open nine o'clock to seventeen thirty"),
        ("COVID-19", "covid nineteen"),
    ],
)
def test_ranges(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Mr. Brown", "mister brown"),
        ("Mrs. Smith", "missus smith"),
        ("Ms. Jones", "miz jones"),
        ("Mr and Mrs. Smith", "mr and missus smith"),
        ("Mr. and Mrs. Smith", "mister and missus smith"),
        ("Dr. Watson", "doctor watson"),
        ("Ask the Dr. about it", "ask the doctor about it"),
        ("She lives on Mulholland Dr.", "she lives on mulholland drive"),
        ("St. Paul", "saint paul"),
        ("Visit St. Louis", "visit saint louis"),
        ("The St. Louis Zoo", "the saint louis zoo"),
        ("Bury St. Edmunds", "bury saint edmunds"),
        ("Baker St.", "baker street"),
        ("5th St. and Main", "fifth street and main"),
        ("apples, pears, etc.", "apples pears et cetera"),
        ("Kramer vs. Kramer", "kramer versus kramer"),
        ("red vs blue", "red versus blue"),
        ("VS Code", "vs code"),
        ("fruit, e.g., apples", "fruit for example apples"),
        ("the capital, i.e. Paris", "the capital that is paris"),
        ("Martin Luther King Jr.", "martin luther king junior"),
        ("John Smith, Sr. said", "john smith senior said"),
        ("No. 5", "number five"),
        ("say no. Then", "say no then"),
        ("Prof. Xavier", "professor xavier"),
        ("Acme Inc.", "acme incorporated"),
    ],
)
def test_abbreviations(written: str, expected: str) -> None:
    assert said(written) == expected


def test_st_never_vanishes_and_keeps_the_sentence_end() -> None:
    assert normalize_text("He lives on Baker St.") == "He lives on Baker Street."
    assert normalize_text("He lives on Baker St. The house is red.") == (
        "He lives on Baker Street. The house is red."
    )
    assert normalize_text("Mr. Brown met Dr. Smith.") == "Mister Brown met Doctor Smith."


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("R&D", "r and d"),
        ("salt & pepper", "salt and pepper"),
        ("2 + 2 = 4", "two plus two equals four"),
        ("me@home", "me at home"),
        ("#1 hit", "number one hit"),
        ("3 × 4", "three times four"),
        ("1/2 cup", "one half cup"),
        ("3/4 of it", "three quarters of it"),
        ("2/3", "two thirds"),
    ],
)
def test_symbols(written: str, expected: str) -> None:
    assert said(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1 km", "one kilometer"),
        ("5 km", "five kilometers"),
        ("5km", "five kilometers"),
        ("1.5 km", "one point five kilometers"),
        ("1 kg", "one kilogram"),
        ("70 kg", "seventy kilograms"),
        ("100 m", "one hundred meters"),
        ("1 cm", "one centimeter"),
        ("8 mm", "eight millimeters"),
        ("500 g", "five hundred grams"),
        ("20 mg", "twenty milligrams"),
        ("1 l", "one liter"),
        ("2 L", "two liters"),
        ("250 ml", "two hundred fifty milliliters"),
        ("1 h", "one hour"),
        ("3 h", "three hours"),
        ("45 min", "forty five minutes"),
        ("1 s", "one second"),
        ("9.58 s", "nine point five eight seconds"),
        ("60 mph", "sixty miles per hour"),
        ("100 km/h", "one hundred kilometers per hour"),
        ("1 °C", "one degree celsius"),
        ("-5°C", "minus five degrees celsius"),
        ("98.6°F", "ninety eight point six degrees fahrenheit"),
        ("44.1 kHz", "forty four point one kilohertz"),
        ("50 Hz", "fifty hertz"),
        ("1 GB", "one gigabyte"),
        ("16 GB", "sixteen gigabytes"),
        ("700 MB", "seven hundred megabytes"),
    ],
)
def test_units(written: str, expected: str) -> None:
    assert said(written) == expected


def test_units_need_a_number_and_a_whole_word() -> None:
    assert said("5 minutes") == "five minutes"
    assert said("the km marker") == "the km marker"
    assert said("I am 5 in the morning") == "i am five in the morning"


def test_numbers_glued_to_letters_become_separate_words() -> None:
    assert said("MP3 and 4G") == "mp three and four g"


def test_spelled_out_text_is_unchanged() -> None:
    text = "The bus was twenty minutes late again this morning, wasn't it? Yes; it was!"
    assert normalize_text(text) == text


def test_case_and_sentence_punctuation_are_kept() -> None:
    assert normalize_text("In 1945, the war ended; 3 days later: peace!") == (
        "In nineteen forty five, the war ended; three days later: peace!"
    )


def test_whitespace_is_collapsed_and_unicode_forms_are_folded() -> None:
    assert normalize_text("  It   costs\u00a0$5 \n now ") == "It costs five dollars now"
    assert normalize_text("It’s 10–20 km") == "It's ten to twenty kilometers"


def test_spoken_form() -> None:
    assert spoken_form("Meet me at Seven o'clock, gate twelve!") == "meet me at seven o'clock gate twelve"
    assert spoken_form("  well-known   'quoted' e.g.  ") == "well known quoted e g"
    assert spoken_form("") == ""


def test_number_helpers() -> None:
    assert number_words(0) == "zero"
    assert number_words(1_000_001) == "one million one"
    assert number_words(-42) == "minus forty two"
    assert number_words(10**15) == "one thousand trillion"
    assert ordinal_words(101) == "one hundred first"
    assert ordinal_words(30) == "thirtieth"
    assert year_words(1066) == "ten sixty six"
    assert year_words(2010) == "twenty ten"
    assert year_words(221) == "two twenty one"


def test_normalized_text_reads_better_than_raw_espeak() -> None:
    """espeak-ng itself says "nineteen hundred eighty seven" and drops "St."; the normalizer does not."""
    from steptts.g2p import phonemize

    assert phonemize(normalize_text("1987")) == phonemize("nineteen eighty seven")
    assert phonemize("1987") != phonemize("nineteen eighty seven")
    assert phonemize(normalize_text("at Baker St.")) == phonemize("at Baker Street.")
    # "a.m." is spelled as letters ("eɪ ɛm"), not read as the verb "am".
    assert "eɪ" in phonemize(normalize_text("at 7 a.m."))
    assert "eɪ" not in phonemize("at seven am")
