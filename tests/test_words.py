"""Word timestamps from the graph's durations (Audio.words) and `steptts say --subtitles`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from steptts import TTS, g2p
from steptts.phonemes import substitute
from steptts.subtitles import cues, to_srt
from steptts.words import Word, phoneme_word_spans, word_timings

REPO = Path(__file__).resolve().parents[1]


def test_word_timings_follow_the_space_tokens():
    tokens = ["^", "h", "a", "ɪ", " ", "j", "u", ".", "$"]
    durations = np.array([2, 3, 4, 5, 1, 2, 6, 7, 3])
    assert phoneme_word_spans(tokens, durations) == [(2, 14, 3), (15, 23, 2)]
    words = word_timings("Hi, you.", tokens, durations, 0.01)
    assert words == [Word("Hi", 0.02, 0.14), Word("you", 0.15, 0.23)]


def test_joined_phoneme_words_share_their_span_by_length():
    # espeak-ng joins "of the" into one phoneme word: three text words, two phoneme words.
    tokens = ["^", "ʌ", "v", "ð", "ə", " ", "k", "æ", "t", "$"]
    durations = np.array([1, 2, 2, 2, 3, 1, 3, 3, 3, 1])
    words = word_timings("of the cat", tokens, durations, 1.0)
    assert [w.word for w in words] == ["of", "the", "cat"]
    assert words[0].start_s == 1 and words[1].end_s == 10 and words[2].start_s == 11 and words[2].end_s == 20
    assert words[0].end_s == pytest.approx(1 + 9 * 2 / 5)


def test_audio_words_agree_with_the_graph_durations_within_one_frame():
    tts = TTS(provider="cpu", threads=1)
    # The first sentence is spoken as two chunks, cut after its first clause (split_first_clause).
    sentences = ["Hello there,", "my friend.", "The quick brown fox jumps over the lazy dog!"]
    audio = tts.synthesize(" ".join(sentences))
    assert [timing.text for timing in audio.timings] == sentences
    voice = tts.voice
    frame_s = voice.hop_length / voice.sample_rate_hz
    expected, offset_s = [], 0.0
    for sentence in sentences:  # the graph run again, independently of the API's word code
        phonemes = substitute(g2p.phonemize(sentence, voice.language), voice.phoneme_substitutions)
        ids, tokens = voice.phoneme_vocab.encode(phonemes)
        controls = np.array([1.0, 0.0, 0.0], np.float32)
        out = tts.engine.run(np.array(ids), np.zeros(0, np.int64), 0, controls)
        ends = np.cumsum(out.durations)
        starts = ends - out.durations
        in_word = [t not in " ^$,.!?" for t in tokens]
        boundaries = [i for i in range(len(tokens)) if in_word[i] and (i == 0 or not in_word[i - 1])]
        for first in boundaries:
            last = first
            while last + 1 < len(tokens) and in_word[last + 1]:
                last += 1
            expected.append((offset_s + starts[first] * frame_s, offset_s + ends[last] * frame_s))
        offset_s += len(out.audio) / voice.sample_rate_hz
    words = audio.words
    assert [w.word for w in words] == ["Hello", "there", "my", "friend", "The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    assert len(expected) == len(words)
    for word, (start_s, end_s) in zip(words, expected):
        assert abs(word.start_s - start_s) <= frame_s and abs(word.end_s - end_s) <= frame_s, word
    assert words[-1].end_s <= audio.duration_s


def test_cues_break_at_pauses_and_lengths():
    words = [Word(f"w{i}", i * 0.3, i * 0.3 + 0.25) for i in range(10)]
    assert [text for _, _, text in cues(words, max_words=4)] == ["w0 w1 w2 w3", "w4 w5 w6 w7", "w8 w9"]
    srt = to_srt(words[:2])
    assert srt == "1\n00:00:00,000 --> 00:00:00,550\nw0 w1\n"


@pytest.mark.parametrize("suffix", [".srt", ".vtt"])
def test_say_writes_subtitles_that_ffmpeg_reads(tmp_path, suffix):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / f"hello{suffix}"
    text = "Hello there, my friend. The quick brown fox jumps over the lazy dog!"
    result = subprocess.run([sys.executable, "-m", "steptts", "say", text, "-o", str(tmp_path / "a.wav"),
                             "--subtitles", str(out), "--provider", "cpu"], check=False, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    container = av.open(str(out))
    stream = container.streams.subtitles[0]
    parsed = []
    for packet in container.demux(stream):
        if packet.pts is not None:
            parsed += [(float(packet.pts * stream.time_base), sub.dialogue.decode() if isinstance(
                sub.dialogue, bytes) else sub.dialogue) for sub in packet.decode()]
    assert " ".join(text for _, text in parsed) == "Hello there my friend The quick brown fox jumps over the lazy dog"
    starts = [start for start, _ in parsed]
    assert starts == sorted(starts) and len(parsed) >= 2
    bad = subprocess.run([sys.executable, "-m", "steptts", "say", "Hi.", "-o", str(tmp_path / "b.wav"),
                          "--subtitles", str(tmp_path / "x.txt")], check=False, env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and ".srt or .vtt" in bad.stderr
