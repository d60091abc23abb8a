"""Subtitles from word timestamps: SubRip (.srt) and WebVTT (.vtt) text.

Words are grouped into cues of at most ``max_words`` words and ``max_cue_s`` seconds; a cue of at
least ``min_words`` words also ends at a pause of ``pause_s`` or more (a sentence end or a comma:
the voice pauses about 0.15–0.2 s there, and 0.05–0.07 s between other words).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .errors import StepTTSError
from .words import Word

SUBTITLE_FORMATS = (".srt", ".vtt")
"""File suffixes :func:`subtitles` writes."""


def cues(words: Sequence[Word], max_words: int = 8, max_cue_s: float = 4.0, pause_s: float = 0.14,
         min_words: int = 3) -> list[tuple[float, float, str]]:
    """Group words into cues: ``(start_s, end_s, text)`` each, in order, times in seconds."""
    groups: list[list[Word]] = []
    for word in words:
        current = groups[-1] if groups else None
        if (current is None or len(current) >= max_words or word.end_s - current[0].start_s > max_cue_s
                or (word.start_s - current[-1].end_s >= pause_s and len(current) >= min_words)):
            groups.append([word])
        else:
            current.append(word)
    return [(group[0].start_s, group[-1].end_s, " ".join(w.word for w in group)) for group in groups]


def _clock(seconds: float, decimal: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def to_srt(words: Sequence[Word]) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``."""
    blocks = [f"{n}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n"
              for n, (start, end, text) in enumerate(cues(words), start=1)]
    return "\n".join(blocks)


def to_vtt(words: Sequence[Word]) -> str:
    """WebVTT text: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    blocks = [f"{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n" for start, end, text in cues(words)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def subtitles(words: Sequence[Word], suffix: str) -> str:
    """Subtitle text for a file name's ``suffix`` (``.srt`` or ``.vtt``)."""
    if suffix.lower() == ".srt":
        return to_srt(words)
    if suffix.lower() == ".vtt":
        return to_vtt(words)
    raise ValueError(f"subtitles are .srt or .vtt, not '{suffix}'")


def check_subtitle_path(path: Path) -> None:
    """Raise StepTTSError before any work when ``path`` cannot take subtitles."""
    if path.suffix.lower() not in SUBTITLE_FORMATS:
        raise StepTTSError(f"cannot write subtitles to '{path}': use a .srt or .vtt file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise StepTTSError(f"cannot write '{path}': folder '{parent}' does not exist")


def write_subtitles(path: Path, words: Sequence[Word]) -> None:
    """Write .srt or .vtt subtitles atomically (a temporary file, then rename)."""
    temp = path.with_name(f".{path.name}.part")
    temp.write_text(subtitles(words, path.suffix), encoding="utf-8")
    os.replace(temp, path)
