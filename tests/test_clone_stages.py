"""`steptts distill clone`, stages 2 to 5 and the remote teacher, through the real CLI and real processes.

The base voice is a tiny preset student exported here (random weights: the tests check the plumbing,
resumption and the package, not the voice's quality; ``bench/bench_clone.py`` measures that). The
recordings are ARCTIC lines spoken by the shipped voice, with their transcripts.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import ARCTIC, REPO

RATE_HZ = 22050
N_LINES = 13  # spoken twice (the second time quieter): about 70 s, over the 60 s minimum


def _lines() -> list[str]:
    rows = ARCTIC.read_text(encoding="utf-8").splitlines()[:N_LINES]
    return [row.split("\t")[-1].strip() for row in rows]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    """(folder of one recording per line, its transcripts TSV)."""
    from steptts import TTS

    folder = tmp_path_factory.mktemp("clips")
    tts = TTS()
    gap = np.zeros(int(0.3 * RATE_HZ), np.float32)
    rows = []
    for index, text in enumerate(_lines() * 2):
        audio = tts.synthesize(text).samples * (1.0 if index < N_LINES else 0.8)
        sf.write(folder / f"clip{index:02d}.wav", np.concatenate([gap, audio, gap]), RATE_HZ)
        rows.append(f"clip{index:02d}\t{text}")
    tsv = folder.parent / "transcripts.tsv"
    tsv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, tsv


def _tiny_voice(folder: Path, speakers: tuple[str, ...], scrambled_rows: tuple[int, ...] = ()) -> Path:
    """A voice package of the tiny preset with the shipped voice's vocabularies and tags, and ``speakers``
    (the rows in ``scrambled_rows`` set to noise 30 times the usual scale)."""
    import torch

    from distill.model import Student, make_config
    from export.voice_export import export_voice
    from steptts.voice import load_voice

    shipped = load_voice(None)
    vocab = {"phoneme_vocab": dict(shipped.phoneme_vocab.symbol_to_id), "tag_vocab": dict(shipped.tag_vocab),
             "speakers": {name: row for row, name in enumerate(speakers)}, "language": shipped.language}
    config = make_config("tiny", len(vocab["phoneme_vocab"]), len(vocab["tag_vocab"]), len(speakers))
    torch.manual_seed(0)
    state = Student(config).state_dict()
    for row in scrambled_rows:
        state["speaker_embedding.weight"][row] = 30.0 * torch.randn_like(state["speaker_embedding.weight"][row])
    torch.save({"model": state, "config": asdict(config), "vocab": vocab, "step": 0,
                "provenance": {"teacher": ["none"], "licence": "CC0-1.0"}}, folder / "checkpoint.pt")
    export_voice(folder / "checkpoint.pt", folder / "voice", name="tiny-base")
    return folder / "voice"


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A voice package of the tiny preset with one speaker, ``tiny``."""
    return _tiny_voice(tmp_path_factory.mktemp("tiny-base"), ("tiny",))


def _env() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "steptts", "distill", "clone", "--no-progress", *args]


