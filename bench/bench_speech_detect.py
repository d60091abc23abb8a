"""Does the clone's speech finder tell a voice from noise and music? Rendered speech against generated sounds.

For each clip: seconds of sound (frames over the sound floor), seconds the Silero detector takes for
speech, their ratio, and the verdict of :mod:`distill.clone_prepare` (a recording whose sound is under
``MIN_SPEECH_SHARE`` speech is noise or music). Speech comes from the shipped student (joe-nano) and
from espeak-ng (English and Mandarin); the rest is generated here with a fixed seed.

    PYTHONPATH=$PWD python bench/bench_speech_detect.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ARCTIC = REPO.parent / "shared" / "data" / "arctic_prompts.tsv"
RATE_HZ = 22050


def _lines(count: int) -> list[str]:
    rows = ARCTIC.read_text(encoding="utf-8").splitlines()[-count:]  # the end of the file: no tuning lines
    return [row.split("\t")[-1].strip() for row in rows]


def _join(pieces: list[np.ndarray], pause_s: float = 0.5) -> np.ndarray:
    gap = np.zeros(int(pause_s * RATE_HZ), np.float32)
    return np.concatenate([part for piece in pieces for part in (piece, gap)])


def speech_clips(seconds: float) -> dict[str, np.ndarray]:
    """Speech of the shipped student and of espeak-ng, about ``seconds`` long each."""
    from distill.teachers import EspeakTeacher
    from steptts import TTS

    student = TTS()
    english = _lines(12)
    clips = {"speech: joe-nano": _join([student.synthesize(line).samples for line in english])}
    espeak = EspeakTeacher()
    clips["speech: espeak-ng en-us"] = _join([espeak.synthesize(line, [], "en-us")[0] for line in english])
    mandarin = ["今天天气很好，我们去公园散步吧。", "这本书我已经看了三遍了。", "请把窗户关上，外面太冷了。",
                "他每天早上六点起床跑步。", "我们明天下午在图书馆见面。", "这个问题其实没有那么复杂。"]
    clips["speech: espeak-ng cmn"] = _join([EspeakTeacher(language="cmn").synthesize(s, [], "cmn")[0]
                                            for s in mandarin])
    return {name: clip[: int(seconds * RATE_HZ)] for name, clip in clips.items()}


def _tone(frequency_hz: np.ndarray, partials: int = 6) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(frequency_hz) / RATE_HZ
    return sum(np.sin(k * phase) / k for k in range(1, partials + 1)) / 2.0


def sound_clips(seconds: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Noise and music, generated: ``seconds`` long each, at about -20 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE_HZ)
    time_s = np.arange(n) / RATE_HZ
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(2205) / 2205, mode="same")  # keep it from wandering off
    notes = 220.0 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12], size=int(seconds * 2)) / 12)
    melody = _tone(np.repeat(notes, n // len(notes) + 1)[:n]) * np.tile(np.hanning(n // len(notes) + 1),
                                                                         len(notes))[:n]
    chord = sum(_tone(np.full(n, f)) for f in (261.6, 329.6, 392.0)) / 3
    drums = np.zeros(n)
    hits = np.arange(0, n, RATE_HZ // 4)
    drums[hits] = rng.choice([1.0, 0.5], size=len(hits))
    drums = np.convolve(drums, rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300), mode="same")
    vibrato_hz = 330.0 * 2 ** (0.3 * np.sin(2 * np.pi * 5.5 * time_s) / 12)
    vibrato = _tone(vibrato_hz) + 0.02 * rng.standard_normal(n)
    clips = {"noise: white": rng.standard_normal(n), "noise: brown": brown, "music: melody": melody,
             "music: chord": chord, "music: drums": drums, "music: sung vowel with vibrato": vibrato}
    return {name: _level(clip, -20.0) for name, clip in clips.items()}


def _level(clip: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2)))
    return (clip * (10 ** (dbfs / 20) / max(rms, 1e-12))).astype(np.float32)


def main() -> None:
    from distill.recordings import MIN_SPEECH_SHARE, speech_segments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each clip.")
    args = parser.parse_args()
    clips = {**speech_clips(args.seconds), **sound_clips(args.seconds)}
    speech = clips["speech: joe-nano"]
    music = clips["music: melody"][: len(speech)]
    clips["speech: joe-nano over the melody at -10 dB"] = _level(speech, -20.0) + _level(music, -30.0)
    print(f"{'clip':48} {'length s':>8} {'sound s':>8} {'speech s':>8} {'share':>6}  verdict    VAD s")
    for name, clip in clips.items():
        started = time.perf_counter()
        found = speech_segments(clip, RATE_HZ)
        elapsed = time.perf_counter() - started
        verdict = "speech" if found.speech_share >= MIN_SPEECH_SHARE else "not speech"
        print(f"{name:48} {len(clip) / RATE_HZ:8.1f} {found.sound_s:8.1f} {found.speech_s:8.1f} "
              f"{found.speech_share:6.2f}  {verdict:10} {elapsed:5.2f}")


if __name__ == "__main__":
    main()
