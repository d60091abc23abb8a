"""`steptts distill timbre`: pseudo-speakers from a rendered dataset, in a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from distill.dataset_store import DatasetWriter, read_manifest
from distill.pitch import f0_contour
from distill.timbre import TimbreShift, shifted_id

REPO = Path(__file__).resolve().parents[1]
RATE = 22050
HOP = 256
VOWEL_FORMANTS_HZ = (700.0, 1200.0, 2600.0)


def _vowel(n_frames: int, f0_hz: float) -> np.ndarray:
    """A steady vowel: harmonics of ``f0_hz`` shaped by three formant peaks, float32 [n_frames * HOP]."""
    t = np.arange(n_frames * HOP) / RATE
    audio = np.zeros_like(t)
    for k in range(1, int(5000 / f0_hz)):
        gain = sum(1.0 / (1.0 + ((k * f0_hz - f) / 120.0) ** 2) for f in VOWEL_FORMANTS_HZ)
        audio += gain * np.sin(2 * np.pi * k * f0_hz * t)
    return (0.3 * audio / np.abs(audio).max()).astype(np.float32)


def _source(folder: Path) -> list[dict]:
    """Four English records of one speaker (joe) and one of another (amy)."""
    records = []
    with DatasetWriter(folder) as writer:
        for index, voice in enumerate(["joe", "joe", "joe", "joe", "amy"]):
            durations = [8, 30, 30, 4]
            record = {"id": f"r{index}" * 32, "text": "Ah.", "phonemes": "ˈɑː.", "tags": [], "voice": voice,
                      "teacher": "piper", "language": "en-us", "sample_rate": RATE, "durations": durations,
                      "edits": [], "source": "test"}
            records.append(writer.write(record, _vowel(sum(durations), 110.0)))
    return records


def _timbre(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "true"}
    return subprocess.run([sys.executable, "-m", "steptts", "distill", "timbre", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _median_f0(audio: np.ndarray) -> float:
    f0 = f0_contour(audio.astype(np.float64), RATE, 1000.0 * HOP / RATE, 50.0, 600.0)
    return float(np.median(f0[f0 > 0]))


def _centroid_hz(audio: np.ndarray) -> float:
    """Spectral centroid of the whole clip's power spectrum, Hz."""
    power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1.0 / RATE)
    return float((power * freqs).sum() / power.sum())


def test_timbre_deals_records_to_pseudo_speakers_with_moved_pitch_and_formants(tmp_path):
    source, out = tmp_path / "source", tmp_path / "out"
    records = _source(source)
    before = (source / "manifest.jsonl").read_bytes()

    done = _timbre("--data", str(source), "--out", str(out), "--voice", "joe",
                   "--shift", "1.2:+5", "--shift", "1:-4:-3", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "4 records written" in done.stdout and "joe-f1.2-p+5: 2, joe-f1-p-4-t-3: 2" in done.stdout
    assert (source / "manifest.jsonl").read_bytes() == before  # the source stays as it was

    written = read_manifest(out)
    up, down = TimbreShift(1.2, 5.0), TimbreShift(1.0, -4.0, -3.0)
    assert [r["timbre_from"] for r in written] == [r["id"] for r in records[:4]]  # amy's left out
    assert [r["voice"] for r in written] == ["joe-f1.2-p+5", "joe-f1-p-4-t-3"] * 2
    for old, new, shift in zip(records, written, [up, down, up, down], strict=False):
        assert new["id"] == shifted_id(old["id"], shift)
        assert new["durations"] == old["durations"] and new["text"] == old["text"]
        tilted = ["spectral_tilt"] if shift is down else []
        assert [op["op"] for op in new["edits"]] == ["world", "formant_shift", "f0_shift", *tilted]
        old_audio, _ = sf.read(source / old["path"], dtype="float32")
        new_audio, rate = sf.read(out / new["path"], dtype="float32")
        assert rate == RATE and new_audio.size == old_audio.size
        # F0 moves by the shift (within a quarter tone); the formants follow the ratio, the tilt darkens.
        moved = 12.0 * np.log2(_median_f0(new_audio) / _median_f0(old_audio))
        assert abs(moved - shift.semitones) < 0.5, moved
        centroid_ratio = _centroid_hz(new_audio) / _centroid_hz(old_audio)
        if shift is up:
            assert 1.1 < centroid_ratio < 1.3, centroid_ratio
        else:
            assert 0.6 < centroid_ratio < 0.95, centroid_ratio


def test_timbre_resumes_after_an_interruption(tmp_path):
    source, out = tmp_path / "source", tmp_path / "out"
    _source(source)
    args = ["--data", str(source), "--out", str(out), "--shift", "1.1:+3", "--per-record", "1",
            "--workers", "1"]
    assert _timbre(*args).returncode == 0
    manifest = out / "manifest.jsonl"
    complete = manifest.read_text().splitlines()
    assert len(complete) == 5
    # As if killed while writing the third record: two whole lines and a torn one.
    manifest.write_text("\n".join(complete[:2]) + "\n" + complete[2][:25])
    again = _timbre(*args)
    assert again.returncode == 0, again.stderr
    assert "3 records written, 2 already in" in again.stdout
    assert [r["id"] for r in read_manifest(out)] == [json.loads(line)["id"] for line in complete]
    assert "0 records written, 5 already in" in _timbre(*args).stdout


def test_timbre_bad_input_gets_one_line_and_exit_2(tmp_path):
    source = tmp_path / "source"
    _source(source)
    good = ["--shift", "1.1:+3"]
    data = ["--data", str(source)]
    cases = [
        (["--data", str(tmp_path / "none"), "--out", str(tmp_path / "o1"), *good], "not a steptts dataset"),
        ([*data, "--out", str(source), *good], "another folder"),
        ([*data, "--out", str(tmp_path / "o2"), "--shift", "1.1"], "RATIO:SEMITONES"),
        ([*data, "--out", str(tmp_path / "o3"), "--shift", "2:+3"], "formant ratio 2"),
        ([*data, "--out", str(tmp_path / "o4"), "--shift", "1:+30"], "semitones 30"),
        ([*data, "--out", str(tmp_path / "o7"), "--shift", "1:+3:9"], "tilt 9"),
        ([*data, "--out", str(tmp_path / "o5"), *good, "--per-record", "2"], "--per-record"),
        ([*data, "--out", str(tmp_path / "o6"), *good, "--voice", "bob"], "no records of voice"),
    ]
    for args, message in cases:
        result = _timbre(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
