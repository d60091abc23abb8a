"""Mandarin text normalization: written forms (digits, symbols, units, Traditional characters) → the
Han characters a reader says.

``normalize`` runs fixed passes, the most specific first, as the English normalizer does:

1. Traditional → Simplified (OpenCC ``t2s``); full-width digits, Latin letters and number symbols
   (``１２：３０``, ``％``, ``￥``) → ASCII; thousands separators dropped (``4,999``);
2. dates: ``2024年5月3日`` → 二零二四年五月三日 (the year digit by digit), ``2024-05-03`` and
   ``2024/5/3`` the same;
3. times and scores: ``9:30`` → 九点三十分, ``2:05`` → 两点零五分, ``3:2`` → 三比二 (a score when the
   second part is not two digits, or after 比分/比例/比);
4. digit strings read digit by digit: phone numbers (138-1234-5678, 010-12345678), after
   号/号码/电话/房间/编号…, with a leading 0, 11 digits and more, or 7 and more that do not look like a
   quantity (1203 → 一二零三; 1000000 → 一百万);
5. money (``¥4,999`` → 四千九百九十九元, ``$5`` → 五美元), percent (百分之…), fractions (1/3 →
   三分之一), temperatures (``-5℃`` → 零下五摄氏度), ranges (3-5天 → 三到五天), negatives (负…),
   units (公里, ``kg`` → 公斤, ``km/h`` → 公里每小时, ``℃`` → 摄氏度);
6. the remaining numbers: cardinals and decimals through cn2an (二 becomes 两 before a measure word:
   2个 → 两个), ordinals (第3 → 第三) follow.

Chinese punctuation is kept; what is left that Mandarin cannot speak (Latin letters, emoji, stray
symbols) is the caller's: :func:`steptts.languages.runs.split_runs` gives Latin text to English, and
:mod:`steptts.languages.base` drops the rest under its documented policy.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings

_FULL_WIDTH = {chr(code): chr(code - 0xFEE0) for code in range(0xFF10, 0xFF1A)}  # ０-９
_FULL_WIDTH |= {chr(code): chr(code - 0xFEE0) for code in (*range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}
_FULL_WIDTH |= {"％": "%", "＋": "+", "－": "-", "．": ".", "／": "/", "＄": "$", "￥": "¥", "＃": "#",
                "～": "~"}
_FULL_WIDTH_TABLE = str.maketrans(_FULL_WIDTH)

MEASURE_WORDS = "个只本张条位件次天种台辆名家岁斤块元毛角分秒点小时周层棵杯瓶双对套把首节场部所间门架匹头"
"""Measure words before which the number 2 is read 两 (两个, 两点, 两岁)."""
DIGIT_CUES = ("号码", "电话", "手机", "房间", "编号", "车次", "航班", "邮编", "密码", "尾号", "工号", "学号",
              "账号", "卡号", "门牌", "房号", "号是", "号为", "分机", "热线", "拨打", "致电", "验证码")
"""Words after which a number is read digit by digit (a phone, a room, an account)."""
UNITS = {
    "km/h": "公里每小时", "m/s": "米每秒", "km²": "平方公里", "m²": "平方米", "㎡": "平方米", "m³": "立方米",
    "km": "公里", "kg": "公斤", "cm": "厘米", "mm": "毫米", "ml": "毫升", "mL": "毫升", "mg": "毫克",
    "GB": "G", "MB": "兆", "KB": "K", "kW": "千瓦", "kWh": "千瓦时", "mph": "英里每小时",
    "m": "米", "g": "克", "L": "升", "t": "吨", "h": "小时", "min": "分钟", "s": "秒",
    "℃": "摄氏度", "°C": "摄氏度", "℉": "华氏度", "°F": "华氏度", "°": "度",
}
"""Written unit after a number → what is said (longest match first)."""
CURRENCIES = {"¥": "元", "$": "美元", "US$": "美元", "€": "欧元", "£": "英镑", "HK$": "港元"}
"""Currency sign before a number → the word said after it."""

SYMBOLS = {"+": "加", "=": "等于", "×": "乘", "÷": "除以", "&": "和", "@": "艾特", "#": "井号", "№": "第",
           "~": "到", "～": "到"}
"""Signs said as words when they are left after the number passes."""
PUNCTUATION_MARKS = str.maketrans({"‘": "“", "’": "”", "'": "“", "『": "“", "』": "”", "〈": "“", "〉": "”",
                                   "·": " ", "・": " ", "-": " ", "_": " ", "/": " ", "\\": " ", "|": " ",
                                   "*": " ", "^": " ", "<": "“", ">": "”", "[": "(", "]": ")", "{": "(",
                                   "}": ")", "［": "(", "］": ")", "｛": "(", "｝": ")", "〔": "(", "〕": ")"})
"""Punctuation Mandarin has no reading for → the nearest mark of Kokoro's set (or a pause)."""
SPEAKABLE_MARKS = frozenset(";:,.!?—…\"()“” 、，。．！：；？«»《》「」【】（）")
"""Marks the G2P keeps (Kokoro's punctuation and the full-width forms misaki maps onto it)."""
HAN_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

