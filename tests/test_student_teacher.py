"""`steptts distill data --teacher student`: a shipped voice's speech as training data, in a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from distill.dataset_store import read_manifest
from steptts import TTS
from steptts.phonemes import tokenize

REPO = Path(__file__).resolve().parents[1]
HOP = 256
LINES = {"en.txt": "The quick brown fox jumps.", "zh.txt": "老师好。"}


def _data(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    for name, line in LINES.items():
        (tmp_path / name).write_text(line + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "true"}
    command = [sys.executable, "-m", "steptts", "distill", "data", "--teacher", "student", "--workers", "1",
               "--texts", str(tmp_path / "en.txt"), str(tmp_path / "zh.txt"), *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_the_student_teacher_records_the_voices_own_speech_with_its_durations(tmp_path):
    out = tmp_path / "rehearsal"
    done = _data(tmp_path, "--model", "bilingual-nano", "--voice", "jm_kumo", "--tag-plan", "none",
                 "--out", str(out))
    assert done.returncode == 0, done.stderr
    records = read_manifest(out)
    assert [r["language"] for r in records] == ["en-us", "cmn"]
    tts = TTS(voice="bilingual-nano")
    for record, text in zip(records, LINES.values(), strict=True):
        assert record["teacher"] == "student:bilingual-nano" and record["voice"] == "jm_kumo"
        assert len(record["durations"]) == len(tokenize(record["phonemes"]))
        audio, rate = sf.read(out / record["path"], dtype="float32")
        assert rate == 22050 and audio.size == sum(record["durations"]) * HOP
        # The same speech the runtime gives (FLAC's 16 bits apart).
        spoken = tts.synthesize(text, speaker="jm_kumo").samples
        assert spoken.size == audio.size and np.abs(spoken - audio).max() < 2e-3


def test_tags_the_graph_performs_are_rendered_and_singing_is_edited(tmp_path):
    plan = tmp_path / "plan.json"
    for tag, edited in (("高兴2", False), ("哼唱", True)):
        plan.write_text(json.dumps({tag: 1.0}), encoding="utf-8")
        out = tmp_path / tag
        done = _data(tmp_path, "--model", "bilingual-nano", "--tag-plan", str(plan), "--out", str(out))
        assert done.returncode == 0, done.stderr
        records = read_manifest(out)
        assert records and all(r["tags"] == [tag] for r in records)
        assert all(bool(r["edits"]) == edited for r in records), [r["edits"] for r in records]


def test_an_unknown_speaker_is_one_line_and_exit_2(tmp_path):
    result = _data(tmp_path, "--model", "bilingual-nano", "--voice", "nobody", "--out", str(tmp_path / "x"))
    assert result.returncode == 2, result.stderr
    assert "no speaker 'nobody'" in result.stderr and result.stderr.count("\n") == 1, result.stderr