def clone(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_transcribe_drops_what_whisper_hears_nothing_in(clips, tmp_path) -> None:
    from distill.clone_transcribe import detect_language, transcribe

    folder, _ = clips
    speech, rate_hz = sf.read(folder / "clip00.wav", dtype="float32")
    quiet = (0.001 * np.random.default_rng(0).standard_normal(2 * rate_hz)).astype(np.float32)
    sf.write(tmp_path / "speech.flac", speech, rate_hz)
    sf.write(tmp_path / "quiet.flac", quiet, rate_hz)
    records = [{"id": name, "path": f"{name}.flac", "source": f"{name}.wav", "start_s": 0.0,
                "end_s": len(audio) / rate_hz, "duration": len(audio) / rate_hz}
               for name, audio in (("speech", speech), ("quiet", quiet))]
    assert detect_language(speech, rate_hz) == "en"
    report = transcribe(records, tmp_path, tmp_path / "work", "en", progress=False, min_speech_s=1.0)
    assert list(report.transcripts) == ["speech"]
    words = set(report.transcripts["speech"].lower().replace(",", "").replace(".", "").split())
    assert len(words & set(_lines()[0].lower().replace(",", "").replace(".", "").split())) >= 3
    assert report.empty == (("quiet.wav", 0.0, 2.0),)
    assert "dropped quiet.wav" in report.format()
    # Resumable: what is on disk is not transcribed again, and gives the same report.
    lines = (tmp_path / "work" / "transcripts.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert transcribe(records, tmp_path, tmp_path / "work", "en", progress=False, min_speech_s=1.0) == report
    assert (tmp_path / "work" / "transcripts.jsonl").read_text().splitlines() == lines


def test_clone_killed_during_adapt_resumes_and_exports_a_voice_with_the_base_tags(clips, tiny_base, tmp_path) -> None:
    import torch

    from steptts import TTS
    from steptts.voice import load_voice, sha256_file

    folder, tsv = clips
    out = tmp_path / "voices" / "me"
    args = ["--audio", str(folder), "--transcripts", str(tsv), "--out", str(out), "--base", str(tiny_base),
            "--steps", "8", "--checkpoint-every", "2", "--adversarial"]
    checkpoint = tmp_path / "voices" / "me.clone-work" / "adapt" / "checkpoint.pt"
    process = subprocess.Popen(_command(*args), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and process.poll() is None and not checkpoint.exists():
        time.sleep(0.05)
    killed_mid_run = process.poll() is None
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert killed_mid_run and checkpoint.exists(), stderr
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    saved_step = saved["state"]["step"]
    assert 2 <= saved_step < 8 and not out.exists()
    assert saved["adversarial"]["from_step"] == 1  # the discriminators' state is saved (and resumed)

    result = clone(*args, "--resume")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert f"resumed from step {saved_step}" in result.stdout  # lost at most one checkpoint interval
    assert "adapt: 8 steps" in result.stdout and f"voice written to {out}" in result.stdout

    voice, base = load_voice(out), load_voice(tiny_base)  # verified: checksums, schema
    assert voice.speakers == {"me": 1} and voice.tag_keys == base.tag_keys
    assert voice.phoneme_substitutions == base.phoneme_substitutions
    provenance = voice.provenance
    assert provenance["cloned_from_user_audio"] is True and provenance["teacher"] == ["user-audio"]
    assert provenance["transcripts"] == "tsv" and provenance["base_voice"]["name"] == "tiny-base"
    assert provenance["base_voice"]["model_sha256"] == sha256_file(base.model_path("fp32"))
    assert {source["file"]: source["sha256"] for source in provenance["sources"]} == {
        path.name: sha256_file(path) for path in folder.iterdir()}
    assert 1.0 <= provenance["minutes_used"] <= 1.5 and 1 <= provenance["steps"] <= 8
    tts = TTS(voice=out)
    text = "The quick brown fox jumps over the lazy dog."
    neutral = tts.synthesize(text).samples
    happy_fast = tts.synthesize(f"(happy)(fast){text}").samples
    slow = tts.synthesize(f"(slow){text}").samples
    assert len(happy_fast) < len(neutral) < len(slow) and np.abs(happy_fast).max() > 0


def _render_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(_lines()[:6]) + "\n", encoding="utf-8")
    return corpus


def test_remote_teacher_clones_through_the_api(clips, tiny_base, tmp_path) -> None:
    from distill.dataset_store import read_manifest
    from tests.voice_clone_server import VoiceCloneServer

    folder, tsv = clips
    corpus = _render_corpus(tmp_path)
    out = tmp_path / "voices" / "remote-me"
    with VoiceCloneServer() as server:
        result = clone("--audio", str(folder), "--transcripts", str(tsv), "--out", str(out), "--base",
                       str(tiny_base), "--teacher", "remote", "--base-url", server.url, "--model", "step-tts-mini",
                       "--texts", str(corpus), "--stop-after", "align")
        requests = list(server.requests)
    assert result.returncode == 0, (result.stdout, result.stderr)
    upload, create = requests[0], requests[1]
    assert upload.path == "/v1/files" and upload.form["purpose"] == b"storage"
    assert sf.info(io.BytesIO(upload.form["file"])).duration > 1.0  # a real reference
    assert create.path == "/v1/audio/voices" and create.json["model"] == "step-tts-mini"
    assert create.json["file_id"] == "file-1" and create.json["text"] == _lines()[0]
    speech = [request for request in requests if request.path == "/v1/audio/speech"]
    assert len(speech) == 6 and {request.json["voice"] for request in speech} == {"voice-1"}
    assert "remote: voice voice-1 read the corpus" in result.stdout
    work = tmp_path / "voices" / "remote-me.clone-work"
    aligned = read_manifest(work / "aligned")
    assert len(aligned) == 6 and {record["voice"] for record in aligned} == {"remote-me"}
    assert json.loads((work / "remote-voice.json").read_text())["voice_id"] == "voice-1"


def test_remote_teacher_fault_gives_one_line_and_exit_2(clips, tiny_base, tmp_path) -> None:
    from tests.voice_clone_server import VoiceCloneServer

    folder, tsv = clips
    with VoiceCloneServer(faults={"/v1/audio/voices": [500, 500, 500]}) as server:
        result = clone("--audio", str(folder), "--transcripts", str(tsv), "--out", str(tmp_path / "v"),
                       "--base", str(tiny_base), "--teacher", "remote", "--base-url", server.url,
                       "--texts", str(_render_corpus(tmp_path)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("steptts: error: remote teacher"), result.stderr
    assert "/v1/audio/voices: HTTP 500: scripted fault 500 (after 3 attempts)" in lines[0]


def test_adapt_holds_the_new_row_near_its_start_and_trains_only_the_named_modules(clips, tiny_base, tmp_path) -> None:
    import torch

    from distill.clone_adapt import AdaptConfig, AdaptError, AdaptRun, adapt
    from distill.init_weights import load_initial
    from distill.onnx_weights import TRAINING_ONLY

    folder, tsv = clips
    out = tmp_path / "voices" / "me"
    result = clone("--audio", str(folder), "--transcripts", str(tsv), "--out", str(out), "--base", str(tiny_base),
                   "--stop-after", "align")
    assert result.returncode == 0, (result.stdout, result.stderr)
    aligned = tmp_path / "voices" / "me.clone-work" / "aligned"
    config = AdaptConfig(data_dir=aligned, run_dir=tmp_path / "adapt", speaker="me", base=str(tiny_base), max_steps=6,
                         speaker_steps=3, eval_every=3, speaker_lr=0.5, speaker_radius=0.05,
                         trained_in_phase_2=("vocoder",), start_speaker="tiny", threads=1, progress=False)
    adapt(config)
    best = torch.load(config.run_dir / "best.pt", map_location="cpu", weights_only=False)
    base = load_initial(str(tiny_base)).state
    row = best["model"]["speaker_embedding.weight"][best["vocab"]["speakers"]["me"]]
    start = base["speaker_embedding.weight"][0]  # the new row starts as the base's only speaker
    assert 0.0 < float((row - start).norm()) <= 0.05 + 1e-6  # a rate of 0.5 would carry it far beyond
    changed = {name.split(".")[0] for name, value in best["model"].items()
               if name in base and name not in ("speaker_embedding.weight", *TRAINING_ONLY)  # not in the graph
               and not torch.equal(value, base[name])}
    assert changed == {"vocoder"}

    with pytest.raises(AdaptError, match="names no module of the student: vocodr"):
        AdaptRun(AdaptConfig(data_dir=aligned, run_dir=tmp_path / "other", speaker="me", base=str(tiny_base),
                             trained_in_phase_2=("vocodr",)))
    with pytest.raises(AdaptError, match="no speaker 'nobody' to start from"):
        AdaptRun(AdaptConfig(data_dir=aligned, run_dir=tmp_path / "other", speaker="me", base=str(tiny_base),
                             start_speaker="nobody"))


def test_the_lowest_loss_rule_starts_the_new_row_from_the_base_speaker_that_fits_best(clips, tiny_base,
                                                                                      tmp_path) -> None:
    import torch

    from distill.clone_adapt import AdaptConfig, AdaptError, AdaptRun

    folder, tsv = clips
    result = clone("--audio", str(folder), "--transcripts", str(tsv), "--out", str(tmp_path / "me"),
                   "--base", str(tiny_base), "--stop-after", "align")
    assert result.returncode == 0, (result.stdout, result.stderr)
    aligned = tmp_path / "me.clone-work" / "aligned"  # every record names `tiny`, the only speaker it had
    # A base whose `tiny` row is noise far off the scale the decoder knows, and a sound `calm` row.
    (tmp_path / "two").mkdir()
    base = _tiny_voice(tmp_path / "two", ("tiny", "calm"), scrambled_rows=(0,))
    settings = {"data_dir": aligned, "run_dir": tmp_path / "adapt", "speaker": "me", "base": str(base),
                "threads": 1, "progress": False}
    aligned_run = AdaptRun(AdaptConfig(**settings))
    fitted_run = AdaptRun(AdaptConfig(**settings, start_rule="lowest-loss"))
    assert aligned_run.start_losses == {}
    assert set(fitted_run.start_losses) == {"tiny", "calm"}
    assert fitted_run.start_losses["calm"] < fitted_run.start_losses["tiny"]
    rows = fitted_run.student.speaker_embedding.weight.detach()
    assert torch.equal(fitted_run.start_row, rows[1])  # calm's row
    assert torch.equal(aligned_run.start_row, aligned_run.student.speaker_embedding.weight.detach()[0])
    with pytest.raises(AdaptError, match="unknown start rule 'best': one of aligned, lowest-loss"):
        AdaptRun(AdaptConfig(**settings, start_rule="best"))
