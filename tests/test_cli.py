"""The `steptts` command as a user runs it: real processes, exit codes, one-line errors."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile


def steptts(*args, stdin=None, env=None, cwd=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "steptts", *args], input=stdin, capture_output=True,
                          env=full_env, cwd=cwd, timeout=300)


def one_error_line(done):
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, done.stderr.decode()
    assert len(lines) == 1, lines
    assert "Traceback" not in done.stderr.decode()
    return lines[0]


def test_say_writes_a_wav(voice_dir, tmp_path):
    out = tmp_path / "hello.wav"
    done = steptts("say", "Hello from steptts.", "-o", str(out), "--voice", str(voice_dir))
    assert done.returncode == 0, done.stderr.decode()
    data, rate = soundfile.read(out)
    assert rate == 22050 and 0.3 < len(data) / rate < 10
    assert np.sqrt(np.mean(data**2)) > 1e-3
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_say_reads_stdin_and_writes_flac(voice_dir, tmp_path):
    out = tmp_path / "story.flac"
    done = steptts("say", "-", "-o", str(out), "--voice", str(voice_dir), stdin=b"One. Two. Three.")
    assert done.returncode == 0, done.stderr.decode()
    assert soundfile.info(out).format == "FLAC"


def test_say_streams_raw_pcm(voice_dir):
    f32 = steptts("say", "Streaming to a pipe.", "--stream", "--voice", str(voice_dir))
    s16 = steptts("say", "Streaming to a pipe.", "--stream", "--format", "s16", "--voice", str(voice_dir))
    assert f32.returncode == 0 and s16.returncode == 0
    floats = np.frombuffer(f32.stdout, "<f4")
    ints = np.frombuffer(s16.stdout, "<i2")
    assert floats.size == ints.size > 1000
    np.testing.assert_allclose(floats, ints / 32767, atol=2e-4)


@pytest.mark.parametrize("args, needle", [
    (["say", ""], "nothing to say"),
    (["say", "(nonsense-tag)hi"], "unknown tag '(nonsense-tag)'"),
    (["say", "hi", "--voice", "nope"], "unknown voice 'nope'"),
    (["say", "hi", "-o", "/nonexistent-dir/x.wav"], "does not exist"),
    (["say", "hi", "-o", "out.mp3"], ".wav or .flac"),
    (["say", "(happy hi"], "unbalanced"),
])
def test_user_errors_exit_2_with_one_line(args, needle, voice_dir, tmp_path):
    if "--voice" not in args:
        args = [*args, "--voice", str(voice_dir)]
    line = one_error_line(steptts(*args, cwd=tmp_path))
    assert needle in line


def test_unwritable_output_exits_2(voice_dir, tmp_path):
    # /proc refuses new files even for root, so this holds whoever runs the tests.
    line = one_error_line(steptts("say", "hi", "-o", "/proc/steptts-test.wav", "--voice", str(voice_dir)))
    assert "cannot write '/proc/steptts-test.wav'" in line


def test_output_into_a_folder_path_exits_2(voice_dir, tmp_path):
    line = one_error_line(steptts("say", "hi", "-o", str(tmp_path), "--voice", str(voice_dir)))
    assert "wav or .flac" in line or "folder" in line


def test_corrupt_voice_exits_2(voice_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(voice_dir, broken)
    config = json.loads((broken / "voice.json").read_text())
    (broken / "model.onnx").write_bytes(b"not an onnx file")
    line = one_error_line(steptts("say", "hi", "--voice", str(broken)))
    assert "checksum mismatch" in line and config["name"] in line


def test_tags_lists_the_step_audio_set():
    done = steptts("tags")
    assert done.returncode == 0
    out = done.stdout.decode()
    for needle in ["高兴", "happy", "粤语", "cantonese", "RAP", "哼唱", "慢速1", "快速2"]:
        assert needle in out


def test_tags_marks_what_each_voice_supports(voice_dir, tmp_path):
    shutil.copytree(voice_dir, tmp_path / "shelf" / "tiny-test")
    done = steptts("tags", env={"STEPTTS_VOICES": str(tmp_path / "shelf")})
    header, *rows = done.stdout.decode().splitlines()
    assert "tiny-test" in header
    cantonese = next(r for r in rows if r.split()[1] == "粤语")
    assert cantonese.rstrip().endswith("-")


def test_voices_and_info(voice_dir, tmp_path):
    shutil.copytree(voice_dir, tmp_path / "shelf" / "tiny-test")
    env = {"STEPTTS_VOICES": str(tmp_path / "shelf")}
    listed = steptts("voices", env=env)
    assert listed.returncode == 0 and "tiny-test" in listed.stdout.decode() and "22050 Hz" in listed.stdout.decode()
    info = steptts("info", "--voice", "tiny-test", env=env)
    assert info.returncode == 0, info.stderr.decode()
    assert "execution provider in use: CPUExecutionProvider" in info.stdout.decode()
