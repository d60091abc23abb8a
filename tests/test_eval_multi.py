"""`steptts distill eval` with several teachers, a chosen speaker and mixed lines (issue 14): the
shipped joe-nano student against espeak-ng and Piper, on an English and a mixed Han + Latin line."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
from typer.testing import CliRunner

from distill.asr_scores import mandarin_cer
from distill.eval_bars import issue14_bars
from distill.eval_groups import line_group, line_needs


def _eval(tmp_path, *options: str):
    """The eval command on two files: an English line, then a mixed one (``--texts`` twice)."""
    from distill.cli import app

    english, mixed = tmp_path / "en.txt", tmp_path / "mixed.txt"
    english.write_text("The bus was twenty minutes late again this morning.\n", encoding="utf-8")
    mixed.write_text("他在 Google 工作了五年。\n", encoding="utf-8")
    args = [
        "eval",
        "--texts",
        str(english),
        "--texts",
        str(mixed),
        "--out",
        str(tmp_path / "report"),
        *options,
    ]
    return CliRunner().invoke(app, [*args, "--threads", "1", "--latency-runs", "1", "--plot-lines", "1"])


def test_line_groups_read_the_body_without_tags():
    assert line_group("我刚买了一台新的 iPhone。") == "mixed"
    assert line_needs("我刚买了一台新的 iPhone。") == {"zh", "en"}
    assert line_group("(高兴1)今天天气很好。") == "zh"  # the tag's Han characters are not the body's
    assert line_group("(快速1) Could you pass me the salt?") == "en"
    assert line_group("2024!") == "en"  # no letters at all: read by the English frontend


def test_issue14_bars_follow_the_teachers_in_the_run():
    def system(cer: float, dnsmos: float, voice=None) -> dict:
        return {"voice": voice, "groups": {"zh": {"whisper_cer": cer, "dnsmos_ovrl": dnsmos}}}

    summary = {
        "student": {**system(0.20, 3.3), "first_chunk_ms": 30.0},
        "teacher": system(0.19, 3.4, voice="jf_gongitsune"),
    }
    by_teacher = {"teacher": {"student_rtf": 0.03, "teacher_rtf": 0.4}}
    rows = {row["item"]: row for row in issue14_bars(summary, {"kokoro": "teacher"}, by_teacher)}
    cer = rows["Mandarin CER (≤ Kokoro jf_gongitsune + 0.03)"]
    assert cer["pass"] is True and cer["bar"] == "≤ 0.2200"
    assert rows["Mandarin DNSMOS (≥ 3.2)"]["pass"] is True
    assert rows["RTF (≤ Kokoro's / 10, same lines)"]["pass"] is True  # 0.03 ≤ 0.04
    piper = rows["RTF (≤ Piper's / 3, same lines)"]
    assert piper["pass"] is False and piper["bar"] == "needs --teacher piper in the run"
    assert rows["first chunk (≤ 50 ms)"]["pass"] is True
    assert not any(item.startswith(("English", "mixed")) for item in rows)
    summary["student"]["groups"]["zh"]["whisper_cer"] = 0.23
    rows = {row["item"]: row for row in issue14_bars(summary, {"kokoro": "teacher"}, by_teacher)}
    assert rows["Mandarin CER (≤ Kokoro jf_gongitsune + 0.03)"]["pass"] is False


def test_eval_with_two_teachers_a_speaker_and_a_mixed_line(tmp_path):
    result = _eval(tmp_path, "--voice", "joe-nano", "--speaker", "joe", "--teacher", "espeak,piper")
    assert result.exit_code == 0, result.output
    assert "## Issue 14: the multilingual voice" in result.output and "## By line group" in result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    files = report["texts"]["files"]
    assert [f["path"] for f in files] == [str(tmp_path / "en.txt"), str(tmp_path / "mixed.txt")]
    assert files[1]["sha256"] == hashlib.sha256((tmp_path / "mixed.txt").read_bytes()).hexdigest()
    assert report["texts"]["lines"] == 2
    assert report["teachers"] == [
        {"role": "teacher", "kind": "espeak", "name": "espeak:cmn"},
        {"role": "teacher_piper", "kind": "piper", "name": "piper:en_US-joe-medium"},
    ]
    assert report["systems"]["student"]["speaker"] == "joe"
    summary = report["summary"]
    assert set(summary) == {"student", "teacher", "teacher_piper"}
    english, mixed = report["lines"]
    assert (english["group"], mixed["group"]) == ("en", "mixed")
    # Piper and the English-only student cannot speak the mixed line: left out with a note, no error.
    for role in ("student", "teacher_piper"):
        assert mixed[role]["excluded"] is True and "does not speak Mandarin" in mixed[role]["note"]
        assert summary[role]["lines_rendered"] == 1 and summary[role]["groups"]["mixed"]["rendered"] == 0
        assert summary[role]["groups"]["mixed"]["all_speak"] is False
    assert mixed["teacher"]["speaks"] is True and mixed["teacher"]["speech_s"] > 1.0
    heard = summary["teacher"]["groups"]["mixed"]
    assert (heard["lines"], heard["rendered"], heard["spoken"], heard["all_speak"]) == (1, 1, 1, True)
    # CER on the Han characters only (Latin words left out), over what Whisper wrote; insertions can
    # take it past 1.0 (espeak's Mandarin is often heard as other words), so it is recomputed, not bounded.
    assert heard["whisper_cer"] == pytest.approx(mandarin_cer(["他在工作了五年"], [mixed["teacher"]["whisper"]]))
    assert heard["whisper_cer"] >= 0.0 and heard["dnsmos_ovrl"] > 1.0
    assert english["student"]["whisper_wer"] <= 0.2 and english["teacher_piper"]["whisper_wer"] <= 0.2
    # Speed against each teacher on the lines both rendered (the English one).
    speed = report["ratios"]["by_teacher"]
    assert speed["teacher_piper"]["lines"] == speed["teacher"]["lines"] == 1
    assert speed["teacher_piper"]["rtf_student_over_teacher"] == pytest.approx(
        english["student"]["rtf"] / english["teacher_piper"]["rtf"]
    )
    assert report["ratios"]["rtf_student_over_teacher"] == speed["teacher"]["rtf_student_over_teacher"]
    assert speed["teacher_piper"]["first_chunk_language"] == "en"
    assert math.isfinite(speed["teacher_piper"]["first_chunk_student_over_teacher"])
    # Both sections of bars: the distillation ones as before, issue 14's for a run with Mandarin.
    assert [bar["item"].split(" ")[0] for bar in report["bars"]] == ["WER", "DNSMOS", "CPU", "first-chunk"]
    bars = {bar["item"]: bar for bar in report["bars_issue14"]}
    assert bars["mixed lines: all speak"]["pass"] is False and bars["mixed lines: all speak"]["measured"] == 0
    assert bars["RTF (≤ Kokoro's / 10, same lines)"]["bar"] == "needs --teacher kokoro in the run"
    assert bars["English WER (≤ Piper + 0.01)"]["measured"] == english["student"]["whisper_wer"]
    assert len(report["notes"]) == 2
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "- Note: piper:en_US-joe-medium does not speak Mandarin" in markdown
    assert (tmp_path / "report" / "audio" / "teacher" / "line_01.wav").exists()
    assert not (tmp_path / "report" / "audio" / "teacher_piper" / "line_01.wav").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--voice", "joe-nano", "--speaker", "nobody"],
            "voice 'joe-nano' has no speaker 'nobody'; it has: joe",
        ),
        (["--voice", "teacher:piper", "--speaker", "joe"], "--speaker picks a student voice's speaker"),
        (
            ["--voice", "joe-nano", "--teacher", "kokoro", "--teacher-voice", "af_nope"],
            "unknown --teacher-voice",
        ),
        (
            ["--voice", "joe-nano", "--teacher", "piper", "--teacher-voice", "jm_kumo"],
            "add kokoro to --teacher",
        ),
        (["--voice", "joe-nano", "--teacher", "piper,piper"], "names a teacher twice"),
        (["--voice", "joe-nano", "--teacher", "kokoro,festival"], "unknown --teacher 'festival'"),
    ],
)
def test_bad_speaker_voice_or_teachers_exit_2_before_rendering(tmp_path, options, message):
    result = _eval(tmp_path, *options)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "report").exists()  # nothing rendered, nothing written
