"""Sentence splitting for streaming: one chunk of raw text per synthesis call.

Split the raw text (tags already removed) *before* normalizing it. The periods of ``Mr.``, ``St.``,
``e.g.``, ``J. R. R.``, ``1.5`` and ``7 p.m.`` are what tell an abbreviation from a sentence end,
and normalization rewrites them (``St.`` → ``Street``), so only the raw text still carries them.
Then call :func:`steptts.textnorm.normalize_text` on each chunk; it keeps the sentence punctuation.

``max_chars`` bounds the raw chunk. Normalization lengthens digits ("1945" → "nineteen forty five");
a caller that needs a bound on the normalized text can split the normalized chunk again (it has
no abbreviation periods left, so splitting it is safe).
"""

from __future__ import annotations

import re

from .errors import TextError

# Words whose period never ends a sentence: titles before a name, and "vs.", "e.g." etc. in mid-sentence.
_NEVER_FINAL = frozenset((
    "mr", "mrs", "ms", "messrs", "dr", "drs", "st", "mt", "prof", "gen", "capt", "lt", "col", "maj",
    "sgt", "rev", "gov", "sen", "rep", "vs", "v", "e.g", "i.e", "cf", "approx", "fig", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
))
# Capitalized words that start a sentence after "Plan B." or "the U.S." (where no name follows).
_SENTENCE_STARTERS = frozenset((
    "the", "a", "an", "it", "he", "she", "we", "they", "you", "this", "that", "these", "those", "there",
    "then", "now", "but", "and", "so", "yet", "our", "my", "his", "her", "their", "its", "in", "on",
    "at", "after", "when", "if", "what", "why", "how", "who", "today", "yes", "no",
))
_DOTTED = re.compile(r"[a-z](?:\.[a-z]+)*")
# A run of terminal punctuation with the closing quotes or brackets that belong to its sentence.
_TERMINAL = re.compile(r"(?:[.!?…]+|[。！？]+)[\"'”’)\]»」』]*")
_FULL_WIDTH_TERMINAL = frozenset("。！？")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_WORD_BEFORE = re.compile(r"[\"'“‘(\[]*(\S*)$")
_NEXT_CHAR = re.compile(r"\s*(\S)")
_NEXT_WORD = re.compile(r"\s*[\"'“‘(\[]*(\w+)")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|(?<=[，；：、])\s*")
_FIRST_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|(?<=[，；：])\s*")  # not at 、: it lists words, not clauses
_SPOKEN_CHAR = re.compile(r"\w")

FIRST_CLAUSE_MIN_CHARS = 5
"""Word characters (letters, digits, Han) that each side of a first-clause cut needs (:func:`first_clause`)."""


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Whether the punctuation in ``match`` ends a sentence of ``text``."""
    marks = match.group(0)
    if marks[0] in _FULL_WIDTH_TERMINAL:
        return True  # CJK text puts no space after its full stop
    end = match.end()
    if end < len(text) and not text[end].isspace():
        return False  # "1.5", "e.g", "U.S.A", "example.com"
    next_char = _NEXT_CHAR.match(text, end)
    following = next_char.group(1) if next_char else ""
    if marks[0] in "!?":
        return True
    if following.islower():
        return False  # "etc. and", "approx. five", "Wait... what"
    if marks.rstrip("\"'”’)]»」』") != ".":
        return True  # "..." or "…" before a capital, a digit or the end
    word = _WORD_BEFORE.search(text, max(0, match.start() - 30), match.start()).group(1).lower()
    if word in _NEVER_FINAL:
        return False
    if word == "no" and following.isdigit():
        return False  # "No. 5"
    if _DOTTED.fullmatch(word) and (len(word) == 1 or "." in word) and following:
        # An initial or a dotted acronym ("J. R. R. Tolkien", "the U.S. Army", "7 p.m. Then"):
        # it ends the sentence only when a sentence-starting word follows.
        next_word = _NEXT_WORD.match(text, match.end())
        return bool(next_word) and next_word.group(1).lower() in _SENTENCE_STARTERS
    return True


def _pack(pieces: list[str], max_chars: int) -> list[str]:
    """Join consecutive pieces with spaces into chunks of at most ``max_chars`` (pieces that fit)."""
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for piece in pieces:
        extra = len(piece) + (1 if current else 0)
        if current and length + extra > max_chars:
            chunks.append(" ".join(current))
            current, length = [], 0
            extra = len(piece)
        current.append(piece)
        length += extra
    if current:
        chunks.append(" ".join(current))
    return chunks


def _bound(sentence: str, max_chars: int) -> list[str]:
    """Split a sentence longer than ``max_chars`` at clause punctuation, then at spaces."""
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    for clause in _CLAUSE_END.split(sentence):
        if len(clause) <= max_chars:
            pieces.append(clause)
            continue
        for word in clause.split():
            # Only a single word longer than max_chars (a URL, unspaced CJK text) is ever cut.
            pieces.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return _pack([p for p in pieces if p], max_chars)


def first_clause(sentence: str, min_chars: int = FIRST_CLAUSE_MIN_CHARS) -> list[str]:
    """``sentence`` cut after its first clause mark (``, ; :`` before a space, ``，；：``), as
    ``[head, rest]``, when both sides have at least ``min_chars`` word characters; else ``[sentence]``.

    A stream's first chunk then waits for the head alone: synthesis time grows with the audio's length.
    The cut is where the sentence already pauses, so the two chunks sound like the sentence.
    """
    for match in _FIRST_CLAUSE_END.finditer(sentence):
        head, rest = sentence[: match.start()].rstrip(), sentence[match.end() :].strip()
        if len(_SPOKEN_CHAR.findall(head)) < min_chars:
            continue
        return [head, rest] if len(_SPOKEN_CHAR.findall(rest)) >= min_chars else [sentence]
    return [sentence]


def split_sentences(text: str, max_chars: int = 400) -> list[str]:
    """Sentences of ``text``, each at most ``max_chars`` characters, in order.

    Splits after ``. ! ? …`` followed by whitespace or the end, and after ``。！？``; keeps
    abbreviations, initials, decimals and times whole. A longer sentence is cut at ``, ; :`` and then
    between words. Whitespace inside a chunk is collapsed; nothing else is dropped, so joining the
    chunks with spaces gives back the text up to whitespace. Empty or blank text gives ``[]``.
    """
    if max_chars < 1:
        raise TextError(f"max_chars must be at least 1, got {max_chars}")
    chunks: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        start = 0
        for match in _TERMINAL.finditer(paragraph):
            if _ends_sentence(paragraph, match):
                sentence = " ".join(paragraph[start : match.end()].split())
                chunks.extend(_bound(sentence, max_chars) if sentence else [])
                start = match.end()
        rest = " ".join(paragraph[start:].split())
        if rest:
            chunks.extend(_bound(rest, max_chars))
    return chunks
