"""A pronunciation lexicon: words whose phonemes the user fixes. Its entries win over the G2P.

The file is UTF-8 TSV, one entry a line::

    word <TAB> pronunciation [<TAB> language]

- ``pronunciation`` is IPA in the language's inventory (``docs/CONTRACTS.md``), or, for Mandarin,
  pinyin with tone numbers (``zhong4 qing4``), turned into that inventory;
- ``language`` is a code (``en``, ``zh``); without it, a word with Han characters is Mandarin and any
  other word English;
- blank lines and lines starting with ``#`` are skipped.

English entries match whole words, ignoring case, in the normalized text ("Nguyen", "SQL"); Mandarin
entries match anywhere in the normalized Han text, the longest first (重庆, 长安街).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TextError
from .languages.base import language
from .languages.mandarin import has_han
from .languages.pipeline import Phonemizer, join_phonemes

PINYIN = re.compile(r"^(?:[a-zü]+[1-5])(?:[ '-]?[a-zü]+[1-5])*$", re.IGNORECASE)
"""A pronunciation written as numbered pinyin (``chong2 qing4``, ``xi'an1``)."""


@dataclass(frozen=True)
class Lexicon:
    """Words → phonemes, per language."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    """Language code → {word (English: casefolded) → phonemes}."""
    source: str = ""
    """Where the entries came from, for messages."""

    @classmethod
    def load(cls, path: str | os.PathLike) -> Lexicon:
        """Read a lexicon file; :class:`TextError` names the file and line of a bad entry."""
        path = Path(path).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise TextError(f"cannot read lexicon {path}: {error}") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "lexicon") -> Lexicon:
        """Entries of lexicon text (the file format above)."""
        entries: dict[str, dict[str, str]] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = [f.strip() for f in line.split("\t")]
            if len(fields) not in (2, 3) or not fields[0] or not fields[1]:
                raise TextError(f"{source}:{number}: expected 'word<TAB>pronunciation[<TAB>language]', "
                                f"got {line!r}")
            word, pronunciation = fields[0], fields[1]
            try:
                code = language(fields[2]).code if len(fields) == 3 else ("zh" if has_han(word) else "en")
            except TextError as error:
                raise TextError(f"{source}:{number}: {error}") from None
            if code == "zh" and PINYIN.match(pronunciation):
                from .languages.mandarin import pinyin_phonemes

                try:
                    pronunciation = pinyin_phonemes(pronunciation)
                except (ValueError, KeyError):
                    raise TextError(f"{source}:{number}: '{fields[1]}' is not valid pinyin") from None
            key = word.casefold() if code == "en" else word
            entries.setdefault(code, {})[key] = unicodedata.normalize("NFD", pronunciation)
        return cls(entries, source)

    def __len__(self) -> int:
        return sum(len(words) for words in self.entries.values())

    def _pattern(self, code: str) -> re.Pattern | None:
        words = self.entries.get(code)
        if not words:
            return None
        alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        if code == "en":
            return re.compile(rf"(?<![\w'])(?:{alternation})(?![\w'])", re.IGNORECASE)
        return re.compile(alternation)

    def phonemizer(self, fallback: Phonemizer) -> Phonemizer:
        """A phonemizer that says the lexicon's words its way and the rest through ``fallback``."""
        patterns = {code: self._pattern(code) for code in self.entries}

        def phonemize(text: str, code: str, variant: str) -> str:
            pattern = patterns.get(code)
            if pattern is None:
                return fallback(text, code, variant)
            words = self.entries[code]
            pieces, start = [], 0
            for match in pattern.finditer(text):
                gap = text[start:match.start()]
                pieces.append(fallback(gap, code, variant) if gap.strip() else "")
                pieces.append(words[match.group().casefold() if code == "en" else match.group()])
                start = match.end()
            pieces.append(fallback(text[start:], code, variant) if text[start:].strip() else "")
            return join_phonemes(pieces)

        return phonemize
