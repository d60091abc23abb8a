"""A frontend for languages that have no module of their own yet (Cantonese, Japanese, Korean): the
text as written, phonemized by espeak-ng in the language's voice. No normalization: digits are left
to espeak-ng.
"""

from __future__ import annotations

from .. import g2p
from ..sentences import split_sentences


def normalize(text: str) -> str:
    """The text with its whitespace collapsed."""
    return " ".join(text.split())


def split(text: str) -> list[str]:
    """Sentences, cut after ``。！？`` and ``. ! ?``."""
    return split_sentences(text)


def phonemize(text: str, variant: str | None = None) -> str:
    """espeak-ng IPA of ``text`` in the espeak-ng voice ``variant`` (``yue``, ``ja``, ``ko``)."""
    if not variant:
        raise ValueError("the espeak frontend needs the language's espeak-ng voice as variant")
    return g2p.phonemize(text, variant)
