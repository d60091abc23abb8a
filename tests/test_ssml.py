"""SSML (steptts.ssml): breaks, prosody, say-as, sub, phoneme, lang, emphasis and its errors, on a real
exported voice and through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from steptts import TTS, phonemize
from steptts.errors import TextError

REPO = Path(__file__).resolve().parents[1]
FRAME = 256  # samples per frame: the voice's hop length


@pytest.fixture(scope="module")
def tts(voice_dir: Path) -> TTS:
    return TTS(voice=voice_dir, provider="cpu")


def said(ssml: str) -> list[str]:
    return [u.spoken for u in phonemize(ssml)]


def test_a_break_is_exact_silence(tts: TTS) -> None:
    chunks = list(tts.stream('<speak>Hello <break time="1500ms"/> world.</speak>'))
    assert [c.text for c in chunks] == ["Hello", "", "world."]
    pause = chunks[1].samples
    assert abs(len(pause) - 1.5 * tts.sample_rate_hz) < FRAME and not pause.any()
    assert all(np.abs(c.samples).max() > 1e-3 for c in (chunks[0], chunks[2]))
    strong = list(tts.stream('<speak>Hello <break strength="strong"/> world.</speak>'))[1]
    assert len(strong.samples) == tts.sample_rate_hz  # strong: 1 s


@pytest.mark.parametrize(
    ("ssml", "controls"),
    [
        ('<prosody rate="slow">Hello there.</prosody>', {"speed": 0.8}),
        ('<prosody rate="150%">Hello there.</prosody>', {"speed": 1.5}),
        ('<prosody pitch="+3st">Hello there.</prosody>', {"pitch": 3.0}),
        ('<prosody volume="-6dB">Hello there.</prosody>', {"energy": -6.0}),
        ('<emphasis level="strong">Hello there.</emphasis>', {"energy": 6.0, "speed": 0.9}),
    ],
)
def test_prosody_and_emphasis_go_through_the_graphs_controls(tts: TTS, ssml: str, controls: dict) -> None:
    through_ssml = tts.synthesize(f"<speak>{ssml}</speak>").samples
    through_api = tts.synthesize("Hello there.", **controls).samples
    neutral = tts.synthesize("Hello there.").samples
    np.testing.assert_allclose(through_ssml, through_api, atol=1e-6)
    assert len(neutral) != len(through_ssml) or not np.allclose(neutral, through_ssml, atol=1e-4)


@pytest.mark.parametrize(
    ("ssml", "expected"),
    [
        ('Room <say-as interpret-as="digits">1203</say-as>.', "Room one two zero three"),
        ('<say-as interpret-as="cardinal">1203</say-as>', "one thousand two hundred three"),
        ('The <say-as interpret-as="ordinal">3</say-as> one.', "The third one"),
        ('<say-as interpret-as="characters">SQL</say-as>', "S Q L"),
        ('On <say-as interpret-as="date" format="mdy">5/3/2024</say-as>.', "On May third twenty twenty four"),
        ('At <say-as interpret-as="time">9:30</say-as>.', "At nine thirty"),
        ('Call <say-as interpret-as="telephone">555-1234</say-as>.', "Call five five five, one two three four"),
        ('房间<say-as interpret-as="digits">1203</say-as>。', "房间一二零三"),
        ('<say-as interpret-as="date">2024-05-03</say-as>出发。', "二零二四年五月三日出发"),
        ('<sub alias="World Wide Web Consortium">W3C</sub> said so.', "World Wide Web Consortium said so"),
    ],
)
def test_say_as_and_sub(ssml: str, expected: str) -> None:
    assert said(f"<speak>{ssml}</speak>") == [expected]


def test_phoneme_is_said_as_given() -> None:
    [utterance] = phonemize('<speak>Say <phoneme alphabet="ipa" ph="təmˈɑːtoʊ">tomato</phoneme>.</speak>')
    assert utterance.phonemes.endswith("təmˈɑːtoʊ.")
    [utterance] = phonemize('<speak><phoneme alphabet="pinyin" ph="chong2 qing4">重庆</phoneme>到了。</speak>')
    assert utterance.phonemes.startswith("ꭧʰʊ↗ŋʨʰi↘ŋ") and utterance.language == "zh"


def test_lang_sets_the_accent_and_the_language() -> None:
    british = phonemize('<speak><lang xml:lang="en-GB">tomato</lang></speak>')[0].phonemes
    american = phonemize("<speak>tomato</speak>")[0].phonemes
    assert british != american and "ɑː" in british
    assert said('<speak><lang xml:lang="zh-CN">2024</lang></speak>') == ["二千零二十四"]
    assert phonemize('<speak><lang xml:lang="yue">你好</lang></speak>')[0].language == "yue"


def test_a_mandarin_document_reads_say_as_in_mandarin() -> None:
    assert said('<speak>第<say-as interpret-as="cardinal">12</say-as>名。</speak>') == ["第十二名"]


@pytest.mark.parametrize(
    ("ssml", "needle"),
    [
        ('<speak>Hello <break time=1s/></speak>', "invalid SSML at line 1, column"),
        ("<speak>Hello", "invalid SSML at line 1, column"),
        ('<speak>Hi <audio src="x.wav"/></speak>', "SSML element <audio> is not supported"),
        ('<speak><prosody rate="warp">x</prosody></speak>', "rate='warp'"),
        ('<speak><say-as interpret-as="spell-out">x</say-as></speak>', "interpret-as='spell-out'"),
        ('<speak><break time="soon"/></speak>', "time='soon'"),
    ],
)
def test_bad_ssml_is_one_error_never_read_aloud(ssml: str, needle: str) -> None:
    with pytest.raises(TextError, match=needle.replace("(", r"\(")):
        phonemize(ssml)


def test_bad_ssml_in_the_cli_is_one_line_with_its_position(voice_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "steptts", "say", "<speak>Hi\n<break time=1s/></speak>", "-o",
                           str(tmp_path / "x.wav"), "--voice", str(voice_dir)],
                          capture_output=True, env=env, timeout=300, check=False)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "line 2, column" in lines[0], lines
    assert not (tmp_path / "x.wav").exists()
