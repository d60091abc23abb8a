"""`steptts distill clone`: real recordings (rendered by the shipped voice) through the real CLI.

Every bad input exits 2 with one line; stage 1 prepares the utterances, resumes, and survives a SIGKILL
(runs stop after it with ``--stop-after``); stage 3 aligns transcribed recordings. The later stages
(transcribe, adapt, export, the remote teacher) are tested in tests/test_clone_stages.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill.clone_prepare import MIN_SPEECH_S
from distill.dataset_store import read_manifest
from distill.recordings import read_recording, resample
from tests.conftest import ARCTIC, REPO

RATE_HZ = 22050
N_SENTENCES = 13  # about 35 s of speech from the shipped voice, used twice where more is needed


@pytest.fixture(scope="module")
def sentences() -> list[np.ndarray]:
    """ARCTIC lines spoken by joe-nano, float32 at 22050 Hz each: N_SENTENCES lines, then each again
    0.8 times as loud (so that no two files are the same bytes)."""
    from steptts import TTS

    tts = TTS()
    spoken = [tts.synthesize(text).samples for text in _texts()[:N_SENTENCES]]
    return spoken + [0.8 * audio for audio in spoken]


def _texts() -> list[str]:
    rows = ARCTIC.read_text(encoding="utf-8").splitlines()[:N_SENTENCES]
    return [row.split("\t")[-1].strip() for row in rows] * 2


def _join(pieces: list[np.ndarray], pause_s: float = 0.6) -> np.ndarray:
    gap = np.zeros(int(pause_s * RATE_HZ), np.float32)
    return np.concatenate([part for piece in pieces for part in (gap, piece)] + [gap])


@pytest.fixture(scope="module")
def recordings(sentences, tmp_path_factory) -> Path:
    """Three recordings in three formats, rates and channel counts, and a file that is not audio."""
    folder = tmp_path_factory.mktemp("recordings")
    third = len(sentences) // 3
    first, second, rest = sentences[:third], sentences[third: 2 * third], sentences[2 * third:]
    stereo = resample(_join(first), RATE_HZ, 44100)
    sf.write(folder / "a-44k-stereo.wav", np.stack([stereo, 0.5 * stereo], axis=1), 44100)
    sf.write(folder / "b-48k.mp3", resample(_join(second), RATE_HZ, 48000), 48000, format="MP3")
    sf.write(folder / "c-16k.ogg", resample(_join(rest), RATE_HZ, 16000), 16000, format="OGG",
             subtype="VORBIS")
    (folder / "notes.txt").write_text("not audio\n")
    return folder


def clone(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "steptts", "distill", "clone", "--no-progress", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _one_error_line(result: subprocess.CompletedProcess, code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("steptts: error: "), result.stderr
    return lines[0]


def _manifest(work: Path) -> list[dict]:
    return read_manifest(work / "prepared")


@pytest.fixture(scope="module")
def prepared(recordings, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One uninterrupted run on the three recordings: the voice folder it was given, and the process."""
    out = tmp_path_factory.mktemp("clone") / "voices" / "me"
    return out, clone("--audio", str(recordings), "--out", str(out), "--stop-after", "prepare")


