"""Mandarin text normalization (steptts.languages.mandarin_norm): written forms → the characters said."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from steptts.languages.mandarin_norm import normalize

SHARED = Path(os.environ.get("STEPTTS_SHARED", Path(__file__).parents[2] / "shared"))
DEV_ZH_NORM = SHARED / "data" / "dev_zh_norm.tsv"


def said(text: str) -> str:
    """The spoken characters, punctuation and spaces removed (how the dev set writes them)."""
    return re.sub(r"[\s，。！？、；：,.!?;:“”\"()（）《》]", "", normalize(text))


def _rows() -> list[tuple[str, str]]:
    lines = DEV_ZH_NORM.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line.strip()]


@pytest.mark.parametrize(("written", "spoken"), _rows())
def test_dev_zh_norm(written: str, spoken: str) -> None:
    assert said(written) in spoken.split("|")


def test_dev_zh_norm_is_not_empty() -> None:
    assert len(_rows()) >= 8


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("会议定在2024年5月3日上午9:30开始。", "会议定在二零二四年五月三日上午九点三十分开始"),
        ("有42人", "有四十二人"),  # cardinals
        ("12345", "一万二千三百四十五"),
        ("3.14", "三点一四"),  # decimals
        ("涨了15%", "涨了百分之十五"),  # percent
        ("1/3的人", "三分之一的人"),  # fractions
        ("气温-5℃", "气温零下五摄氏度"),  # negatives and temperatures
        ("-3", "负三"),
        ("第1名", "第一名"),  # ordinals
        ("第2部", "第二部"),
        ("2024-05-03", "二零二四年五月三日"),  # dates
        ("2月14日", "二月十四日"),
        ("下午2:05", "下午两点零五分"),  # times
        ("7:00出发", "七点出发"),
        ("¥25", "二十五元"),  # currency
        ("100元", "一百元"),
        ("$5", "五美元"),
        ("电话13812345678", "电话一三八一二三四五六七八"),  # digit strings
        ("房间号是0817", "房间号是零八一七"),
        ("比分是3:2", "比分是三比二"),  # scores and ratios
        ("走了5公里", "走了五公里"),  # units
        ("重5kg", "重五公斤"),
        ("时速120km/h", "时速一百二十公里每小时"),
        ("3-5天", "三到五天"),  # ranges
        ("2个人", "两个人"),  # 两 before a measure word
        ("１２：３０", "十二点三十分"),  # full-width digits and colon
        ("會議在臺北舉行", "会议在台北举行"),  # Traditional input
        ("1+1=2", "一加一等于二"),
        ("手机号码是138-1234-5678", "手机号码是一三八一二三四五六七八"),  # phone numbers
        ("请拨打010-12345678", "请拨打零一零一二三四五六七八"),
        ("人口1000000", "人口一百万"),  # a round number is a quantity
        ("9:30-10:00", "九点三十分到十点"),  # ranges of times, percentages and years
        ("10%-20%", "百分之十到百分之二十"),
        ("2020-2024年", "二零二零年到二零二四年"),
        ("$1,299.99", "一千二百九十九点九九美元"),
    ],
)
def test_normalization_classes(written: str, expected: str) -> None:
    assert said(written) == expected


def test_punctuation_is_kept_and_unspeakable_marks_dropped(caplog: pytest.LogCaptureFixture) -> None:
    assert normalize("你好，世界！") == "你好，世界！"
    assert normalize("他说‘好’") == "他说“好”"
    assert normalize("好※的") == "好 的"
    assert "cannot say ※" in caplog.text