log = logging.getLogger(__name__)

_NUMBER = r"\d+(?:\.\d+)?"
_DATE = re.compile(r"(?<!\d)(\d{4})\s*(?:年|[-/.](?=\d{1,2}[-/.]\d{1,2}(?!\d)))(?:\s*(\d{1,2})\s*(?:月|[-/.])"
                   r"(?:\s*(\d{1,2})(?![\d.])\s*([日号])?)?)?")
_PHONE = re.compile(r"(?<![\d-])(?:\+?86[- ]?)?(?:1\d{2}[- ]\d{4}[- ]\d{4}|0\d{2,3}-\d{7,8}|[48]00-\d{3}-\d{4})(?![\d-])")
_YEAR_RANGE = re.compile(r"(?<!\d)(\d{4})\s*[-~～–—至到]\s*(\d{4})\s*年")
_DASH_BETWEEN_NUMBERS = re.compile(r"(?<=[零一二三四五六七八九十百千万亿点分秒度两])\s*[-~～–—]\s*(?=[零一二三四五六七八九十百千万亿两负])")
_MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})月(?:(\d{1,2})([日号]))?")
_CLOCK = re.compile(r"(?<![\d:])(\d{1,2}):(\d{1,2})(?::(\d{2}))?(?![\d:])")
_SCORE_CUE = re.compile(r"(比分|比例|比率|比数|比)\s*$")
_DIGITS = re.compile(r"(?<![\d.])\d+(?![\d.])")
_CURRENCY = re.compile(r"(US\$|HK\$|[¥$€£])\s*(" + _NUMBER + r")(万|亿)?")
_PERCENT = re.compile(r"((?<![\d%‰])-)?(" + _NUMBER + r")\s*([%‰])")
_FRACTION = re.compile(r"(?<![\d/])(\d+)/(\d+)(?![\d/])")
_TEMPERATURE = re.compile(r"(?<![\d])-(" + _NUMBER + r")\s*(℃|°C|℉|°F|度)")
_RANGE = re.compile(r"(?<![\d.])(" + _NUMBER + r")\s*[-~～–—]\s*(" + _NUMBER + r")(?![\d.])")
_NEGATIVE = re.compile(r"(?<![\d\w])-(" + _NUMBER + r")")
_UNIT = re.compile(r"(" + _NUMBER + r")\s*(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
                   + r")(?![A-Za-z])")
_CARDINAL = re.compile(_NUMBER)


