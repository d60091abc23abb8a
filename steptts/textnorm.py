"""English text normalization: written forms become the words a phonemizer should read.

``normalize_text`` rewrites numbers, money, times, dates, phone numbers, abbreviations, units and
symbols as words. It keeps the case of the text and the punctuation that carries prosody
(``, . ! ? ; :``).

The passes run in a fixed order, and the order matters:

1. abbreviations, while their periods are still there (``Mr.``, ``St.``, ``No. 5``);
2. patterns that hold numbers, the most specific first: dates, phone numbers, ranges, times, house
   numbers, money, decades, ordinals, fractions;
3. plain numbers with their unit or ``%``, then the symbols left over.

Meant for one sentence at a time (split the raw text first with :func:`steptts.sentences.split_sentences`),
but any text works: an expanded abbreviation keeps its period only where that period also ends a
sentence (end of text, or a capital letter follows).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
    "twelve": "twelfth",
}


def number_words(n: int) -> str:
    """Cardinal words without "and": 1200 → "one thousand two hundred", -3 → "minus three"."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (" " + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" " + number_words(rest) if rest else "")
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{number_words(head)} {name}" + (" " + number_words(rest) if rest else "")
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> str:
    """Ordinal words: 21 → "twenty first", 100 → "one hundredth"."""
    head, _, last = number_words(n).rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def year_words(n: int) -> str:
    """A number read in pairs, as years and house numbers are (100 ≤ n ≤ 9999).

    1945 → "nineteen forty five", 1900 → "nineteen hundred", 2005 → "two thousand five",
    2019 → "twenty nineteen", 1905 → "nineteen oh five", 221 → "two twenty one".
    """
    high, low = divmod(n, 100)
    if high % 10 == 0 and low < 10:  # 2000-2009, 1000-1009: "twenty oh five" is not said
        return number_words(n)
    if low == 0:
        return number_words(high) + " hundred"
    if low < 10:
        return f"{number_words(high)} oh {_ONES[low]}"
    return f"{number_words(high)} {number_words(low)}"


def digit_words(digits: str) -> str:
    """Digit by digit: "0123" → "zero one two three"."""
    return " ".join(_ONES[int(d)] for d in digits if d.isdecimal())


def _plural_last(words: str) -> str:
    """Plural of the last word, for decades: "nineteen ninety" → "nineteen nineties"."""
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _decimal_words(whole: str, frac: str) -> str:
    head = number_words(int(whole.replace(",", ""))) + " " if whole else ""
    return f"{head}point {digit_words(frac)}"


def _match_case(source: str, words: str) -> str:
    return words[0].upper() + words[1:] if source[:1].isupper() else words


# A period that an abbreviation shares with the end of its sentence is kept for prosody.
_SENTENCE_END_AHEAD = re.compile(r"[\"')\]]*\s*$|\s+[\"'(\[]*[A-Z]")
_PREV_WORD = re.compile(r"(\S+)\s+$")
_NEXT_WORD = re.compile(r"\s+[\"'(]*(\w*)")
# Capitalized words that start phrases rather than name a street ("The St. Louis Zoo").
_FUNCTION_WORDS = frozenset((
    "the", "a", "an", "in", "at", "on", "of", "to", "from", "and", "or", "but", "for", "by",
    "near", "with", "visit", "visited", "via",
))
# Capitalized words after "Baker St." that start a new sentence rather than name a saint.
_SENTENCE_STARTERS = frozenset((
    "the", "a", "an", "it", "he", "she", "we", "they", "i", "you", "this", "that", "there", "then",
    "now", "today", "but", "and", "so", "our", "my", "his", "her", "their", "its", "in", "on",
    "at", "after",
))


def _period(m: re.Match[str]) -> str:
    if not m.group(0).endswith("."):
        return ""
    return "." if _SENTENCE_END_AHEAD.match(m.string, m.end()) else ""


def _neighbours(m: re.Match[str]) -> tuple[str, str]:
    """The word before the match and the word after it ("" when none)."""
    before = _PREV_WORD.search(m.string, max(0, m.start() - 40), m.start())
    after = _NEXT_WORD.match(m.string, m.end())
    return (before.group(1) if before else ""), (after.group(1) if after else "")


def _names_a_place(word: str) -> bool:
    """True for a capitalized name or a number before "St." / "Dr." ("Baker St.", "5th St.")."""
    word = word.strip("\"'(,")
    return bool(word) and (word[0].isdigit() or (word[0].isupper() and word.lower() not in _FUNCTION_WORDS))


