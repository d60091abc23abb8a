"""四川话: the rule set on top of the Mandarin G2P, its tag in the runtime, and its tone edit targets."""

from __future__ import annotations

import numpy as np
import pytest
from test_languages import steptts

from distill.tone_edit import TONE_TARGETS, apply_tone_edit, syllables, target_letters
from steptts import phonemize
from steptts.languages import sichuanese
from steptts.phonemes import tokenize

# Chengdu readings of the dialect surveys (tone values 55 21 53 213: arrows → ↓ ↘ ↗) in Kokoro's symbols.
KNOWN_READINGS = [
    ("吃", "ʦʰɨ↓"),  # chi1 → ci21: zh/ch/sh → z/c/s, and 入声 (Cantonese hek3/jaak3) → 阳平 21
    ("是", "sɨ↗"),  # shi4 → si213
    ("老师", "nau↘sɨ→"),  # lao3 shi1 → nao53 si55: n/l → n
    ("明天", "mi↓n tʰjɛ→n".replace(" ", "")),  # ming2 → min21: -ing → -in
    ("冷", "nə↘n"),  # leng3 → nen53: -eng → -en
    ("风", "fʊ→ŋ"),  # feng1 → fong55: -eng after a labial → -ong
    ("人", "zə↓n"),  # ren2 → zen21: r → z
    ("六", "njou↓"),  # liu4 → niu21 (入声 luk6)
    ("湖", "fu↓"),  # hu2 → fu21
    ("哥", "ko→"),  # ge1 → go55
    ("多", "to→"),  # duo1 → do55
    ("爱", "ŋai↗"),  # ai4 → ngai213
    ("说", "so↓"),  # shuo1 → so21 (入声 syut3)
    ("不好", "pu↓xau↘"),  # bu4 → bu21 (入声); hao3 → hao53, no Mandarin sandhi
]


@pytest.mark.parametrize(("text", "expected"), KNOWN_READINGS)
def test_words_with_known_sichuanese_readings(text: str, expected: str) -> None:
    assert sichuanese.phonemize(text).replace(" ", "") == expected


def test_the_tag_says_mandarin_text_by_the_rules_and_only_under_the_tag() -> None:
    said = phonemize("(四川话)你吃饭了没有")[0]
    assert said.language == "zh"
    assert said.phonemes == "ni↘ ʦʰɨ↓fa↗n nɤ mei↓jou↘"
    assert phonemize("(sichuanese)你吃饭了没有")[0].phonemes == said.phonemes
    assert phonemize("你吃饭了没有")[0].phonemes == "ni↓ ꭧʰɨ→fa↘n lɤ mei↗jou↓"  # Mandarin, with its sandhi
    mixed = phonemize("(四川话)我用iPhone打电话。")[0]  # English runs are untouched by the dialect
    assert mixed.language == "zh+en" and "ˈaɪ" in mixed.phonemes and "tjɛ↗nxwa↗" in mixed.phonemes


def test_cli_phonemize_shows_the_transformed_phonemes() -> None:
    done = steptts("phonemize", "(四川话)你吃饭了没有")
    assert done.returncode == 0, done.stderr.decode()
    assert "ni↘ ʦʰɨ↓fa↗n nɤ mei↓jou↘" in done.stdout.decode()


def test_the_tone_edit_finds_the_dialects_syllables_and_aims_at_its_tones() -> None:
    assert TONE_TARGETS["四川话"] == {"1": (5, 5), "2": (2, 1), "3": (5, 3), "4": (2, 1, 3)}
    assert target_letters("3", True, "四川话") == (5, 3)  # no Mandarin final third tone
    text = "老师说。"
    phonemes = sichuanese.phonemize(text)
    durations = [8] + [6] * (len(tokenize(phonemes)) - 2) + [4]
    found = syllables(text, phonemes, durations, "四川话")
    assert [s.tone for s in found] == ["3", "1", "2"]
    rate, n = 22050, sum(durations) * 256
    phase = 2 * np.pi * np.cumsum(np.linspace(150.0, 250.0, n)) / rate
    audio = (0.3 * sum(np.sin(k * phase) / k for k in range(1, 12))).astype(np.float32)
    edited = apply_tone_edit(audio, rate, durations, phonemes, text, 0.8, "四川话")
    assert edited.audio.size == audio.size and edited.ops[0]["dialect"] == "四川话"
