"""Mandarin G2P (steptts.languages.mandarin): polyphones by word, tone sandhi, erhua, misaki's IPA."""

from __future__ import annotations

import pytest

from steptts.languages import mandarin


def pinyin(text: str, sandhi: bool = True) -> list[str]:
    return [syllable for word in mandarin.words(text, sandhi=sandhi) for syllable in word.pinyin]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("银行", ["yin2", "hang2"]),
        ("行走", ["xing2", "zou3"]),
        ("长大", ["zhang3", "da4"]),
        ("长度", ["chang2", "du4"]),
        ("我们走了", ["wo3", "men5", "zou3", "le5"]),
        ("了解", ["liao2", "jie3"]),  # liao3 jie3, third-tone sandhi
        ("跑得快", ["pao3", "de5", "kuai4"]),
        ("得到", ["de2", "dao4"]),
        ("慢慢地走", ["man4", "man4", "de5", "zou3"]),
    ],
)
def test_polyphones_by_word(text: str, expected: list[str]) -> None:
    assert pinyin(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", ["ni2", "hao3"]),  # third tone before third tone
        ("展览馆", ["zhan2", "lan2", "guan3"]),
        ("不错", ["bu2", "cuo4"]),  # 不 before a fourth tone
        ("不好", ["bu4", "hao3"]),
        ("对不起", ["dui4", "bu5", "qi3"]),
        ("一样", ["yi2", "yang4"]),  # 一 before a fourth tone
        ("一天", ["yi4", "tian1"]),  # 一 before the other tones
        ("一年", ["yi4", "nian2"]),
        ("看一看", ["kan4", "yi5", "kan4"]),
        ("第一", ["di4", "yi1"]),  # ordinals, numbers and dates keep yi1
        ("十一月一日", ["shi2", "yi1", "yue4", "yi1", "ri4"]),
        ("一二零三", ["yi1", "er4", "ling2", "san1"]),
        ("请等一下", ["qing2", "deng3", "yi2", "xia4"]),  # 等 the verb: 一 changes as anywhere
        ("一加一等于二", ["yi1", "jia1", "yi1", "deng3", "yu2", "er4"]),  # arithmetic keeps yi1
        ("二减一等于一", ["er4", "jian3", "yi1", "deng3", "yu2", "yi1"]),
        ("一等奖", ["yi1", "deng3", "jiang3"]),  # the ordinal "first class"
    ],
)
def test_tone_sandhi(text: str, expected: list[str]) -> None:
    assert pinyin(text) == expected


def test_citation_tones_without_sandhi() -> None:
    assert pinyin("你好", sandhi=False) == ["ni3", "hao3"]
    assert pinyin("不错", sandhi=False) == ["bu4", "cuo4"]
    assert pinyin("一样", sandhi=False) == ["yi1", "yang4"]


def test_erhua_merges_into_the_syllable_before() -> None:
    assert pinyin("一点儿") == ["yi4", "dianr3"]
    assert pinyin("女儿") == ["nv3", "er2"]  # 儿 as "child" is a syllable of its own
    assert mandarin.phonemize("一点儿") == "i↘tjɛ↓ɻ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好，世界。", "ni↗xau↓, ʂɨ↘ʨje↘."),
        ("不错", "pu↗ʦʰwo↘"),
        ("银行行走", "i↗nxa↗ŋ ɕi↗ŋʦou↓"),
        ("我们走了！", "wo↓mən ʦou↓ lɤ!"),
    ],
)
def test_phonemes_in_misakis_inventory(text: str, expected: str) -> None:
    assert mandarin.phonemize(text) == expected


def test_phonemes_are_all_in_kokoros_vocabulary() -> None:
    kokoro_symbols = set(";:,.!?—…\"()“” ̃ʣʥʦʨᵝꭧAIOQSTWYᵊabcdefhijklmnopqrstuvwxyzɑɐɒæβɔɕçɖðʤəɚɛɜɟɡɥɨɪʝɯɰŋɳɲɴø"
                         "ɸθœɹɾɻʁɽʂʃʈʧʊʋʌɣɤχʎʒʔˈˌːʰʲ↓→↗↘ᵻ")
    text = "会议定在二零二四年五月三日上午九点三十分开始。我们出去玩儿吧，好不好？嗯，一会儿见。"
    assert set(mandarin.phonemize(text)) <= kokoro_symbols


def test_unnormalized_text_is_refused() -> None:
    with pytest.raises(ValueError, match="2024"):
        mandarin.phonemize("会议在2024年")


def test_phonemize_is_safe_across_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    lines = ["我们明天早上八点在学校门口集合。", "这家餐厅的饺子特别好吃。", "请问去火车站怎么走？",
             "外面下着大雨，出门记得带伞。", "一点儿也不错，你说得很好。"] * 4
    serial = [mandarin.phonemize(line) for line in lines]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(mandarin.phonemize, lines)) == serial
