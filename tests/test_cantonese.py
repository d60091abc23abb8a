"""粤语, the experiment: Jyutping → Kokoro symbols with six tones, and the tone edit's six targets."""

from __future__ import annotations

import pytest

from distill.tone_edit import TONE_TARGETS, readings
from steptts.languages import cantonese


@pytest.mark.parametrize(("text", "expected"), [
    ("香港", "hœː→ŋkɔː↗ŋ"),  # hoeng1 gong2: level, rising; the arrow before the coda
    ("广州", "kwɔː↗ŋʦɐu→"),  # gwong2 zau1: kʷ → kw, t͡s → ʦ
    ("出去", "ʦʰø→thøy→"),  # ceot1 heoi3: ɵ → ø, the unreleased mark dropped
    ("五", "ŋ↗"),  # ng5: a syllabic nasal is its own nucleus
])
def test_words_in_kokoro_symbols(text: str, expected: str) -> None:
    assert cantonese.phonemize(text) == expected


def test_six_tones_reach_the_tone_edit() -> None:
    assert sorted(TONE_TARGETS["粤语"]) == ["1", "2", "3", "4", "5", "6"]
    assert [tone for tone, _ in readings("诗史试时市事", "粤语")] == ["1", "2", "3", "4", "5", "6"]