def _street_or_saint(m: re.Match[str]) -> str:
    before, after = _neighbours(m)
    name_follows = after[:1].isupper() and after.lower() not in _SENTENCE_STARTERS
    if name_follows or (after[:1].isupper() and not _names_a_place(before)):
        return "Saint"  # "St. Paul", "Bury St. Edmunds", "The St. Louis Zoo"
    return "Street" + _period(m)


def _doctor_or_drive(m: re.Match[str]) -> str:
    before, after = _neighbours(m)
    if not after[:1].isupper() and _names_a_place(before):
        return "Drive" + _period(m)
    return "Doctor" + ("" if after else _period(m))


# Titles precede a name, so their period never ends a sentence ("Dr." and "St." are decided apart).
_TITLES = {
    "Mr": "mister", "Mrs": "missus", "Ms": "miz", "Messrs": "messieurs", "Mt": "mount", "Drs": "doctors",
    "Prof": "professor", "Gen": "general", "Capt": "captain", "Lt": "lieutenant", "Col": "colonel",
    "Maj": "major", "Sgt": "sergeant", "Rev": "reverend", "Gov": "governor", "Sen": "senator",
    "Rep": "representative",
}
_TITLE_RE = re.compile(
    rf"\b(?:({'|'.join(_TITLES)})\.(?=\s+[A-Z])|(Mr|Mrs|Ms|Messrs)\.|(Mr|Mrs|Ms|Mt)(?=\s+[A-Z]))"
)
# (pattern, flags, expansion, whether its period may also end the sentence)
_ABBREVIATIONS: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple(
    (re.compile(pattern, flags), words, can_end)
    for pattern, flags, words, can_end in (
        (r"\betc\b\.?", re.IGNORECASE, "et cetera", True),
        (r"\b[Vv]s\b\.?", 0, "versus", False),
        (r"\be\.g\.(?!\w)", re.IGNORECASE, "for example", False),
        (r"\bi\.e\.(?!\w)", re.IGNORECASE, "that is", False),
        (r"(?<=[\w,]\s)Jr\b\.?", 0, "junior", True),
        (r"(?<=[\w,]\s)Sr\b\.?", 0, "senior", True),
        (r"\b[Nn]o\.(?=\s?\d)|#(?=\d)", 0, "number ", False),
        (r"\bInc\.", 0, "incorporated", True),
        (r"\bLtd\.", 0, "limited", True),
        (r"\bCorp\.", 0, "corporation", True),
        (r"(?<=\w )Co\.", 0, "Company", True),
        (r"\bapprox\.", re.IGNORECASE, "approximately", False),
        (r"\bdept\.", re.IGNORECASE, "department", True),
        (r"\bAve\.", 0, "Avenue", True),
        (r"\bRd\.", 0, "Road", True),
        (r"\bBlvd\.", 0, "Boulevard", True),
        (r"\bLn\.", 0, "Lane", True),
    )
)


def _expand_abbreviations(text: str) -> str:
    text = _TITLE_RE.sub(lambda m: _match_case(m.group(0), _TITLES[m.group(m.lastindex)]), text)
    text = re.sub(r"\bSt\b\.?", _street_or_saint, text)
    text = re.sub(r"\bDr\b\.?", _doctor_or_drive, text)
    for pattern, words, can_end in _ABBREVIATIONS:
        text = pattern.sub(
            lambda m, w=words, e=can_end: _match_case(m.group(0), w) + (_period(m) if e else ""), text
        )
    return text


_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
_MONTH_ABBR = {m[:3]: m for m in _MONTHS} | {"Sept": "September"}
_MONTH_RE = "|".join(_MONTHS) + "|" + "|".join(rf"{a}\.?" for a in _MONTH_ABBR)


def _iso_date(m: re.Match[str]) -> str:
    year, month, day = (int(g) for g in m.groups())
    return f"{_MONTHS[month - 1]} {ordinal_words(day)}, {year_words(year)}"


def _month_day(m: re.Match[str]) -> str:
    month = m.group(1).rstrip(".")
    words = f"{_MONTH_ABBR.get(month, month)} {ordinal_words(int(m.group(2)))}"
    return words + (f", {year_words(int(m.group(3)))}" if m.group(3) else "")


def _phone(m: re.Match[str]) -> str:
    groups = re.findall(r"\+?\d+", m.group(0))
    return ", ".join(("plus " if g[0] == "+" else "") + digit_words(g) for g in groups)


def _phone_or_range(m: re.Match[str]) -> str:
    left, right = m.group(1), m.group(2)
    if int(left) % 100 == 0 and int(right) % 100 == 0:  # "200-1000 people" is a range, not a phone
        return f"{left} to {right}"
    return _phone(m)


