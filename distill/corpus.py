"""Text corpora for a teacher to read.

Reads plain text (one utterance a line) or TSV (``id<TAB>text``, e.g. LJ Speech's and ARCTIC's
transcripts; further columns are ignored and a header row starting with ``id`` is skipped, as in
``hsk_sentences.tsv``), normalizes each line with the runtime's own frontend (so the student learns
the spoken form it will see at run time: Mandarin lines, those holding a Han character, cut into
language runs and each run normalized by its language, as :func:`steptts.frontend.speak` does:
``我有3个iPhone`` → ``我有三个 iPhone``), drops duplicates of the spoken form and lines out of the
length range, and keeps file then line order: the same files give the same corpus. Only what no
language can say is dropped (the runtime's unspeakable-character policy). Development files
(``dev_*``) never enter a corpus unless asked for an evaluation set.

Mixed lines (``CorpusConfig.mixed_lines``): Mandarin lines with one word said in English, as
bilingual speakers say them (``我的电脑坏了`` → ``我的 computer 坏了``). They are made from the corpus's
own Mandarin lines by :data:`ENGLISH_SWAPS`, a documented table of everyday words that Mandarin
speakers commonly say in English, so they carry the corpus's licence and never a dev line's text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from steptts.errors import StepTTSError
from steptts.languages.mandarin import has_han

HELD_OUT_NAMES = frozenset({"dev_en.txt", "dev_norm.tsv"})
"""Development files kept out of every training corpus (with every file named ``dev_*``)."""
HELD_OUT_PREFIX = "dev_"
ENGLISH_SWAPS: dict[str, str] = {
    "电脑": "computer", "手机": "phone", "会议": "meeting", "咖啡": "coffee", "电子邮件": "email",
    "邮件": "email", "老板": "boss", "问题": "problem", "周末": "weekend", "计划": "plan",
    "电影": "movie", "音乐": "music", "网站": "website", "照片": "photo", "礼物": "gift",
    "蛋糕": "cake", "冰箱": "fridge", "沙发": "sofa", "面试": "interview", "考试": "exam",
    "项目": "project", "报告": "report", "聚会": "party", "比赛": "game", "银行": "bank",
    "超市": "supermarket", "公园": "park", "酒店": "hotel", "机场": "airport", "巧克力": "chocolate",
}
"""Mandarin word → the English word bilingual speakers often put in its place (mixed lines). Longer
words are tried first, so 电子邮件 wins over 邮件."""


def is_held_out(path: str | Path) -> bool:
    """True for a development file, which must never become training data."""
    name = Path(path).name
    return name in HELD_OUT_NAMES or name.startswith(HELD_OUT_PREFIX)


class CorpusError(StepTTSError, ValueError):
    """A corpus file is missing, unreadable, held out for evaluation, or yields no line."""


@dataclass(frozen=True)
class CorpusConfig:
    """How lines are read and filtered."""

    min_chars: int = 3
    """Shortest normalized line kept (characters)."""
    max_chars: int = 400
    """Longest normalized line kept (characters); longer lines waste padding in training batches."""
    allow_dev: bool = False
    """Let held-out development files in (only for evaluation sets, never for training)."""
    mixed_lines: int = 0
    """Mixed Mandarin/English lines added after the corpus (at most; made by :func:`mixed_lines` from its
    Mandarin lines at an even stride); 0: none."""


@dataclass(frozen=True)
class CorpusLine:
    """One utterance of the corpus."""

    text: str
    """Normalized (spoken) text."""
    source: str
    """``file:id`` (TSV) or ``file:line`` (plain text), for tracing a record back to its origin."""


def _frontend() -> tuple[Callable[[str], str], Callable[[str], str]]:
    """The runtime's normalizer and its spoken form (the dedupe key: case and punctuation ignored).

    A Mandarin line goes to :func:`_normalize_mandarin`, any other to the English normalizer.
    """
    from steptts.textnorm import normalize_text

    def normalize(raw: str) -> str:
        return _normalize_mandarin(raw) if has_han(raw) else normalize_text(raw)

    return normalize, spoken_form


def _normalize_mandarin(raw: str) -> str:
    """A Mandarin line as it is read: its language runs, each normalized by its own language (digits
    and symbols written out in Mandarin words, Latin words in English ones); "" when nothing is left."""
    from steptts.frontend import speak

    return speak(raw, "cmn").text


def mixed_lines(lines: list[CorpusLine], count: int) -> list[CorpusLine]:
    """Up to ``count`` mixed lines: Mandarin ``lines`` (at an even stride) with their first
    :data:`ENGLISH_SWAPS` word said in English, spaced as written (``我的 computer 坏了``)."""
    swaps = sorted(ENGLISH_SWAPS, key=len, reverse=True)
    candidates = [(line, word) for line in lines if has_han(line.text)
                  for word in [next((w for w in swaps if w in line.text), None)] if word is not None]
    if count <= 0 or not candidates:
        return []
    stride = max(1, len(candidates) // count)
    out = []
    for line, word in candidates[::stride][:count]:
        before, _, after = line.text.partition(word)
        left = " " if has_han(before[-1:]) else ""  # a space between Han and Latin, none at a mark
        right = " " if has_han(after[:1]) else ""
        text = " ".join(_normalize_mandarin(f"{before}{left}{ENGLISH_SWAPS[word]}{right}{after}").split())
        out.append(CorpusLine(text, f"{line.source}+{ENGLISH_SWAPS[word]}"))
    return out


def spoken_form(text: str) -> str:
    """Lowercase words only: punctuation removed (apostrophes inside words kept), whitespace collapsed.

    "Meet me at seven o'clock, gate twelve!" → "meet me at seven o'clock gate twelve"
    """
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w\s']|_", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def _raw_lines(path: Path) -> Iterable[tuple[str, str]]:
    """(line id, raw text) of each non-empty line."""
    is_tsv = path.suffix.lower() == ".tsv"
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if is_tsv and "\t" in line:
                line_id, text = line.split("\t")[:2]
                if number == 1 and line_id.strip().lower() == "id":
                    continue  # a header row
            else:
                line_id, text = str(number), line
            if text.strip():
                yield line_id.strip() or str(number), text


def read_corpus(paths: Iterable[str | Path], config: CorpusConfig | None = None) -> list[CorpusLine]:
    """Normalized, deduplicated, length-filtered lines of ``paths`` in file then line order.

    Raises :class:`CorpusError` for a missing or held-out file, or when no line is left.
    """
    config = config or CorpusConfig()
    paths = [Path(p) for p in paths]
    if not paths:
        raise CorpusError("no text file given")
    for path in paths:
        if is_held_out(path) and not config.allow_dev:
            raise CorpusError(
                f"{path} is a held-out development file and must stay out of training data "
                "(pass --allow-dev only to build an evaluation set)"
            )
        if not path.is_file():
            raise CorpusError(f"text file not found: {path}")
    normalize, spoken = _frontend()
    seen: set[str] = set()
    lines: list[CorpusLine] = []
    for path in paths:
        try:
            for line_id, raw in _raw_lines(path):
                text = " ".join(normalize(raw).split())
                key = spoken(text)
                if not config.min_chars <= len(text) <= config.max_chars or not key or key in seen:
                    continue
                seen.add(key)
                lines.append(CorpusLine(text, f"{path.name}:{line_id}"))
        except UnicodeDecodeError as error:
            raise CorpusError(f"{path} is not UTF-8 text: {error}") from None
    if not lines:
        raise CorpusError(
            f"no line of {', '.join(map(str, paths))} is left after normalization and the "
            f"{config.min_chars}-{config.max_chars} character filter"
        )
    extra = [line for line in mixed_lines(lines, config.mixed_lines) if spoken(line.text) not in seen]
    return lines + extra