@functools.lru_cache(maxsize=1)
def _tools():
    """cn2an's number reader and OpenCC's Traditional → Simplified converter, imported on first use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import cn2an
        import opencc
    return cn2an.an2cn, opencc.OpenCC("t2s")


def digits(number: str) -> str:
    """A digit string read digit by digit: ``1203`` → 一二零三."""
    return "".join("零一二三四五六七八九"[int(d)] for d in number if d.isdigit())


def cardinal(number: str) -> str:
    """A cardinal or decimal number in characters: ``4999`` → 四千九百九十九, ``87.5`` → 八十七点五."""
    an2cn = _tools()[0]
    whole, _, fraction = number.partition(".")
    said = an2cn(whole.lstrip("0") or "0", "low")
    return said + ("点" + digits(fraction) if fraction else "")


def _count(number: str, following: str) -> str:
    """A cardinal, 两 instead of 二 for exactly 2 before a measure word."""
    if number == "2" and following[:1] and following[0] in MEASURE_WORDS:
        return "两"
    return cardinal(number)


def _date(match: re.Match[str]) -> str:
    year, month, day, day_word = match.groups()
    said = digits(year) + "年"
    if month:
        said += cardinal(month) + "月"
    if day:
        said += cardinal(day) + (day_word or "日")
    return said


def _month_day(match: re.Match[str]) -> str:
    month, day, day_word = match.groups()
    return cardinal(month) + "月" + (cardinal(day) + day_word if day else "")


def _clock(match: re.Match[str]) -> str:
    first, second, seconds = match.groups()
    before = match.string[max(0, match.start() - 3):match.start()]
    if _SCORE_CUE.search(before) or len(second) != 2 or int(first) > 24 or int(second) > 59:
        return cardinal(first) + "比" + cardinal(second)
    hour = "两" if first.lstrip("0") == "2" else cardinal(first)
    said = hour + "点"
    if int(second):
        said += ("零" if second.startswith("0") else "") + cardinal(second) + "分"
    if seconds is not None and int(seconds):
        said += cardinal(seconds) + "秒"
    return said


def _digit_string(match: re.Match[str]) -> str:
    number = match.group(0)
    before = match.string[max(0, match.start() - 4):match.start()]
    after = match.string[match.end():match.end() + 1]
    cued = any(before.endswith(cue) or cue in before for cue in DIGIT_CUES) or before.endswith("号")
    money = before.rstrip().endswith(tuple(CURRENCIES))
    quantity = number.endswith("000") or (after and after in MEASURE_WORDS + "万亿元%‰")
    long_id = len(number) >= 11 or (len(number) >= 7 and not money and not quantity)
    if cued or long_id or (len(number) > 1 and number.startswith("0")):
        return digits(number)
    return number


def _currency(match: re.Match[str]) -> str:
    sign, number, scale = match.groups()
    return cardinal(number) + (scale or "") + CURRENCIES[sign]


def _percent(match: re.Match[str]) -> str:
    minus, number, sign = match.groups()
    return ("负" if minus else "") + ("百分之" if sign == "%" else "千分之") + cardinal(number)


def _fraction(match: re.Match[str]) -> str:
    numerator, denominator = match.groups()
    return cardinal(denominator) + "分之" + cardinal(numerator)


def _temperature(match: re.Match[str]) -> str:
    number, unit = match.groups()
    return "零下" + cardinal(number) + UNITS.get(unit, unit)


def _range(match: re.Match[str]) -> str:
    low, high = match.groups()
    return cardinal(low) + "到" + _count(high, match.string[match.end():])


def _unit(match: re.Match[str]) -> str:
    number, unit = match.groups()
    word = UNITS[unit]
    return _count(number, word) + word


def _number(match: re.Match[str]) -> str:
    if match.string[max(0, match.start() - 1):match.start()] == "第":
        return cardinal(match.group(0))  # an ordinal: 第2部 → 第二部, never 第两部
    return _count(match.group(0), match.string[match.end():])


def to_simplified(text: str) -> str:
    """Traditional characters as Simplified (OpenCC ``t2s``): 會議 → 会议."""
    return _tools()[1].convert(text)


def normalize(text: str) -> str:
    """The Han characters said for Mandarin ``text``; Chinese punctuation kept, whitespace collapsed.

    ``会议定在2024年5月3日上午9:30开始。`` → ``会议定在二零二四年五月三日上午九点三十分开始。``
    """
    text = to_simplified(text).translate(_FULL_WIDTH_TABLE)
    text = re.sub(r"(?<=\d)：(?=\d)", ":", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    text = _PHONE.sub(lambda match: digits(match.group(0).removeprefix("+")), text)
    text = _YEAR_RANGE.sub(lambda match: digits(match.group(1)) + "年到" + digits(match.group(2)) + "年", text)
    text = _DATE.sub(_date, text)
    text = _MONTH_DAY.sub(_month_day, text)
    text = _CLOCK.sub(_clock, text)
    text = _DIGITS.sub(_digit_string, text)
    for pattern, say in ((_CURRENCY, _currency), (_PERCENT, _percent), (_FRACTION, _fraction),
                         (_TEMPERATURE, _temperature), (_RANGE, _range), (_UNIT, _unit)):
        text = pattern.sub(say, text)
    text = _NEGATIVE.sub(lambda match: "负" + cardinal(match.group(1)), text)
    text = _CARDINAL.sub(_number, text)
    text = _DASH_BETWEEN_NUMBERS.sub("到", text)  # ranges of times and percentages: 9:30-10:00
    text = "".join(SYMBOLS.get(char, char) for char in text).translate(PUNCTUATION_MARKS)
    return " ".join(_speakable(text).split())


def _speakable(text: str) -> str:
    """``text`` without what Mandarin cannot say (the policy of :mod:`steptts.languages.runs`)."""
    dropped = [char for char in text if not (HAN_CHAR.match(char) or char in SPEAKABLE_MARKS or char.isspace())]
    if not dropped:
        return text
    log.warning("Mandarin cannot say %s: dropped", " ".join(dict.fromkeys(dropped)))
    return "".join(" " if char in dropped else char for char in text)
