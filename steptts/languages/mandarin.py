"""The Mandarin frontend: :func:`normalize` (in :mod:`steptts.languages.mandarin_norm`), :func:`split`
and the grapheme-to-phoneme :func:`phonemize`: normalized Han text → IPA in the Kokoro-82M / misaki zh
inventory.

G2P steps, each through a maintained library:

1. words and parts of speech: jieba's ``posseg`` (polyphones are resolved by word: 银行 / 行走);
2. citation pinyin per word: pypinyin (``TONE3``, neutral tone written 5), with 一 and 不 set back to
   their citation tones (pypinyin's phrase table writes some of them already changed);
3. tone changes: misaki's ``ToneSandhi`` (PaddleSpeech's rules): neutral tones (particles, suffixes,
   reduplication, a word list), 不 (bu2 before a fourth tone), 一 (yi2 before a fourth tone, yi4 before
   the others, yi1 in numbers and ordinals) and the third tone (3-3 → 2-3 within a prosodic word);
   then 一 stays yi1 next to a numeral and before 月 (dates: 十一月, 一月);
4. erhua: a word ending in a neutral 儿 that is not a noun of its own (女儿, 婴儿) loses the 儿
   syllable and its previous syllable takes an ``ɻ`` coda (its ``n`` or ``i`` coda dropped);
5. IPA: misaki's ``pinyin_to_ipa`` and its tone arrows, exactly what Kokoro-82M was trained on:
   tone 1 ``→``, 2 ``↗``, 3 ``↓``, 4 ``↘``, neutral none, the arrow after the syllable's nucleus.

Words are separated by a space, as misaki does; full-width punctuation becomes the ASCII mark and a
space. The heavy imports (jieba loads its dictionary in about a second) happen on first use.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ..sentences import split_sentences
from .mandarin_norm import normalize

__all__ = ["Word", "han_phonemize", "load", "normalize", "phonemize", "pinyin_phonemes", "split", "syllable_ipa",
           "words"]

HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHARACTER = re.compile(f"[{HAN}]")


def has_han(text: str) -> bool:
    """True when ``text`` holds a Han character: the one test of "this is Mandarin text" outside runs."""
    return _HAN_CHARACTER.search(text) is not None
"""Unicode ranges of Han characters read as Mandarin (CJK unified, extension A, compatibility)."""
PUNCTUATION = frozenset(";:,.!?—…\"()“” ")
"""Symbols of Kokoro's vocabulary that are not phonemes; kept in the phoneme string as they are."""
TONE_ARROWS = {"1": "→", "2": "↗", "3": "↓", "4": "↘", "5": ""}
"""Tone number (pinyin ``TONE3``) → the arrow misaki writes after the nucleus; 5 is the neutral tone."""
NUMERALS = frozenset("零〇一二两三四五六七八九十百千万亿")
"""Characters that make a neighbouring 一 a digit (yi1): 十一, 一二零三, 二零二一."""
ARITHMETIC = frozenset("加减乘除")
"""Operators (as the normalizer writes them) that make a neighbouring 一 a number: 一加一, 一减一."""
EQUALS = "等于"
"""The normalizer's "=": a 一 after it (等于一) or before its 等 (一等于) is a number. 等 alone is the
verb "wait" before 一 (等一下: yi2) and the ordinal "class" after it (一等奖: yi1)."""
NOT_ERHUA = frozenset({"女儿", "儿女", "婴儿", "幼儿", "孤儿", "男儿", "少儿", "患儿", "健儿", "婴幼儿", "胎儿",
                       "孙儿", "侄儿", "宠儿", "混血儿", "寄生儿", "新生儿", "产儿", "早产儿"})
"""Words ending in 儿 where 儿 is a syllable of its own ("child"), not the erhua suffix."""

_LOCK = threading.Lock()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Word:
    """One segmented word of Mandarin text and its pinyin."""

    text: str
    """The word's Han characters."""
    pinyin: tuple[str, ...]
    """One ``TONE3`` syllable per spoken syllable (``hao3``, ``le5``); an erhua syllable ends in ``r``
    before its tone (``wanr2``) and stands for two characters."""


DE2_WORDS = frozenset({"获得", "取得", "赢得", "博得", "习得", "心得", "难得", "所得", "应得", "不得", "自得",
                       "求得", "得到", "得失", "得意", "得分", "得体", "得力", "得罪"})
"""Words where 得 keeps its full reading de2; after the first character it is otherwise the particle."""


