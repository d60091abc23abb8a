"""`steptts distill retone`: a rendered dataset's Mandarin records get the tone edit, in a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from distill.dataset_store import DatasetWriter, read_manifest
from distill.retone import retoned_id
from steptts.languages.mandarin import phonemize
from steptts.phonemes import tokenize

REPO = Path(__file__).resolve().parents[1]
RATE = 22050
HOP = 256


def _sweep(n_frames: int, low_hz: float = 150.0, high_hz: float = 250.0) -> np.ndarray:
    """A harmonic tone gliding from ``low_hz`` to ``high_hz``: float32 [n_frames * HOP]."""
    n = n_frames * HOP
    f0 = low_hz + (high_hz - low_hz) * np.arange(n) / n
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 12))).astype(np.float32)


def _record(name: str, text: str, phonemes: str, durations: list[int], language: str, **more) -> dict:
    return {"id": name * 8, "text": text, "phonemes": phonemes, "tags": [], "voice": "jm_kumo",
            "teacher": "kokoro", "language": language, "sample_rate": RATE, "durations": durations,
            "edits": [], "source": "test", **more}


def _source(folder: Path) -> list[dict]:
    """A dataset of four records: two editable Mandarin lines, one edited earlier, one English."""
    records = []
    with DatasetWriter(folder) as writer:
        for name, text in (("a1", "你好。"), ("b2", "老师好。")):
            phonemes = phonemize(text)
            durations = [8] + [6] * (len(tokenize(phonemes)) - 2) + [4]
            records.append(writer.write(_record(name, text, phonemes, durations, "cmn"), _sweep(sum(durations))))
        phonemes = phonemize("谢谢。")
        durations = [8] + [6] * (len(tokenize(phonemes)) - 2) + [4]
        records.append(writer.write(_record("c3", "谢谢。", phonemes, durations, "cmn", tags=["高兴"],
                                            edits=[{"op": "emotion"}]), _sweep(sum(durations))))
        records.append(writer.write(_record("d4", "Hello.", "həlˈoʊ.", [8, 6, 6, 6, 6, 6, 6, 4], "en-us"),
                                    _sweep(48)))
    return records


def _retone(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "true"}
    return subprocess.run([sys.executable, "-m", "steptts", "distill", "retone", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_retone_edits_mandarin_records_and_carries_the_rest(tmp_path):
    source, out = tmp_path / "source", tmp_path / "out"
    records = _source(source)
    before = (source / "manifest.jsonl").read_bytes()

    done = _retone("--data", str(source), "--out", str(out), "--strength", "0.8", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "2 records tone-edited, 2 carried over unchanged" in done.stdout
    assert (source / "manifest.jsonl").read_bytes() == before  # the source stays as it was

    written = read_manifest(out)
    assert [r.get("retoned_from", r["id"]) for r in written] == [r["id"] for r in records]  # same order
    for old, new in zip(records, written, strict=True):
        old_audio, _ = sf.read(source / old["path"], dtype="float32")
        new_audio, rate = sf.read(out / new["path"], dtype="float32")
        assert rate == RATE and new_audio.size == old_audio.size and new["durations"] == old["durations"]
        if old["id"] in ("a1" * 8, "b2" * 8):
            assert new["id"] == retoned_id(old["id"], 0.8)
            assert new["edits"][0]["op"] == "tone" and new["edits"][0]["strength"] == 0.8
            assert np.abs(new_audio - old_audio).max() > 0.05  # the audio changed
        else:
            assert {k: v for k, v in new.items() if k != "path"} == {k: v for k, v in old.items() if k != "path"}
            assert np.abs(new_audio - old_audio).max() < 1e-3  # carried (FLAC PCM_16 both ways)


def test_retone_resumes_after_an_interruption(tmp_path):
    source, out = tmp_path / "source", tmp_path / "out"
    _source(source)
    assert _retone("--data", str(source), "--out", str(out), "--workers", "1").returncode == 0
    manifest = out / "manifest.jsonl"
    complete = manifest.read_text().splitlines()
    # As if killed while writing the third record: two whole lines and a torn one.
    manifest.write_text("\n".join(complete[:2]) + "\n" + complete[2][:25])
    again = _retone("--data", str(source), "--out", str(out), "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert "2 already in" in again.stdout
    assert [r["id"] for r in read_manifest(out)] == [json.loads(line)["id"] for line in complete]
    once_more = _retone("--data", str(source), "--out", str(out), "--workers", "1")
    assert "0 records tone-edited, 0 carried over unchanged, 4 already in" in once_more.stdout


def test_retone_bad_input_gets_one_line_and_exit_2(tmp_path):
    source = tmp_path / "source"
    _source(source)
    cases = [
        (["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o1")], "not a steptts dataset"),
        (["--data", str(source), "--out", str(source)], "another folder"),
        (["--data", str(source), "--out", str(tmp_path / "o2"), "--strength", "1.5"], "--strength"),
        (["--data", str(source), "--out", str(tmp_path / "o3"), "--voice", "jf_nobody"], "no records of voice"),
    ]
    for args, message in cases:
        result = _retone(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
