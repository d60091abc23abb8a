"""`--tags` measurements: singing and rap metrics on signals with known answers, and the tag run on
real renderings (the Piper teacher's own speed and accent tags, and its edited singing)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distill.music_measures import beat_errors_s, ioi_cv, note_hold_ratio, onset_times_s, pitch_accuracy
from distill.pitch import FRAME_PERIOD_MS, f0_contour
from distill.systems import TeacherSystem
from distill.tag_eval import TagEvalConfig, run_tag_eval

RATE = 22050
FRAME_S = FRAME_PERIOD_MS / 1000.0
MELODY = [(60.0, 1.0), (62.0, 1.0), (64.0, 1.0), (65.0, 1.0), (67.0, 2.0)]  # C4 D4 E4 F4 G4:2
BPM = 120.0


def midi_hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69.0) / 12.0)


def sing(notes: list[tuple[float, float]], bpm: float, lead_s: float = 0.4) -> np.ndarray:
    """Harmonic tones on ``notes`` (midi, beats), phase-continuous, after ``lead_s`` of silence."""
    f0 = np.concatenate([np.full(int(beats * 60.0 / bpm * RATE), midi_hz(midi)) for midi, beats in notes])
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 5)) * 0.2
    return np.concatenate([np.zeros(int(lead_s * RATE)), voice, np.zeros(int(0.3 * RATE))]).astype(np.float32)


def test_tones_on_the_melody_score_near_one_and_off_melody_near_zero():
    on_tune = pitch_accuracy(f0_contour(sing(MELODY, BPM), RATE), FRAME_S, MELODY, BPM)
    assert on_tune.time_aligned > 0.95
    assert on_tune.nearest_note > 0.95
    assert on_tune.anchor_s == pytest.approx(0.4, abs=0.05)
    # A semitone sharp throughout: frames miss by ~100 cents (bar a few where a shifted start lines
    # a sharp note up with the next note of the melody).
    sharp = [(m + 1.0, b) for m, b in MELODY]
    assert pitch_accuracy(f0_contour(sing(sharp, BPM), RATE), FRAME_S, MELODY, BPM).time_aligned < 0.15
    # The right notes in the wrong order: the lenient figure is fooled, the time-aligned one is not.
    shuffled = [MELODY[2], MELODY[0], MELODY[3], MELODY[1], MELODY[4]]
    wrong_order = pitch_accuracy(f0_contour(sing(shuffled, BPM), RATE), FRAME_S, MELODY, BPM)
    assert wrong_order.nearest_note > 0.95
    assert wrong_order.time_aligned < 0.5


def test_a_melody_longer_than_its_notes_is_cycled():
    twice = pitch_accuracy(f0_contour(sing(MELODY * 2, BPM), RATE), FRAME_S, MELODY, BPM)
    assert twice.time_aligned > 0.95


def test_note_hold_is_high_for_held_notes_and_low_for_a_glide():
    held = f0_contour(sing(MELODY, BPM), RATE)
    assert note_hold_ratio(held, FRAME_S) > 0.9
    # A voice gliding up two octaves per second never holds 50 cents for 150 ms.
    seconds = np.arange(int(1.2 * RATE)) / RATE
    f0 = 110.0 * 2 ** (2 * seconds)
    glide = (0.2 * np.sin(2 * np.pi * np.cumsum(f0) / RATE)).astype(np.float32)
    assert note_hold_ratio(f0_contour(glide, RATE), FRAME_S) < 0.1


def clicks(times_s: np.ndarray, duration_s: float) -> np.ndarray:
    audio = np.zeros(int(duration_s * RATE), np.float32)
    burst = np.random.default_rng(0).normal(0, 0.3, int(0.006 * RATE)) * np.hanning(int(0.006 * RATE))
    for t in times_s:
        start = int(t * RATE)
        audio[start : start + burst.size] += burst.astype(np.float32)
    return audio


def test_clicks_on_the_beat_grid_have_no_onset_error():
    step = 60.0 / 100.0 / 2  # eighth notes at 100 bpm
    times = 0.25 + step * np.array([0, 1, 2, 4, 5, 6, 7, 9, 10, 12])  # some grid points skipped
    onsets = onset_times_s(clicks(times, 4.5), RATE)
    assert len(onsets) == len(times)
    assert np.median(beat_errors_s(onsets, 100.0, 2)) < 0.010
    assert ioi_cv(onsets) > 0.2  # skipped points make the intervals irregular
    # The same clicks jittered by ±60–100 ms are off the grid.
    jitter = np.random.default_rng(2).choice([-1, 1], len(times)) * np.random.default_rng(3).uniform(
        0.06, 0.1, len(times)
    )
    jitter[0] = 0.0
    off = onset_times_s(clicks(times + jitter, 4.5), RATE)
    assert np.median(beat_errors_s(off, 100.0, 2)) > 0.05


def test_evenly_spaced_clicks_are_regular():
    onsets = onset_times_s(clicks(0.2 + 0.3 * np.arange(8), 3.0), RATE)
    assert ioi_cv(onsets) < 0.05


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return ["The bus was twenty minutes late again this morning. It rained all day."]


@pytest.fixture(scope="module")
def system() -> TeacherSystem:
    """Piper renders speeds and accents itself; emotions, singing and rap through the audio edits."""
    return TeacherSystem(threads=1, edit_tags=True)


def test_tag_run_on_the_teachers_own_speed_and_accent_tags(tmp_path, lines, system):
    report = run_tag_eval(system, lines, tmp_path, TagEvalConfig(lines=1, keys=["快速2", "British"]))
    assert report["sentences"] == ["The bus was twenty minutes late again this morning."]
    rows = {row["label"]: row for row in report["tags"]}
    assert set(rows) == {"快速2", "British"}
    faster = rows["快速2"]
    # Piper rounds each scaled phoneme duration up to whole frames, so it lands above 0.75.
    assert 0.70 < faster["effects"]["duration_ratio"] < 0.83
    assert [c["item"] for c in faster["checks"]] == ["duration", "WER"]
    assert faster["checks"][0]["pass"] is True
    british = rows["British"]
    assert british["effects"]["phonemes_differ_share"] == 1.0  # en-gb drops the r of "morning"
    assert british["checks"][0]["pass"] is True
    saved = json.loads((tmp_path / "tags.json").read_text(encoding="utf-8"))
    assert saved["passed"] == report["passed"] and saved["passed"] + saved["failed"] == 4
    table = (tmp_path / "tags.md").read_text(encoding="utf-8")
    assert "| 快速2 |" in table and "×0.75 ±10 %" in table
    assert (tmp_path / "plots" / "tag_快速2.png").read_bytes()[:4] == b"\x89PNG"


def test_tag_run_on_edited_singing(tmp_path, lines, system):
    """The data engine's singing edit holds notes; neutral speech does not. A system that cannot
    follow a given melody gets an error row, not a crash."""
    report = run_tag_eval(system, lines, tmp_path, TagEvalConfig(lines=1, keys=["哼唱"], plots=False))
    rows = {row["label"]: row for row in report["tags"]}
    assert "takes no bpm, melody" in rows["哼唱 (melody)"]["error"]
    own = rows["哼唱 (own tune)"]
    assert own["effects"]["note_hold"] >= 0.3
    assert own["effects"]["neutral_note_hold"] <= 0.1
    assert [c["pass"] for c in own["checks"]] == [True, True]
    assert report["errors"] == 1
    assert "error: the piper:en_US-joe-medium+edits teacher takes no" in (tmp_path / "tags.md").read_text(
        encoding="utf-8"
    )


def test_eval_with_tags_on_a_tiny_exported_voice(tmp_path, voice_dir):
    """The whole `eval --tags` path with a real student: a tiny voice trained and exported by the
    tests (its audio is far from speech; the point is the real runtime path, not its scores)."""
    from distill.evaluate import EvalConfig, run_eval
    from distill.tag_eval import SPEED_TARGETS
    from steptts.errors import TagError
    from steptts.voice import load_voice

    declared = load_voice(voice_dir).tag_keys
    key = next((k for k in declared if k in SPEED_TARGETS), declared[0])
    texts = tmp_path / "lines.txt"
    texts.write_text("Turn left at the bakery and walk two more blocks.\n", encoding="utf-8")
    out = tmp_path / "report"
    config = EvalConfig(
        texts_path=texts,
        out_dir=out,
        voice=str(voice_dir),
        threads=1,
        tags=True,
        tag_lines=1,
        tag_keys=[key],
        latency_runs=1,
        plot_lines=1,
    )
    report = run_eval(config)
    student = report["summary"]["student"]
    assert report["systems"]["student"]["name"] == "student:tiny-test"
    assert student["rtf"] > 0 and student["first_chunk_ms"] > 0 and student["mcd_db"] > 0
    tags = json.loads((out / "tags.json").read_text(encoding="utf-8"))
    assert tags["system"] == "student:tiny-test" and tags["declared_tags"] == declared
    (row,) = tags["tags"]
    assert row["key"] == key and "error" not in row and row["checks"]
    assert report["tags"]["passed"] + report["tags"]["failed"] == len(row["checks"])
    assert f"| {key} |" in (out / "tags.md").read_text(encoding="utf-8")
    assert "Tag measurements: see `tags.md`" in (out / "report.md").read_text(encoding="utf-8")
    with pytest.raises(TagError, match="does not declare"):
        run_eval(
            EvalConfig(
                texts_path=texts,
                out_dir=tmp_path / "again",
                voice=str(voice_dir),
                tags=True,
                tag_keys=["RAP"] if "RAP" not in declared else ["Caribbean"],
                latency_runs=1,
                plot_lines=0,
                save_audio=False,
            )
        )