@functools.lru_cache(maxsize=1)
def _tools():
    """jieba's part-of-speech cutter, misaki's tone sandhi and IPA, and pypinyin, imported on first use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jieba 0.42 imports pkg_resources, deprecated in setuptools
        import jieba
        import jieba.posseg
        from misaki.tone_sandhi import ToneSandhi
        from misaki.zh import ZHG2P
        from pypinyin import Style, lazy_pinyin
        from pypinyin.constants import PINYIN_DICT

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    to_pinyin = functools.partial(lazy_pinyin, style=Style.TONE3, neutral_tone_with_five=True)
    return jieba.posseg, ToneSandhi(), to_pinyin, ZHG2P, PINYIN_DICT


def _citation(word: str, pos: str, to_pinyin) -> list[str]:
    """Citation-tone ``TONE3`` syllables of ``word``, one per character."""
    syllables = to_pinyin(word)
    for index, char in enumerate(word):
        if char == "嗯":  # pypinyin has no initial-less, final-less syllable: 嗯 is the syllabic n
            syllables[index] = "n2"
        elif char == "一" and not syllables[index].endswith("5"):
            syllables[index] = "yi1"
        elif char == "不" and not syllables[index].endswith("5"):
            syllables[index] = "bu4"
        elif char == "地" and word == "地" and pos == "uv":  # the adverbial particle: 慢慢地
            syllables[index] = "de5"
        elif char == "得" and _particle_de(word, pos, index):
            syllables[index] = "de5"  # the complement particle: 说得很好, 跑得快, 觉得
    return syllables


def _particle_de(word: str, pos: str, index: int) -> bool:
    """Whether the 得 at ``index`` of ``word`` is the particle de5 rather than the verb de2 (得到, 获得)."""
    if word == "得":
        return pos == "ud"
    return index > 0 and word not in DE2_WORDS and word[index - 1:index + 1] not in DE2_WORDS


def _keep_full_de(word: str, syllables: list[str], citation: list[str]) -> list[str]:
    """The verb 得 (获得, 得到) stays de2 and the noun 地 (草地, 各地) di4: the neutral-tone rule for a
    final 得 or 地 is the particles'."""
    for index, char in enumerate(word):
        if char in "得地" and len(word) > 1 and citation[index] in ("de2", "di4"):
            syllables[index] = citation[index]
    return syllables


def _keep_numeral_yi(text: str, syllables: list[str], citation: list[str]) -> None:
    """一 read as a digit keeps tone 1 (in place): next to a numeral, after 第, or in a date (一月, 月一日)."""
    for index, char in enumerate(text):
        if char != "一":
            continue
        before = text[index - 1] if index else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        if (before in NUMERALS or before == "第" or after in NUMERALS or after == "月"
                or before in ARITHMETIC or after in ARITHMETIC
                or text[max(0, index - 2):index] == EQUALS or after == EQUALS[0]
                or (before == "月" and after in "日号")):
            syllables[index] = citation[index]


def _erhua(word: str, pos: str, syllables: list[str]) -> list[str]:
    """A final 儿 suffix merged into the syllable before it (玩儿 → ``wanr2``)."""
    if (len(word) < 2 or len(syllables) != len(word) or word[-1] != "儿" or word in NOT_ERHUA
            or word[-2:] in NOT_ERHUA or pos in {"a", "j", "nr"} or syllables[-1] not in {"er2", "er5"}):
        return syllables
    previous = syllables[-2]
    return [*syllables[:-2], previous[:-1] + "r" + previous[-1]]


def words(text: str, sandhi: bool = True) -> list[Word]:
    """Han words of ``text`` (a run of Han characters, no punctuation) with their pinyin.

    With ``sandhi=False`` the pinyin is the citation form (neutral tones kept, tone changes of 一, 不
    and the third tone not applied): what dictionaries and ``hsk_sentences.tsv`` write.
    """
    posseg, tone_sandhi, to_pinyin, _, readings = _tools()
    unreadable = [char for char in text if ord(char) not in readings]
    if unreadable:  # rare characters pypinyin has no reading for: the unspeakable-character policy
        log.warning("no Mandarin reading for %s: dropped", " ".join(dict.fromkeys(unreadable)))
        text = "".join(char for char in text if ord(char) in readings)
    if not text:
        return []
    with _LOCK:  # jieba's segmenters (posseg here, cut_for_search inside the sandhi) share caches
        segments = tone_sandhi.pre_merge_for_modify([(pair.word, pair.flag) for pair in posseg.lcut(text)])
        citations = [_citation(word, pos, to_pinyin) for word, pos in segments]
        if not sandhi:
            return [Word(word, tuple(_keep_full_de(word, tone_sandhi._neural_sandhi(word, pos, list(citation)),
                                                   citation)))
                    for (word, pos), citation in zip(segments, citations)]
        changed = [_keep_full_de(word, tone_sandhi.modified_tone(word, pos, list(citation)), citation)
                   for (word, pos), citation in zip(segments, citations)]
    flat_changed = [syllable for syllables in changed for syllable in syllables]
    flat_citation = [syllable for syllables in citations for syllable in syllables]
    if len(flat_changed) == len(text):
        _keep_numeral_yi(text, flat_changed, flat_citation)
    result, start = [], 0
    for word, pos in segments:
        syllables = flat_changed[start:start + len(word)]
        start += len(word)
        result.append(Word(word, tuple(_erhua(word, pos, syllables))))
    return result


