"""The embedded default voice: it ships in the package, verifies, declares its tags, and speaks."""

import json
import subprocess
import sys

import numpy as np

from steptts import TTS
from steptts.voice import default_voice_name, load_voice

REQUIRED_TAGS = ["高兴1", "高兴2", "生气1", "生气2", "悲伤1", "悲伤2", "撒娇1", "撒娇2",
                 "慢速1", "慢速2", "快速1", "快速2", "哼唱", "RAP", "American", "British", "Scottish"]


def test_default_voice_is_packaged_verified_and_small():
    voice = load_voice()  # checks every sha256 and the schema version
    assert voice.name == default_voice_name()
    assert voice.model_path("fp32").stat().st_size <= 25_000_000  # the nano preset's bound
    assert voice.size_bytes <= 40_000_000  # with the fp16 graph for CUDA
    for key in REQUIRED_TAGS:
        assert key in voice.tag_keys, key
    provenance = voice.provenance
    assert "piper" in json.dumps(provenance["teacher"]) and provenance["steps"] > 0
    assert voice.parity["fp32"]["snr_db"] >= 40


def test_default_voice_speaks_without_torch(tmp_path):
    out = tmp_path / "hello.wav"
    code = ("import sys, steptts; audio = steptts.TTS().synthesize('Hello from steptts.'); "
            "audio.save(sys.argv[1]); assert 'torch' not in sys.modules; print(audio.duration_s)")
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 0.5 < float(done.stdout) < 5


def test_default_voice_sings_the_given_melody_and_raps():
    tts = TTS(provider="cpu")
    sung = tts.synthesize("(singing)Twinkle twinkle little star", melody="C4:1 C4:1 G4:1 G4:1 A4:1 A4:1 G4:2",
                          bpm=100)
    # seven notes at 100 bpm last 4.8 s; the sung line follows the melody's length
    assert 4.0 < sung.duration_s < 7.0
    rap = tts.synthesize("(rap)We keep it moving on the beat tonight", bpm=95)
    assert rap.samples.size > 0 and np.isfinite(rap.samples).all()


def test_accent_symbols_the_voice_never_learned_reach_the_graph_as_their_neighbours():
    from distill.teachers import ENGLISH_ACCENT_FALLBACKS
    from steptts import g2p
    from steptts.phonemes import substitute

    tts = TTS(provider="cpu")
    voice = tts.voice
    assert voice.phoneme_substitutions == ENGLISH_ACCENT_FALLBACKS
    text = "The lock on the red door is off."
    raw = g2p.phonemize(text, "en-gb-scotland")
    assert "ɒ" in raw and "r" in raw  # espeak-ng's Scottish variant writes both
    spoken = substitute(raw, voice.phoneme_substitutions)
    assert "ɒ" not in spoken and "r" not in spoken and spoken != g2p.phonemize(text, "en-us")

    def graph_audio(phonemes: str) -> np.ndarray:
        ids = np.array(voice.phoneme_vocab.encode(phonemes)[0], np.int64)
        tag = np.array([voice.tag_vocab["Scottish"]], np.int64)
        return tts.engine.run(ids, tag, 0, np.array([1.0, 0.0, 0.0], np.float32)).audio

    heard = tts.synthesize("(Scottish)" + text).samples
    assert np.array_equal(heard, graph_audio(spoken))
    assert not np.array_equal(heard, graph_audio(raw))


def test_melody_and_bpm_reach_the_graph():
    tts = TTS(provider="cpu")
    text = "(singing)Row row row your boat"
    slow = tts.synthesize(text, melody="C4:2 C4:2 C4:2 D4:1 E4:2", bpm=80)
    fast = tts.synthesize(text, melody="C4:1 C4:1 C4:1 D4:0.5 E4:1", bpm=80)
    assert slow.duration_s > 1.5 * fast.duration_s
    low = tts.synthesize(text, melody="C3:1 C3:1 C3:1 C3:1 C3:1", bpm=100)
    high = tts.synthesize(text, melody="G4:1 G4:1 G4:1 G4:1 G4:1", bpm=100)
    assert not np.array_equal(low.samples, high.samples)
    assert abs(low.duration_s - high.duration_s) < 0.05  # same rhythm, other notes
    rap = "(rap)We keep it moving on the beat tonight"
    assert tts.synthesize(rap, bpm=60).duration_s > tts.synthesize(rap, bpm=140).duration_s


def test_cli_passes_melody_and_bpm(tmp_path):
    import soundfile

    out = tmp_path / "star.wav"
    done = subprocess.run([sys.executable, "-m", "steptts", "say", "(singing)Twinkle twinkle little star",
                           "--melody", "C4:1 C4:1 G4:1 G4:1 A4:1 A4:1 G4:2", "--bpm", "100", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 4.0 < soundfile.info(out).duration < 7.0
    bad = subprocess.run([sys.executable, "-m", "steptts", "say", "(singing)la la", "--melody", "H9:x"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1



def test_substitutions_take_the_longest_key_and_keep_token_counts():
    from distill.teachers import ENGLISH_ACCENT_FALLBACKS
    from steptts.phonemes import substitute, tokenize

    cases = {
        "ðə bˈak dˈɔː tənˈaɪt.": "ðə bˈæk dˈɔː tənˈaɪt.",  # a lone a → æ; the diphthong aɪ stays
        "ɡˈaːrdən ˈaːftɜ": "ɡˈɑːɹdən ˈɑːftɜ",  # long aː → ɑː, Scottish r → ɹ
        "haʊ lˈɒk": "haʊ lˈɑk",
    }
    for raw, spoken in cases.items():
        assert substitute(raw, ENGLISH_ACCENT_FALLBACKS) == spoken
        assert len(tokenize(spoken)) == len(tokenize(raw))
    assert substitute("bˈak", {}) == "bˈak"


def test_scottish_bath_vowel_is_a_length_mark_not_a_pause():
    from steptts import g2p

    phonemes = g2p.phonemize("Could you pass me the salt after the rain?", "en-gb-scotland")
    assert "pˈaːs" in phonemes and "ˈaːft" in phonemes
    assert ":" not in phonemes  # espeak-ng writes "a:"; a voice would read the colon as punctuation
    assert g2p.phonemize("The spa: open.", "en-gb-scotland").count(":") == 1  # the text's colon stays
