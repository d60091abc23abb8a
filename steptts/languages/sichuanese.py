"""四川话 (Sichuanese, Chengdu speech) as a rule set on top of the Mandarin G2P, in Kokoro's zh symbols.

Sichuanese is a Southwestern Mandarin dialect: its words are Mandarin's, written with the same
characters, and its sounds differ from Mandarin's by regular correspondences. So the frontend is
:mod:`steptts.languages.mandarin`'s (normalizer, sentence splitter, jieba words and pypinyin readings,
in *citation* tones: Mandarin's tone sandhi is Mandarin's, not Sichuanese), followed by these rules.
The phonemes stay in the Kokoro-82M / misaki zh inventory, so a Mandarin voice can read them.

**Tones.** The four tone categories keep their names, their values change (Chengdu, as in the
dialect surveys): 阴平 55, 阳平 21, 上声 53, 去声 213, and the neutral tone stays neutral. Kokoro's
four arrows are Mandarin's contours (→ 55, ↗ 35, ↓ 214 / half-third 21, ↘ 51); each category takes the
arrow whose contour is nearest, one arrow per category so the four stay apart (:data:`TONE_ARROWS`):

- 阴平 55 → ``→`` (55: the same level);
- 阳平 21 → ``↓`` (Mandarin's third tone, said 21 wherever it is not final: a low fall);
- 上声 53 → ``↘`` (51: a fall from the top; Sichuanese stops higher);
- 去声 213 → ``↗`` (35: the only other arrow ending in a rise; 213 dips first). The nearest contour,
  ``↓`` 214, is taken by 阳平; the data engine's tone edit (:mod:`distill.tone_edit`) pulls the F0
  of each syllable onto the Sichuanese values where the teacher strays.

**入声 → 阳平.** Syllables of the Middle Chinese entering tone (checked syllables) are all 阳平 in
Chengdu: 吃 ci21, 一 yi21, 六 niu21, 不 bu21. Mandarin spread them over its four tones; Cantonese kept
their stop codas, so a character whose Cantonese reading (``ToJyutping``, a maintained library) ends in
``-p``, ``-t`` or ``-k`` is an entering-tone syllable and takes 阳平 (a neutral tone stays neutral).

**Sounds** (:data:`RULES`, in order; each is a substitution on a syllable's Mandarin IPA):

1. zh, ch, sh → z, c, s (平翘舌不分): 吃 ``ꭧʰɨ`` → ``ʦʰɨ``, 是 ``ʂɨ`` → ``sɨ``, 中 ``ꭧʊŋ`` → ``ʦʊŋ``;
2. r → [z]: 人 ``ɻən`` → ``zən``, 日 ``ɻɨ`` → ``zɨ``;
3. n and l merged, said [n] (泥来不分): 老 ``lau`` → ``nau``, 六 ``ljou`` → ``njou``. [n] rather than
   [l] because the Chengdu surveys write the merged initial /n/ (its [l] is a free variant), and
   Kokoro says both well;
4. -eng after a labial → -ong: 风 ``fəŋ`` → ``fʊŋ``, 朋 ``pʰəŋ`` → ``pʰʊŋ``, 梦 ``məŋ`` → ``mʊŋ``,
   翁 ``wəŋ`` → ``wʊŋ``;
5. -ing, -eng → -in, -en (前后鼻音不分): 明 ``miŋ`` → ``min``, 冷 ``ləŋ`` → ``nən``, 生 ``ʂəŋ`` → ``sən``;
6. hu → fu: 湖 ``xu`` → ``fu``, 虎 ``xu`` → ``fu`` (only the syllable hu: 花 hua stays);
7. ge, ke, he → go, ko, ho: 哥 ``kɤ`` → ``ko``, 河 ``xɤ`` → ``xo``;
8. -uo after a consonant → -o: 多 ``two`` → ``to``, 说 ``ʂwo`` → ``so``, 过 ``kwo`` → ``ko``;
9. a velar nasal before open zero-initial syllables (a-, o-, e-, en-, ou-…): 爱 ``ai`` → ``ŋai``,
   安 ``an`` → ``ŋan``, 饿 ``ɤ`` → ``ŋo`` (with rule 7's vowel).

Lexical readings (街 gai, 去 qie, 解 gai) are the lexicon's job, not rules.
"""

from __future__ import annotations

import functools
import re

from . import mandarin
from .mandarin import load, normalize, split

__all__ = ["RULES", "TONE_ARROWS", "entering", "load", "normalize", "phonemize", "sichuanese_syllable", "split",
           "syllables"]