@functools.lru_cache(maxsize=4096)
def syllable_ipa(syllable: str) -> str:
    """IPA of one ``TONE3`` syllable in misaki's inventory: ``hao3`` → ``xau↓``, ``wanr2`` → ``wa↗ɻ``."""
    zh_g2p = _tools()[3]
    erhua = len(syllable) > 2 and syllable[-2] == "r" and syllable[:-2] not in {"e", ""}
    base = syllable[:-2] + syllable[-1] if erhua else syllable
    ipa = zh_g2p.py2ipa(base).replace(chr(815), "")  # misaki drops the non-syllabic mark as well
    if not erhua:
        return ipa
    arrow = TONE_ARROWS[syllable[-1]]
    head, _, coda = ipa.rpartition(arrow) if arrow else (ipa, "", "")
    if arrow and coda == "n":
        return head + arrow + "ɻ"
    if arrow and not coda and head.endswith(("ai", "ei", "wei")):
        return head[:-1] + arrow + "ɻ"
    return ipa + "ɻ"


def pinyin_phonemes(pinyin: str) -> str:
    """Phonemes of numbered pinyin (a lexicon entry, SSML ``<phoneme alphabet="pinyin">``):
    ``chong2 qing4`` → ``ꭧʰʊ↗ŋʨʰi↘ŋ``. Raises ``ValueError`` for a syllable that is not pinyin."""
    syllables = re.findall(r"[a-zü]+[1-5]", pinyin.lower())
    if not syllables or re.sub(r"[a-zü]+[1-5]|[\s'-]", "", pinyin.lower()):
        raise ValueError(f"not numbered pinyin: {pinyin!r}")
    return "".join(syllable_ipa(s.replace("ü", "v")) for s in syllables)


def _punctuation(text: str) -> str:
    """Full-width punctuation as misaki writes it (ASCII mark then a space), whitespace collapsed."""
    return " ".join(_tools()[3].map_punctuation(text).split())


def load() -> None:
    """Import the Chinese libraries and load jieba's dictionary now (seconds), not on the first sentence."""
    _tools()
    normalize("1")


def split(text: str) -> list[str]:
    """Sentences of Mandarin text, cut after ``。！？`` (and ``. ! ?``); a long one at ``，；：、``."""
    return split_sentences(text)


def phonemize(text: str, variant: str | None = None) -> str:
    """Phonemes of normalized Mandarin text (Han characters and punctuation), for a voice or a teacher.

    ``你好，世界。`` → ``ni↗xau↓, ʂɨ↘ʨje↘.``. Raises ``ValueError`` naming any character that is
    neither Han nor punctuation: digits, Latin and symbols are the normalizer's job, never guessed here.
    ``variant`` is ignored (one accent).
    """
    return han_phonemize(text, _word_phonemes)


def _word_phonemes(run: str) -> list[str]:
    """Phonemes of each word of a run of Han characters."""
    return ["".join(syllable_ipa(s) for s in word.pinyin) for word in words(run)]


def han_phonemize(text: str, word_phonemes: Callable[[str], list[str]]) -> str:
    """Phonemes of normalized Han text: each run of Han characters by ``word_phonemes`` (run → phonemes
    per word, joined by spaces), punctuation as misaki writes it; a dialect's rules (四川话) reuse it."""
    text = _punctuation(text)
    pieces = re.findall(f"[{HAN}]+|[^{HAN}]+", text)
    out = []
    for piece in pieces:
        if re.match(f"[{HAN}]", piece):
            out.append(" ".join(word_phonemes(piece)))
            continue
        strange = sorted(set(piece) - PUNCTUATION)
        if strange:
            raise ValueError(f"not normalized Mandarin: {''.join(strange)!r} in {text[:40]!r}")
        out.append(piece)
    return "".join(out).strip()