def _succeeded(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def test_prepare_cuts_checks_and_stops_where_asked(prepared, recordings) -> None:
    out, result = prepared
    _succeeded(result)
    work = out.with_name("me.clone-work")
    assert json.loads((work / "status.json").read_text())["language"] == "en"  # Whisper's detection
    records = _manifest(work)
    assert {record["source"] for record in records} == {"a-44k-stereo.wav", "b-48k.mp3", "c-16k.ogg"}
    total_s = sum(record["duration"] for record in records)
    assert total_s >= MIN_SPEECH_S
    for record in records:
        audio = read_recording(work / "prepared" / record["path"])
        assert audio.sample_rate_hz == RATE_HZ and audio.channels == 1
        assert 1.0 <= audio.duration_s <= 15.0
        assert record["text"] is None and record["teacher"] == "user-audio" and record["voice"] == "me"
    report = json.loads((work / "prepared" / "prepare.json").read_text())
    assert report["kept_utterances"] == len(records)
    assert [Path(s["path"]).name for s in report["sources"]] == ["a-44k-stereo.wav", "b-48k.mp3", "c-16k.ogg"]
    assert f"{len(records)} utterances kept" in result.stdout
    assert "passed over 1 files that are not audio: notes.txt" in result.stdout
    assert not (out / "voice.json").exists()

    assert json.loads((work / "status.json").read_text())["stages_done"] == ["prepare"]
    again = clone("--audio", str(recordings), "--out", str(out), "--stop-after", "prepare")
    assert "add --resume" in _one_error_line(again)
    resumed = clone("--audio", str(recordings), "--out", str(out), "--resume", "--stop-after", "prepare")
    _succeeded(resumed)
    assert _manifest(work) == records  # the same records, nothing added twice
    changed = clone("--audio", str(recordings), "--out", str(out), "--resume", "--max-minutes", "1",
                    "--stop-after", "prepare")
    assert "was started with other max_minutes" in _one_error_line(changed)


def test_clipped_and_silent_pieces_are_dropped_and_reported(sentences, tmp_path) -> None:
    folder = tmp_path / "rec"
    folder.mkdir()
    sf.write(folder / "good.flac", _join(sentences[:22] + sentences[:10]), RATE_HZ)
    sf.write(folder / "clipped.wav", np.clip(8.0 * _join(sentences[22:24]), -1, 1), RATE_HZ)
    sf.write(folder / "whisper-quiet.wav", 0.04 * _join(sentences[24:26]), RATE_HZ)
    result = clone("--audio", str(folder), "--out", str(tmp_path / "v"), "--max-minutes", "1.05",
                   "--language", "en", "--stop-after", "prepare")
    _succeeded(result)
    report = json.loads((tmp_path / "v.clone-work" / "prepared" / "prepare.json").read_text())
    reasons = {Path(source["path"]).name: {piece["reason"].split(" (")[0] for piece in source["dropped"]}
               for source in report["sources"]}
    assert reasons["clipped.wav"] == {"clipped"}
    assert reasons["whisper-quiet.wav"] == {"silent"}
    assert "beyond --max-minutes" in reasons["good.flac"]
    assert 63.0 <= report["kept_s"] <= 63.0 + 15.0  # stops once 1.05 minutes are kept
    assert "dropped" in result.stdout and "clipped" in result.stdout


def test_transcripts_keep_recordings_whole_and_align_them_for_the_trainer(sentences, tmp_path) -> None:
    from distill.training_data import Vocabularies, load_utterances, read_records
    from steptts.voice import load_voice

    folder = tmp_path / "clips"
    folder.mkdir()
    rows = []
    for index, (audio, text) in enumerate(zip(sentences, _texts())):
        sf.write(folder / f"clip{index:02d}.wav", _join([audio], pause_s=0.3), RATE_HZ)
        rows.append(f"clip{index:02d}\t{text}")
    tsv = tmp_path / "transcripts.tsv"
    tsv.write_text("# name<TAB>text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = clone("--audio", str(folder), "--out", str(tmp_path / "v"), "--transcripts", str(tsv),
                   "--stop-after", "align")
    _succeeded(result)
    work = tmp_path / "v.clone-work"
    prepared = _manifest(work)
    assert len(prepared) == 2 * N_SENTENCES
    assert {record["source"]: record["text"] for record in prepared} == {
        f"clip{index:02d}.wav": text for index, text in enumerate(_texts())
    }
    aligned = read_manifest(work / "aligned")
    assert len(aligned) == 2 * N_SENTENCES and f"{len(aligned)} utterances aligned" in result.stdout
    base = load_voice("joe-nano")
    for record in aligned:
        frames = sf.info(work / "aligned" / record["path"]).frames // 256
        assert sum(record["durations"]) == frames and min(record["durations"]) >= 1
        assert len(record["durations"]) == len(record["phonemes"]) + 2  # ^ phonemes $
    # The trainer reads the aligned dataset as it is: its own features, the teacher-given durations kept.
    vocab = Vocabularies(base.phoneme_vocab, {"<none>": 0}, {"v": 0}, base.language)
    utterances = load_utterances(read_records([work / "aligned"])[:4], vocab, progress=False)
    for utterance in utterances:
        assert utterance.durations is not None and int(utterance.durations.sum()) == utterance.n_frames


def _write_noise_and_music(folder: Path, seconds: float = 70.0) -> None:
    rng = np.random.default_rng(0)
    n = int(seconds * RATE_HZ)
    sf.write(folder / "noise.wav", (0.05 * rng.standard_normal(n)).astype(np.float32), RATE_HZ)
    notes = np.repeat(220.0 * 2 ** (rng.choice([0, 4, 7, 12], size=int(seconds * 2)) / 12), RATE_HZ // 2)
    phase = 2 * np.pi * np.cumsum(notes) / RATE_HZ
    melody = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.1
    sf.write(folder / "melody.flac", melody.astype(np.float32), RATE_HZ)


def _bad_input_cases(sentences, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here\n")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    sf.write(corrupt / "fine.wav", _join(sentences[:4]), RATE_HZ)
    (corrupt / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" * 50)
    short = tmp_path / "short"
    short.mkdir()
    sf.write(short / "short.wav", _join(sentences[:5]), RATE_HZ)
    noise = tmp_path / "noise"
    noise.mkdir()
    _write_noise_and_music(noise)
    clips = tmp_path / "clips"
    clips.mkdir()
    for index in range(3):
        sf.write(clips / f"c{index}.wav", _join([sentences[index]]), RATE_HZ)
    texts = _texts()
    tsv = {name: tmp_path / f"{name}.tsv" for name in ("unknown", "missing", "wrong")}
    tsv["unknown"].write_text("".join(f"c{i}\t{texts[i]}\n" for i in range(3)) + f"c9\t{texts[9]}\n")
    tsv["missing"].write_text("".join(f"c{i}.wav\t{texts[i]}\n" for i in range(2)))
    tsv["wrong"].write_text(f"c0\t{' '.join(texts)}\nc1\t{texts[1]}\nc2\t{texts[2]}\n")
    cases = {
        "no audio": (["--audio", str(empty)], "no recordings in"),
        "unsupported": (["--audio", str(empty / "readme.txt")], "unsupported file type '.txt'"),
        "missing path": (["--audio", str(tmp_path / "nowhere")], "no such file or folder"),
        "corrupt": (["--audio", str(corrupt)], "broken.wav: corrupt or undecodable audio"),
        "under the minimum": (["--audio", str(short)], "a clone needs at least 60 s"),
        "noise or music": (["--audio", str(noise)], "noise or music, not a voice"),
        "transcript names no recording": (["--audio", str(clips), "--transcripts", str(tsv["unknown"])],
                                          "'c9' is not among the recordings"),
        "recording without transcript": (["--audio", str(clips), "--transcripts", str(tsv["missing"])],
                                         "no transcript for 1 of 3 recordings, e.g. c2.wav"),
        "transcript of other audio": (["--audio", str(clips), "--transcripts", str(tsv["wrong"])],
                                      "does not match the audio"),
        "language": (["--audio", str(short), "--language", "fr"], "unknown --language 'fr'"),
        "max minutes": (["--audio", str(short), "--max-minutes", "0.5"],
                        "under the minimum of 1 minute"),
        "base": (["--audio", str(short), "--base", "no-such-voice"], "unknown voice 'no-such-voice'"),
        "stop after": (["--audio", str(short), "--stop-after", "train"], "unknown --stop-after 'train'"),
        "remote without its API": (["--audio", str(short), "--teacher", "remote"], "needs --base-url"),
        "steps": (["--audio", str(short), "--steps", "0"], "--steps and --checkpoint-every must be"),
        "start speaker": (["--audio", str(short), "--start-speaker", "nobody"],
                          "--start-speaker 'nobody': base voice"),
        "start rule": (["--audio", str(short), "--start-rule", "best"], "unknown --start-rule 'best'"),
    }
    # Each case its own voice folder (and so work folder): the cases run at the same time.
    return {case: ([*args, "--out", str(tmp_path / "voices" / f"case{index}")], needle)
            for index, (case, (args, needle)) in enumerate(cases.items())}


def test_bad_input_gives_one_line_and_exit_2(sentences, tmp_path) -> None:
    cases = _bad_input_cases(sentences, tmp_path)
    with ThreadPoolExecutor(max_workers=3) as pool:  # independent processes: overlap their start-up
        results = dict(zip(cases, pool.map(lambda case: clone(*cases[case][0]), cases)))
    for case, (_, needle) in cases.items():
        line = _one_error_line(results[case])
        assert needle in line, (case, line)


def test_sigkill_during_prepare_then_resume_gives_the_same_dataset(prepared, recordings, tmp_path) -> None:
    reference = prepared[0].with_name("me.clone-work")
    expected = _manifest(reference)

    out = tmp_path / "killed"
    manifest = tmp_path / "killed.clone-work" / "prepared" / "manifest.jsonl"
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "steptts", "distill", "clone", "--no-progress", "--audio", str(recordings),
         "--out", str(out), "--stop-after", "prepare", "--language", "en"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and manifest.stat().st_size > 0:
            break
        time.sleep(0.02)
    killed_mid_run = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert killed_mid_run, "the run finished before it could be killed"
    assert len(read_manifest(manifest.parent)) < len(expected)

    _succeeded(clone("--audio", str(recordings), "--out", str(out), "--resume", "--stop-after", "prepare",
                     "--language", "en"))
    resumed = _manifest(tmp_path / "killed.clone-work")
    assert [r["id"] for r in resumed] == [r["id"] for r in expected]
    audio_files = sorted(p.name for p in (manifest.parent / "audio").iterdir())
    assert audio_files == sorted(Path(r["path"]).name for r in expected)  # no partial or orphan file
    for record in resumed[:3]:
        mine, theirs = (sf.read(base / "prepared" / record["path"])[0]
                        for base in (tmp_path / "killed.clone-work", reference))
        np.testing.assert_array_equal(mine, theirs)
