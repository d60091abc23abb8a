"""The runtime API on a real exported voice: synthesis, streaming, threads, providers, voices."""

import json
import shutil
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest
import soundfile

from steptts import TTS
from steptts.engine import CPU, CUDA, Engine, requested_providers
from steptts.errors import ProviderError, TagError, TextError, VoiceError
from steptts.voice import list_voices, load_voice


@pytest.fixture(scope="module")
def tts(voice_dir):
    return TTS(voice=voice_dir, provider="cpu")


def test_synthesize_returns_audio_with_provider_and_timings(tts, tmp_path):
    audio = tts.synthesize("Hello from steptts. This is a second sentence.")
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate_hz == 22050
    assert audio.provider == CPU
    assert len(audio.timings) == 2 and all(t.compute_ms > 0 for t in audio.timings)
    assert 0.3 < audio.duration_s < 30
    assert np.sqrt(np.mean(audio.samples**2)) > 1e-3  # not silent
    for suffix in (".wav", ".flac"):
        path = audio.save(tmp_path / f"out{suffix}")
        data, rate = soundfile.read(path)
        assert rate == 22050 and abs(len(data) - len(audio.samples)) == 0


def test_controls_as_keywords_and_inline_tags_agree(tts):
    voice_tags = tts.tag_keys
    key = "高兴2" if "高兴2" in voice_tags else voice_tags[0]
    inline = tts.synthesize(f"({key})Good morning.")
    assert inline.samples.size > 0
    if key == "高兴2":
        keyword = tts.synthesize("Good morning.", emotion="happy", intensity=2)
        np.testing.assert_array_equal(inline.samples, keyword.samples)


def test_speed_control_shortens_audio(tts):
    normal = tts.synthesize("The garden looks beautiful after the rain.")
    fast = tts.synthesize("The garden looks beautiful after the rain.", speed=2.0)
    assert 0.4 < fast.duration_s / normal.duration_s < 0.6


def test_user_errors_are_typed(tts):
    with pytest.raises(TextError):
        tts.synthesize("")
    with pytest.raises(TextError):
        tts.synthesize("(happy)   ")
    with pytest.raises(TagError, match="nonsense"):
        tts.synthesize("(nonsense-tag)hi")
    with pytest.raises(TextError, match="stream"):
        tts.synthesize("a" * 100_001)


def test_tag_the_voice_lacks_is_refused(tts):
    missing = "粤语"
    assert missing not in tts.tag_keys
    with pytest.raises(TagError, match="not trained on tag '粤语'"):
        tts.synthesize("(Cantonese)hello")


class CountingEngine:
    """Delegates to the real engine and counts graph runs (to observe laziness)."""

    def __init__(self, engine):
        self.engine, self.runs = engine, 0

    def run(self, *args, **kwargs):
        self.runs += 1
        return self.engine.run(*args, **kwargs)


def test_stream_yields_first_chunk_before_computing_the_rest(voice_dir):
    tts = TTS(voice=voice_dir, provider="cpu")
    tts.engine = CountingEngine(tts.engine)
    stream = tts.stream(" ".join(f"This is sentence number {n}." for n in range(1, 21)))
    assert tts.engine.runs == 0  # validation only, nothing rendered yet
    first = next(stream)
    assert first.index == 0 and first.samples.size > 0
    assert tts.engine.runs == 1
    rest = list(stream)
    assert len(rest) == 19 and tts.engine.runs == 20


def test_a_long_first_sentence_streams_its_first_clause_first():
    text = "When the morning train finally arrived, everyone on the platform cheered. Then they boarded."
    split = list(TTS(provider="cpu", threads=1).stream(text))  # the default voice
    assert [chunk.text for chunk in split] == ["When the morning train finally arrived,",
                                               "everyone on the platform cheered.", "Then they boarded."]
    whole = list(TTS(provider="cpu", threads=1, split_first_clause=False).stream(text))
    whole_first = "When the morning train finally arrived, everyone on the platform cheered."
    assert [chunk.text for chunk in whole] == [whole_first, "Then they boarded."]
    assert split[0].duration_s < 0.6 * whole[0].duration_s  # the first audio waits for less of it
    assert abs(split[0].duration_s + split[1].duration_s - whole[0].duration_s) < 0.25 * whole[0].duration_s


