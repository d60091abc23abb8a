"""SSML ``<say-as>``: a text read as characters, digits, a cardinal, an ordinal, a date, a time or a
telephone number, in English or Mandarin words (other languages get the English or digit reading).
"""

from __future__ import annotations

import re

from ..errors import TextError

KINDS = ("characters", "digits", "cardinal", "ordinal", "date", "time", "telephone")
"""The ``interpret-as`` values supported."""
DATE_FORMATS = ("ymd", "mdy", "dmy", "md", "dm", "ym", "my", "y", "m", "d")
"""``<say-as interpret-as="date" format>`` values: the order of year, month and day."""
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _number(text: str, kind: str) -> int:
    digits = re.sub(r"[,\s]", "", text)
    if not re.fullmatch(r"-?\d+", digits):
        raise TextError(f"SSML <say-as interpret-as='{kind}'>: '{text}' is not a whole number")
    return int(digits)


def _date_parts(text: str, date_format: str | None) -> dict[str, int]:
    date_format = (date_format or "ymd").lower()
    if date_format not in DATE_FORMATS:
        raise TextError(f"SSML <say-as interpret-as='date' format='{date_format}'>: "
                        f"expected one of {', '.join(DATE_FORMATS)}")
    numbers = re.findall(r"\d+", text)
    if len(numbers) != len(date_format):
        raise TextError(f"SSML <say-as interpret-as='date' format='{date_format}'>: '{text}' does not have "
                        f"{len(date_format)} numbers")
    parts = {field: int(number) for field, number in zip(date_format, numbers)}
    if not 1 <= parts.get("m", 1) <= 12 or not 1 <= parts.get("d", 1) <= 31:
        raise TextError(f"SSML <say-as interpret-as='date'>: '{text}' is not a date in the format {date_format}")
    return parts


def _english(kind: str, text: str, date_format: str | None) -> str:
    from ..textnorm import digit_words, number_words, ordinal_words, year_words

    if kind == "characters":
        return " ".join(digit_words(c) if c.isdigit() else c.upper() for c in text if not c.isspace())
    if kind == "digits":
        return digit_words(text)
    if kind == "cardinal":
        return number_words(_number(text, kind))
    if kind == "ordinal":
        return ordinal_words(_number(text, kind))
    if kind == "telephone":
        return ", ".join(digit_words(group) for group in re.findall(r"\d+", text))
    if kind == "time":
        return text.strip()  # "9:30", "9:30 pm": the English normalizer reads clock times
    parts = _date_parts(text, date_format)
    words = []
    if "m" in parts:
        words.append(_MONTHS[parts["m"] - 1])
    if "d" in parts:
        words.append(ordinal_words(parts["d"]))
    if "y" in parts:
        words.append(year_words(parts["y"]) if 100 <= parts["y"] <= 9999 else number_words(parts["y"]))
    return " ".join(words)


def _mandarin(kind: str, text: str, date_format: str | None) -> str:
    from .mandarin_norm import cardinal, digits, normalize

    if kind == "characters":
        return "".join(digits(c) if c.isdigit() else c for c in text if not c.isspace())
    if kind == "digits":
        return digits(text)
    if kind == "cardinal":
        number = _number(text, kind)
        return ("负" if number < 0 else "") + cardinal(str(abs(number)))
    if kind == "ordinal":
        return "第" + cardinal(str(_number(text, kind)))
    if kind == "telephone":
        return "，".join(digits(group) for group in re.findall(r"\d+", text))
    if kind == "time":
        return normalize(text.strip())
    parts = _date_parts(text, date_format)
    said = digits(str(parts["y"])) + "年" if "y" in parts else ""
    said += cardinal(str(parts["m"])) + "月" if "m" in parts else ""
    return said + (cardinal(str(parts["d"])) + "日" if "d" in parts else "")


def say(kind: str, text: str, code: str, date_format: str | None = None) -> str:
    """The words for ``text`` read as ``kind`` in language ``code`` (Mandarin for ``zh``, else English)."""
    if kind not in KINDS:
        raise TextError(f"SSML <say-as interpret-as='{kind}'> is not supported; supported: {', '.join(KINDS)}")
    return _mandarin(kind, text, date_format) if code == "zh" else _english(kind, text, date_format)