def _time(m: re.Match[str]) -> str:
    hour, minute, second, meridiem = int(m["h"]), m["m"], m["s"], m["ampm"]
    words = number_words(hour)
    if minute == "00":
        if not (meridiem or second):
            words += " hundred" if hour > 12 else " o'clock"
    elif minute.startswith("0"):
        words += " oh " + _ONES[int(minute)]
    else:
        words += " " + number_words(int(minute))
    if second:
        words += f" and {number_words(int(second))} seconds"
    return words + _meridiem(m)


def _meridiem(m: re.Match[str]) -> str:
    if not m["ampm"]:
        return ""
    # "AM" is read as letters by espeak; "am" would be read as the verb.
    return " " + m["ampm"].upper() + "M" + _period(m)


_HOUR_AMPM = re.compile(r"(?<![\d:.])(?P<h>1[0-2]|0?[1-9])\s?(?P<ampm>[AaPp])\.?[Mm](?![A-Za-z])\.?")
_TIME = re.compile(
    r"(?<![\d:.])(?P<h>[01]?\d|2[0-4]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?(?![\d:])"
    r"(?:\s?(?P<ampm>[AaPp])\.?[Mm](?![A-Za-z])\.?)?"
)
_STREET_WORDS = ("Street|Avenue|Road|Lane|Drive|Boulevard|Way|Place|Court|Square|Terrace|Parkway|"
                 "Highway|Crescent|Close|St|Ave|Rd|Ln|Blvd")
# "221 Baker St.", "221B Baker Street": a number before a capitalized street name is read in pairs.
_HOUSE_NUMBER = re.compile(
    rf"(?<![\w.,$£€-])(\d{{3,4}})([A-Za-z]?)(?=(?:\s+[A-Z][a-z]+){{1,3}}\s+(?:{_STREET_WORDS})\b)"
)
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "", "")}
_SCALE_ABBR = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "b": "billion",
               "B": "billion", "bn": "billion"}
_MONEY = re.compile(
    r"(?P<sign>(?<![\w)\]])-)?(?P<cur>[$£€¥])\s?(?P<num>\d(?:[\d,]*\d)?(?:\.\d+)?|\.\d+)"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion)\b|(?P<abbr>bn|[kKmMbB])(?!\w))?"
)


def _money(m: re.Match[str]) -> str:
    one, many, minor_one, minor_many = _CURRENCIES[m["cur"]]
    whole, _, frac = m["num"].replace(",", "").partition(".")
    scale = m["scale"] or _SCALE_ABBR.get(m["abbr"] or "")
    sign = "minus " if m["sign"] else ""
    if scale or len(frac) > 2 or (frac and not minor_many):
        amount = _decimal_words(whole, frac) if frac else number_words(int(whole))
        return f"{sign}{amount} {scale + ' ' if scale else ''}{many}"
    units, cents = int(whole or "0"), int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if units or not cents:
        parts.append(f"{number_words(units)} {one if units == 1 else many}")
    if cents:
        parts.append(f"{number_words(cents)} {minor_one if cents == 1 else minor_many}")
    return sign + " ".join(parts)


def _decade(m: re.Match[str]) -> str:
    digits = m.group(1)
    return _plural_last(year_words(int(digits)) if len(digits) == 4 else number_words(int(digits)))


_FRACTIONS = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def _fraction(m: re.Match[str]) -> str:
    numerator, denominator = int(m.group(1)), int(m.group(2))
    if not (0 < numerator < denominator <= 10):  # "12/25" may be a date: left to the number pass
        return m.group(0)
    one, many = _FRACTIONS.get(denominator, (ordinal_words(denominator), ordinal_words(denominator) + "s"))
    return f"{number_words(numerator)} {one if numerator == 1 else many}"


# unit → (singular, plural), matched case-sensitively right after a number.
_UNITS = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "l": ("liter", "liters"), "L": ("liter", "liters"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"), "h": ("hour", "hours"), "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"), "min": ("minute", "minutes"), "mins": ("minute", "minutes"),
    "s": ("second", "seconds"), "sec": ("second", "seconds"), "ms": ("millisecond", "milliseconds"),
    "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"), "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "°": ("degree", "degrees"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"), "%": ("percent", "percent"),
}
_UNIT_ALTERNATION = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_NUMBER = re.compile(
    r"(?P<sign>(?<![\w)\]])-)?(?<!\d)(?P<num>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
    rf"(?:\s?(?P<unit>{_UNIT_ALTERNATION})(?![\w/]))?"
)
# A bare 1100-2099 is a year after these words, or when no lowercase word follows it.
_YEAR_CUES = frozenset((
    "in", "since", "by", "from", "until", "till", "of", "year", "circa", "before", "after",
    "around", "during", "early", "late", "mid", "the", "between", "to", "and", "through", "spring",
    "summer", "autumn", "fall", "winter",
)) | {m.lower() for m in _MONTHS}
_YEAR_FOLLOWERS = frozenset((
    "was", "is", "saw", "marked", "brought", "began", "ended", "and", "to", "or", "through",
    "when", "until", "onwards",
))