def test_long_text_streams_in_bounded_memory_without_truncation(tts):
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    text = (sentence * (8_000 // len(sentence) + 1))[:8_000]
    words_in = len(text.split())
    tracemalloc.start()
    total_samples, words_out, chunks = 0, 0, 0
    for chunk in tts.stream(text):
        total_samples += chunk.samples.size
        words_out += len(chunk.text.split())
        chunks += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert words_out == words_in  # nothing dropped
    total_bytes = total_samples * 4
    assert total_bytes > 15e6  # the whole audio would be large (about three minutes)...
    assert peak < total_bytes / 4  # ...but streaming never holds it all


def test_four_threads_share_one_tts(tts):
    texts = [f"Thread {n} says hello to the world number {n}." for n in range(4)]
    expected = [tts.synthesize(t).samples for t in texts]
    results: dict[int, list[np.ndarray]] = {n: [] for n in range(4)}
    errors = []

    def work(n):
        try:
            for _ in range(3):
                results[n].append(tts.synthesize(texts[n]).samples)
        except Exception as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for n in range(4):
        for samples in results[n]:
            np.testing.assert_array_equal(samples, expected[n])


def test_runtime_never_imports_torch(voice_dir):
    code = ("import sys, steptts; tts = steptts.TTS(voice=sys.argv[1], provider='cpu'); "
            "a = tts.synthesize('Hello from steptts.'); assert a.samples.size > 0; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    done = subprocess.run([sys.executable, "-c", code, str(voice_dir)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_provider_fallback_and_errors(voice_dir):
    assert requested_providers("auto") == [CUDA, CPU]
    assert requested_providers("cpu") == [CPU]
    model = load_voice(voice_dir).model_path()
    engine = Engine(model, provider=[CUDA, CPU])  # CUDA is not usable here: falls back to CPU
    assert engine.provider == CPU
    auto = Engine(model, provider="auto")
    assert auto.provider == CPU
    import onnxruntime

    if CUDA not in onnxruntime.get_available_providers():
        with pytest.raises(ProviderError, match="CUDA was requested"):
            Engine(model, provider="cuda")
    with pytest.raises(ProviderError, match="unknown provider"):
        Engine(model, provider="tpu")


def test_missing_onnxruntime_names_both_extras(voice_dir):
    code = ("import sys; sys.modules['onnxruntime'] = None\n"
            "import steptts\n"
            "try:\n    steptts.TTS(voice=sys.argv[1])\n"
            "except steptts.ProviderError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code, str(voice_dir)], capture_output=True, text=True,
                          timeout=60)
    assert "steptts[cpu]" in done.stdout and "steptts[gpu]" in done.stdout


def test_threads_option_is_honoured(voice_dir):
    tts = TTS(voice=voice_dir, provider="cpu", threads=1)
    assert tts.engine.session.get_session_options().intra_op_num_threads == 1
    assert tts.synthesize("One thread.").samples.size > 0


def test_corrupt_voice_file_fails_checksum(voice_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(voice_dir, broken)
    model = broken / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(VoiceError, match="checksum mismatch for model.onnx"):
        load_voice(broken)


def test_voice_schema_and_missing_files(voice_dir, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(voice_dir, old)
    config = json.loads((old / "voice.json").read_text())
    config["schema_version"] = 99
    (old / "voice.json").write_text(json.dumps(config))
    with pytest.raises(VoiceError, match="schema_version 99"):
        load_voice(old)
    bad = tmp_path / "bad-substitutions"
    shutil.copytree(voice_dir, bad)
    config = json.loads((bad / "voice.json").read_text())
    for table in ({"ɒ": "no such symbol"}, {"aː": "ɑ"}, {"": ""}):  # unknown symbols; lengths differ
        config["phoneme_substitutions"] = table
        (bad / "voice.json").write_text(json.dumps(config))
        with pytest.raises(VoiceError, match="phoneme_substitutions"):
            load_voice(bad)
    gone = tmp_path / "gone"
    shutil.copytree(voice_dir, gone)
    (gone / "model.onnx").unlink()
    with pytest.raises(VoiceError, match="missing"):
        load_voice(gone)
    with pytest.raises(VoiceError, match="unknown voice 'nope'"):
        load_voice("nope")


def test_voices_are_found_through_the_environment(voice_dir, tmp_path, monkeypatch):
    shelf = tmp_path / "shelf"
    shutil.copytree(voice_dir, shelf / "my-voice")
    monkeypatch.setenv("STEPTTS_VOICES", str(shelf))
    names = [info.name for info in list_voices()]
    assert load_voice("my-voice").path == shelf / "my-voice"
    assert any(info.path == shelf / "my-voice" for info in list_voices()), names
