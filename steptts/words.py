"""Word timestamps from the graph's durations: which word of a sentence is heard when.

The graph reports frames per token of ``["^", *phonemes, "$"]`` (see :mod:`steptts.phonemes`).
espeak-ng writes one space between the phonemes of consecutive words, so the space tokens cut the
token sequence into *phoneme words*, each with an exact start and end frame. Those are matched to
the words of the spoken text: one to one when the counts agree (the common case), otherwise by a
monotone alignment of their lengths (espeak-ng joins a few pairs such as "of the" into one phoneme
word, and splits some abbreviations), which shares a joined span among its words by their lengths.
Punctuation tokens are pauses: they belong to no word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .phonemes import PUNCTUATION, SPECIALS

_TEXT_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+")
_STEPS = ((1, 1), (2, 1), (3, 1), (1, 2), (1, 3), (4, 1))
"""Group sizes (text words, phoneme words) the alignment may match."""
_SKIP = frozenset(PUNCTUATION) | frozenset(SPECIALS)


@dataclass(frozen=True)
class Word:
    """One spoken word and when it is heard."""

    word: str
    """The word as written in the spoken (normalized) text, without surrounding punctuation."""
    start_s: float
    """When its first phoneme starts, in seconds from the start of the audio."""
    end_s: float
    """When its last phoneme ends, in seconds from the start of the audio."""

    def shifted(self, offset_s: float) -> Word:
        """The same word ``offset_s`` seconds later."""
        return Word(self.word, self.start_s + offset_s, self.end_s + offset_s)


def text_words(text: str) -> list[str]:
    """The words of ``text``: whitespace-separated runs (each CJK character alone), edge punctuation
    stripped, runs without a letter or digit dropped."""
    words = []
    for piece in _TEXT_WORD.findall(text):
        stripped = piece.strip("".join(set(PUNCTUATION) - {" "}) + "“”‘’«»…。，、！？；：（）")
        if any(ch.isalnum() for ch in stripped):
            words.append(stripped)
    return words


def phoneme_word_spans(tokens: list[str], durations: np.ndarray) -> list[tuple[int, int, int]]:
    """Spans of the phoneme words: ``(start_frame, end_frame, n_phonemes)`` each, in order.

    Args:
        tokens: the token sequence the graph ran, ``["^", …, "$"]`` ([T] strings).
        durations: int [T] frames per token, as the graph reported them.
    """
    spans: list[tuple[int, int, int]] = []
    frame = 0
    start = end = count = 0
    for token, frames in zip(tokens, np.asarray(durations, np.int64).tolist()):
        if token in _SKIP:
            if token == " " and count:
                spans.append((start, end, count))
                count = 0
        else:
            if count == 0:
                start = frame
            end = frame + frames
            count += 1
        frame += frames
    if count:
        spans.append((start, end, count))
    return spans


def word_timings(text: str, tokens: list[str], durations: np.ndarray, seconds_per_frame: float) -> list[Word]:
    """When each word of ``text`` is heard in the audio the graph made from ``tokens``.

    Args:
        text: the sentence as spoken (the normalized text that was phonemized).
        tokens: [T] tokens the graph ran.
        durations: int [T] frames per token (the graph's ``durations`` output).
        seconds_per_frame: hop length ÷ sample rate, in seconds.

    Returns:
        One :class:`Word` per word of ``text``, in order, times in seconds from the audio's start;
        empty when the text has no words or the tokens no phonemes.
    """
    words = text_words(text)
    spans = phoneme_word_spans(tokens, durations)
    if not words or not spans:
        return []
    groups = _align([len(w) for w in words], [n for _, _, n in spans])
    timed: list[Word] = []
    for (w0, w1), (p0, p1) in groups:
        start, end = spans[p0][0], spans[p1 - 1][1]
        lengths = np.array([len(w) for w in words[w0:w1]], np.float64)
        cuts = start + (end - start) * np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])
        for k, word in enumerate(words[w0:w1]):
            timed.append(Word(word, float(cuts[k]) * seconds_per_frame, float(cuts[k + 1]) * seconds_per_frame))
    return timed


def _align(text_lengths: list[int], phoneme_counts: list[int]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Monotone grouping of text words onto phoneme words: ``[((w0, w1), (p0, p1)), …]``.

    One to one when the counts agree. Otherwise dynamic programming over group steps minimises the
    distance between the cumulative length fractions at every group boundary; if no grouping
    covers both sequences, all words share the whole span.
    """
    n, m = len(text_lengths), len(phoneme_counts)
    if n == m:
        return [((i, i + 1), (i, i + 1)) for i in range(n)]
    text_cum = np.concatenate([[0.0], np.cumsum(text_lengths)]) / max(1, sum(text_lengths))
    phon_cum = np.concatenate([[0.0], np.cumsum(phoneme_counts)]) / max(1, sum(phoneme_counts))
    cost = np.full((n + 1, m + 1), np.inf)
    back: dict[tuple[int, int], tuple[int, int]] = {}
    cost[0, 0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if not np.isfinite(cost[i, j]):
                continue
            for a, b in _STEPS:
                if i + a <= n and j + b <= m:
                    value = cost[i, j] + abs(text_cum[i + a] - phon_cum[j + b])
                    if value < cost[i + a, j + b]:
                        cost[i + a, j + b] = value
                        back[(i + a, j + b)] = (i, j)
    if not np.isfinite(cost[n, m]):
        return [((0, n), (0, m))]
    groups = []
    cell = (n, m)
    while cell != (0, 0):
        previous = back[cell]
        groups.append(((previous[0], cell[0]), (previous[1], cell[1])))
        cell = previous
    return groups[::-1]