def _looks_like_year(m: re.Match[str]) -> bool:
    before, _ = _neighbours(m)
    if before.lower().strip(",") in _YEAR_CUES:
        return True
    follower = re.match(r"\s+([a-z]+)", m.string[m.end():m.end() + 20])
    return follower is None or follower.group(1) in _YEAR_FOLLOWERS


def _number(m: re.Match[str]) -> str:
    num, unit = m["num"], m["unit"]
    whole, _, frac = num.partition(".")
    digits = whole.replace(",", "")
    if frac:
        words = _decimal_words(whole, frac)
    elif "," in whole:
        words = number_words(int(digits))
    elif digits.startswith("0") and len(digits) > 1 or len(digits) >= 7 and not digits.endswith("000"):
        words = digit_words(digits)  # codes, accounts, phone and serial numbers
    elif unit is None and len(digits) == 4 and 1100 <= int(digits) <= 2099 and _looks_like_year(m):
        words = year_words(int(digits))
    else:
        words = number_words(int(digits))
    if m["sign"]:
        words = "minus " + words
    if unit:
        singular, plural = _UNITS[unit]
        words += " " + (singular if num == "1" else plural)
    # Keep numbers glued to letters apart as words: "MP3" → "MP three".
    start, end, text = m.start(), m.end(), m.string
    left = " " if start and text[start - 1].isalnum() else ""
    right = " " if end < len(text) and text[end].isalnum() else ""
    return left + words + right


_SYMBOLS = {"&": " and ", "+": " plus ", "@": " at ", "=": " equals ", "×": " times ", "%": " percent ",
            "°": " degrees "}

# (pattern, replacement) in the order they run, after the abbreviations.
_PASSES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"(?<![\w-])(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?![\w-])"), _iso_date),
    (re.compile(rf"\b({_MONTH_RE}) (\d{{1,2}})(?:st|nd|rd|th)?(?:,? (\d{{4}}))?(?![\d:\w])"), _month_day),
    (re.compile(r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}-\d{4}(?![\w-])"), _phone),
    (re.compile(r"(?<![\w.])\d{3}([ .])\d{3}\1\d{4}(?![\w.])"), _phone),
    (re.compile(r"(?<![\w.-])\d+(?:-\d+){2,}(?![\w-])"), _phone),
    (re.compile(r"(?<![\w.,-])(\d{3})-(\d{4})(?![\w-]|\.\d)"), _phone_or_range),
    # Ranges once phone numbers and dates are gone: "10-20", "1939–45", "$10-$20", "9:00-17:00".
    (re.compile(r"(?<=\d)(?:-|\s?–\s?)(?=[$£€]?\.?\d)"), " to "),
    (_TIME, _time),
    (_HOUR_AMPM, lambda m: number_words(int(m["h"])) + _meridiem(m)),
    (_HOUSE_NUMBER, lambda m: year_words(int(m.group(1))) + (" " + m.group(2).upper() if m.group(2) else "")),
    (_MONEY, _money),
    (re.compile(r"(?<![\w.'])'?((?:\d\d)?\d0)'?s\b"), _decade),
    (re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:st|nd|rd|th)\b"),
     lambda m: ordinal_words(int(m.group(1).replace(",", "")))),
    (re.compile(r"(?<![\w/⁄])(\d+)[/⁄](\d+)(?![\w/⁄])"), _fraction),
    (_NUMBER, _number),
    (re.compile("[" + re.escape("".join(_SYMBOLS)) + "]"), lambda m: _SYMBOLS[m.group(0)]),
)
_PUNCTUATION_TRANSLATION = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "−": "-"})


def normalize_text(text: str) -> str:
    """Written English → speakable words, keeping case and sentence punctuation.

    "The rent is $1,200." → "The rent is one thousand two hundred dollars."
    Words already spelled out are left as they are; whitespace is collapsed.
    """
    text = unicodedata.normalize("NFKC", text).translate(_PUNCTUATION_TRANSLATION)
    text = _expand_abbreviations(text)
    for pattern, replacement in _PASSES:
        text = pattern.sub(replacement, text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    return " ".join(text.split())