TONE_ARROWS = {"1": "→", "2": "↓", "3": "↘", "4": "↗", "5": ""}
"""Tone category (pinyin ``TONE3`` number: 1 阴平, 2 阳平, 3 上声, 4 去声, 5 neutral) → Kokoro's arrow
for its Sichuanese value (module docstring)."""
ENTERING_CODAS = ("p", "t", "k")
"""Jyutping codas of an entering-tone (入声) syllable."""
_ARROW = "[→↗↓↘]?"
RULES: tuple[tuple[str, str, str], ...] = (
    ("zh ch sh → z c s", r"^ꭧ", "ʦ"),
    ("zh ch sh → z c s", r"^ʂ", "s"),
    ("r → z", r"^ɻ", "z"),
    ("n l → n", r"^l", "n"),
    ("-eng after a labial → -ong", rf"^(pʰ|p|m|f|w)ə({_ARROW})ŋ", r"\1ʊ\2ŋ"),
    ("-ing → -in", rf"i({_ARROW})ŋ$", r"i\1n"),
    ("-eng → -en", rf"ə({_ARROW})ŋ$", r"ə\1n"),
    ("hu → fu", rf"^xu({_ARROW})$", r"fu\1"),
    ("ge ke he → go ko ho", r"^(kʰ|k|x)ɤ", r"\1o"),
    ("-uo → -o", r"^(ʦʰ|ʦ|ʨʰ|ʨ|kʰ|k|pʰ|p|tʰ|t|[mnfsxzɕ])wo", r"\1o"),
    ("ŋ before open zero-initial syllables", r"^ɤ", "ŋo"),
    ("ŋ before open zero-initial syllables", r"^([aɔə]|ou)", r"ŋ\1"),
)
"""(rule, pattern, replacement) applied in order to the Mandarin IPA of one syllable (re.sub, once)."""


@functools.lru_cache(maxsize=1)
def _jyutping():
    """ToJyutping's character → Jyutping lookup, imported on first use."""
    import ToJyutping

    return ToJyutping.get_jyutping_list


def entering(run: str) -> list[bool]:
    """Per character of a run of Han characters: whether it is an entering-tone (入声) syllable."""
    readings = _jyutping()(run)
    if len(readings) != len(run):  # ToJyutping reads one character at a time; anything else is a bug
        raise ValueError(f"ToJyutping gave {len(readings)} readings for {len(run)} characters of {run!r}")
    return [bool(jyutping) and jyutping.rstrip("123456").endswith(ENTERING_CODAS) for _, jyutping in readings]


@functools.lru_cache(maxsize=4096)
def sichuanese_syllable(pinyin: str, checked: bool = False) -> tuple[str, str]:
    """(tone category, IPA) of a citation-tone Mandarin ``TONE3`` syllable said in Sichuanese.

    ``chi1`` with ``checked`` (吃, an entering-tone syllable) → ``("2", "ʦʰɨ↓")``;
    ``leng3`` → ``("3", "nə↘n")``.
    """
    tone = pinyin[-1]
    if checked and tone != "5":
        tone = "2"
    ipa = mandarin.syllable_ipa(pinyin[:-1] + tone)
    mandarin_arrow = mandarin.TONE_ARROWS[tone]
    if mandarin_arrow:
        ipa = ipa.replace(mandarin_arrow, TONE_ARROWS[tone], 1)
    for _, pattern, replacement in RULES:
        ipa = re.sub(pattern, replacement, ipa, count=1)
    return tone, ipa


def syllables(run: str) -> list[list[tuple[str, str]]]:
    """Per word of a run of Han characters: its syllables' (tone category, IPA), in order."""
    words = mandarin.words(run, sandhi=False)  # characters without a reading are dropped there
    checked = entering("".join(word.text for word in words))
    out, start = [], 0
    for word in words:
        flags = checked[start:start + len(word.text)]  # an erhua syllable is its first character's
        out.append([sichuanese_syllable(pinyin, flag) for pinyin, flag in zip(word.pinyin, flags)])
        start += len(word.text)
    return out


def _word_phonemes(run: str) -> list[str]:
    return ["".join(ipa for _, ipa in word) for word in syllables(run)]


def phonemize(text: str, variant: str | None = None) -> str:
    """Phonemes of normalized Mandarin text said in Sichuanese: ``你吃饭了没有`` → ``ni↘ ʦʰɨ↓ fa↗n …``.

    Raises ``ValueError`` as :func:`steptts.languages.mandarin.phonemize` does. ``variant`` is ignored.
    """
    return mandarin.han_phonemize(text, _word_phonemes)
