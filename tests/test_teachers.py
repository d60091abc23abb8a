"""Teachers on real models and servers: Piper (onnxruntime), espeak-ng (ctypes), the remote API."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fault_server import FaultServer

from distill.dsp import resample
from distill.teachers import (
    EspeakTeacher,
    PiperTeacher,
    RemoteTeacherAdapter,
    Teacher,
    TeacherConfigError,
    TeacherError,
    make_teacher,
)
from steptts.errors import TagError, VoiceError
from steptts.phonemes import tokenize
from steptts.tags import TAG_SPECS, resolve_tag

HOP = 256
TEXT = "Not at this particular case, Tom, apologized Whittemore."


@pytest.fixture(scope="module")
def piper() -> PiperTeacher:
    return PiperTeacher()


def dominant_hz(audio: np.ndarray, sample_rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / sample_rate_hz)[np.argmax(spectrum)])


# ------------------------------------------------------------------------------------------ Piper


def test_piper_durations_are_per_token_and_sum_to_the_audio(piper: PiperTeacher) -> None:
    assert isinstance(piper, Teacher)
    rendering = piper.render(TEXT, [], None)
    audio, sample_rate_hz, durations = piper.synthesize(TEXT, [], None)
    assert sample_rate_hz == 22050 and audio.dtype == np.float32 and audio.ndim == 1
    assert len(durations) == len(tokenize(rendering.phonemes))
    assert sum(durations) * HOP == len(audio)
    assert min(durations) >= 0 and 0.05 < np.abs(audio).max() <= 1.5
    assert rendering.language == "en-us" and "ð" in rendering.phonemes
    # scales [0, 1, 0] are deterministic: the best training targets.
    again = piper.synthesize(TEXT, [], None)
    assert np.array_equal(audio, again[0]) and durations == again[2]


def test_piper_token_durations_fold_the_pads_into_the_tokens(piper: PiperTeacher) -> None:
    # ids: ^ _ a _ b _ $   (each symbol one id in this voice)
    id_frames = np.array([2, 1, 5, 3, 7, 4, 6])
    assert piper._token_durations(id_frames, "ab") == [2 + 1, 5 + 3, 7 + 4, 6]
    with pytest.raises(TeacherError):
        piper._token_durations(id_frames[:-1], "ab")


def test_piper_drops_unknown_symbols_from_ids_and_phonemes(piper: PiperTeacher) -> None:
    ids, kept = piper.encode("həlˈoʊ* wˈɜːld")
    assert kept == "həlˈoʊ wˈɜːld"
    assert len(ids) == 2 * len(kept) + 3  # ^ _ (p _)… $
    audio, durations, kept = piper.synthesize_phonemes("həlˈoʊ* wˈɜːld")
    assert len(durations) == len(tokenize(kept)) and sum(durations) * HOP == len(audio)
    with pytest.raises(TeacherError, match="nothing speakable"):
        piper.synthesize_phonemes("***")


def test_piper_renders_speed_natively(piper: PiperTeacher) -> None:
    neutral = piper.render(TEXT, [], None)
    slower = piper.render(TEXT, [resolve_tag("慢速2")], None)
    faster = piper.render(TEXT, [resolve_tag("快速2")], None)
    assert slower.phonemes == neutral.phonemes
    ratio_slow = sum(slower.durations) / sum(neutral.durations)
    ratio_fast = sum(faster.durations) / sum(neutral.durations)
    assert 1.25 < ratio_slow < 1.45 and 0.68 < ratio_fast < 0.82
    assert sum(slower.durations) * HOP == len(slower.audio)


def test_piper_renders_accents_from_their_espeak_voice(piper: PiperTeacher) -> None:
    american = piper.render("The car is in the garden.", [], None)
    british = piper.render("The car is in the garden.", [resolve_tag("British")], None)
    scottish = piper.render("The car is in the garden.", [resolve_tag("Scottish")], None)
    assert (british.language, scottish.language) == ("en-gb", "en-gb-scotland")
    assert "ɡˈɑːɹdən" in american.phonemes
    assert "ɡˈɑːdən" in british.phonemes  # non-rhotic
    assert scottish.phonemes != british.phonemes
    assert sum(scottish.durations) * HOP == len(scottish.audio)
    # Symbols this en-us voice never learned are rendered (and recorded) as their en-us neighbours.
    lock = piper.render("Lock the red door.", [resolve_tag("Scottish")], None)
    assert "ɒ" not in lock.phonemes and "r" not in lock.phonemes
    assert "lˈɑk" in lock.phonemes and "ɹˈɛd" in lock.phonemes


def test_piper_refuses_what_it_cannot_render(piper: PiperTeacher) -> None:
    assert piper.renders("快速1") and piper.renders("British") and piper.renders("英文")
    assert not piper.renders("高兴1") and not piper.renders("哼唱") and not piper.renders("粤语")
    with pytest.raises(TagError, match="高兴2"):
        piper.synthesize(TEXT, [resolve_tag("happy2")], None)
    with pytest.raises(VoiceError, match="one speaker"):
        piper.synthesize(TEXT, [], "amy")
    with pytest.raises(VoiceError, match="not found"):
        PiperTeacher(model_path="/no/such/voice.onnx")


def test_piper_settings_name_the_model_and_scales(piper: PiperTeacher) -> None:
    assert piper.name == "piper:en_US-joe-medium" and piper.default_voice() == "joe"
    assert piper.settings()["scales"] == [0.0, 1.0, 0.0]
    assert PiperTeacher(noise_scale=0.667).settings() != piper.settings()
    # the phonemization is part of what decides a record: a new table or g2p fix re-renders it
    from distill.dataset_store import record_id

    before = record_id(piper.name, piper.settings(), "joe", TEXT, ["British"], None)
    other = PiperTeacher(noise_scale=0.0, length_scale=1.0, noise_w=0.0)
    other.phoneme_substitutions = {"ɒ": "ɑ"}
    assert record_id(other.name, other.settings(), "joe", TEXT, ["British"], None) != before


# ------------------------------------------------------------------------------------------ espeak-ng


def test_espeak_speaks_english_cantonese_and_mandarin() -> None:
    teacher = EspeakTeacher()
    audio, sample_rate_hz, durations = teacher.synthesize("Hello there, how are you?", [], None)
    assert sample_rate_hz == 22050 and durations is None
    assert audio.dtype == np.float32 and 0.8 < len(audio) / sample_rate_hz < 3.0
    assert np.abs(audio).max() > 0.1
    for tag, text in (("粤语", "你好，今天天气很好"), ("中文", "你好，今天天气很好")):
        rendering = teacher.render(text, [resolve_tag(tag)], None)
        assert rendering.language == resolve_tag(tag).spec.espeak_voice
        assert len(rendering.audio) / rendering.sample_rate_hz > 0.8
        assert any(ch.isdigit() for ch in rendering.phonemes)  # tone numbers: really Chinese G2P


def test_espeak_speed_and_accent_tags() -> None:
    teacher = EspeakTeacher()
    neutral, _, _ = teacher.synthesize(TEXT, [], None)
    slow, _, _ = teacher.synthesize(TEXT, [resolve_tag("慢速2")], None)
    assert 1.2 < len(slow) / len(neutral) < 1.5
    scottish = teacher.render(TEXT, [resolve_tag("Scottish")], None)
    assert scottish.language == "en-gb-scotland" and len(scottish.audio) > 0
    assert not teacher.renders("高兴1") and teacher.renders("粤语") and teacher.renders("快速1")


def test_espeak_is_safe_across_threads() -> None:
    teacher = EspeakTeacher()
    texts = [" ".join(["Words spoken here."] * (i + 1)) for i in range(6)]
    # espeak-ng carries a little state between calls (a sample or two of length), so compare lengths.
    expected = [len(teacher.synthesize(text, [], None)[0]) for text in texts]
    results: dict[int, int] = {}

    def speak(index: int) -> None:
        results[index] = len(teacher.synthesize(texts[index], [], None)[0])

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(abs(results[i] - expected[i]) <= 64 for i in range(len(texts))), (results, expected)


def test_espeak_has_a_voice_for_every_language_and_accent_tag() -> None:
    teacher = EspeakTeacher()
    for spec in TAG_SPECS:
        if spec.espeak_voice:  # en-gb lives in the voice file gmw/en: looked up by language code
            rendering = teacher.render("Hello there.", [resolve_tag(spec.canonical)], None)
            assert rendering.language == spec.espeak_voice and len(rendering.audio) > 0.3 * 22050


def test_espeak_unknown_voice_is_a_voice_error() -> None:
    with pytest.raises(VoiceError, match="xx-nowhere"):
        EspeakTeacher(language="xx-nowhere").synthesize("hello", [], None)


# ------------------------------------------------------------------------------------------ remote


def test_remote_adapter_resamples_and_sends_tags() -> None:
    with FaultServer(["ok", "ok"]) as server:
        teacher = RemoteTeacherAdapter(server.url, api_key="sk-test", voice="tester", timeout_s=5)
        audio, sample_rate_hz, durations = teacher.synthesize("Hello there.", [resolve_tag("sad2")], None)
        rendering = teacher.render("Hello there.", [resolve_tag("粤语"), resolve_tag("fast")], "other")
        bodies = [request.json for request in server.requests]
    assert sample_rate_hz == 22050 and durations is None
    assert len(audio) == pytest.approx(0.25 * 22050, abs=2)
    assert abs(dominant_hz(audio, 22050) - 220.0) < 5.0
    assert bodies[0]["voice_label"] == {"emotion": "悲伤"} and bodies[0]["voice"] == "tester"
    assert bodies[0]["input"].endswith("Hello there.")
    assert bodies[1]["voice_label"] == {"language": "粤语"} and bodies[1]["voice"] == "other"
    assert bodies[1]["speed"] == pytest.approx(1 / 0.87, abs=1e-3)
    assert rendering.language == "yue"
    assert teacher.settings() == {"base_url": server.url, "model": "step-tts-mini", "sample_rate_hz": 24000}


def test_remote_adapter_errors() -> None:
    with FaultServer(["error400"]) as server:
        teacher = RemoteTeacherAdapter(server.url, max_retries=0, timeout_s=5)
        with pytest.raises(TeacherError) as caught:
            teacher.synthesize("Hello.", [], None)
        assert caught.value.status == 400 and not caught.value.retryable
        with pytest.raises(TagError, match="British"):
            teacher.synthesize("Hello.", [resolve_tag("British")], None)
        assert len(server.requests) == 1  # the refused tag never reached the server


def test_resample_and_make_teacher() -> None:
    t = np.arange(24000) / 24000
    audio = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = resample(audio, 24000, 22050, clip=True)
    assert out.dtype == np.float32 and len(out) == 22050
    assert abs(dominant_hz(out, 22050) - 440.0) < 2.0
    assert resample(audio, 24000, 24000) is not None
    assert isinstance(make_teacher("espeak", language=None), EspeakTeacher)
    with pytest.raises(TeacherConfigError, match="unknown teacher"):
        make_teacher("wavenet")
    with pytest.raises(TeacherConfigError, match="base-url"):
        make_teacher("remote")
    with pytest.raises(TeacherConfigError, match="bad option"):
        make_teacher("espeak", temperature=0.5)
