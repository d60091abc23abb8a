"""`steptts distill eval --tags` on Mandarin lines (issue 14): each line judged in its language, Mandarin
by Whisper's CER, and the language and dialect tags by what they change in the phonemes."""

from __future__ import annotations

import json
from pathlib import Path

from test_languages import zh_voices  # noqa: F401 - zh_voices is a fixture
from typer.testing import CliRunner

from distill.report import first_sentences
from distill.tag_judging import error_bars, phoneme_bars, phoneme_effects
from steptts.tags import resolve_tag

DEV_ZH = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev_zh.txt"


def test_first_sentences_split_on_chinese_marks():
    lines = ["今天天气很好。我们去公园吧！", "你来吗？好的。", "外面下着大雨，出门记得带伞！"]
    assert first_sentences(lines, 8) == ["今天天气很好。", "你来吗？", "外面下着大雨，出门记得带伞！"]


def test_dialect_and_forcing_tags_are_judged_by_what_they_change():
    sentences, languages = ["今天天气很好。", "Turn left here.", "3.5%"], ["zh", "en", "en"]
    sichuanese = resolve_tag("四川话")
    effects = phoneme_effects(None, sichuanese, sentences, languages)  # no voice: the frontends alone
    assert (effects["phonemes_differ_share"], effects["lines_compared"]) == (1.0, 1)  # the Mandarin line only
    checks, notes = phoneme_bars(sichuanese, effects, "cmn")
    assert [(c["item"], c["pass"]) for c in checks] == [
        ("Mandarin lines whose phonemes differ from untagged", True)]
    # Its CER is reported, not barred (Whisper hears Mandarin); English lines keep their WER bar.
    checks, notes = error_bars(sichuanese, {"wer": 0.1, "cer": 0.5}, {"wer": 0.1, "cer": 0.2})
    assert [c["item"] for c in checks] == ["WER"] and "四川话: CER reported, not barred" in notes[0]
    # 中文 changes only the line without letters (3.5% read in Mandarin), and has no phoneme bar.
    mandarin = resolve_tag("中文")
    effects = phoneme_effects(None, mandarin, sentences, languages)
    assert effects["phonemes_changed_share"] == 1 / 3
    checks, notes = phoneme_bars(mandarin, effects, "en-us")
    assert checks == [] and "phonemes changed on 0.33 of lines" in notes[0]
    # An accent on Mandarin lines alone: nothing to compare, said so.
    checks, notes = phoneme_bars(resolve_tag("British"), phoneme_effects(None, resolve_tag("British"),
                                                                          sentences[:1], ["zh"]), "en-us")
    assert checks == [] and "no English line" in notes[0]


def test_eval_tags_on_mandarin_lines_are_judged_by_cer(tmp_path, zh_voices):  # noqa: F811
    """The whole CLI path on a voice that speaks Mandarin (the tests' tiny voice, its audio far from
    speech: the point is what is measured and how it is judged, not the scores)."""
    from distill.cli import app

    voice = zh_voices / "tiny-zh"
    config = json.loads((voice / "voice.json").read_text(encoding="utf-8"))
    speaker, declared = next(iter(config["speakers"])), set(config["tag_vocab"]) | set(config["tag_controls"])
    # The tiny voice declares what its 16 lines drew from the tag plan: 慢速2 and a strong emotion.
    emotion = next(key for key in ("高兴2", "生气2", "悲伤2") if key in declared)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, [
        "eval", "--tags", "--texts", str(DEV_ZH), "--limit", "1", "--voice", str(voice), "--speaker", speaker,
        "--teacher", "espeak", "--tag-keys", f"慢速2,{emotion}", "--tag-lines", "1", "--out", str(out),
        "--threads", "1", "--latency-runs", "1", "--plot-lines", "0",
    ])
    assert result.exit_code == 0, result.output
    tags = json.loads((out / "tags.json").read_text(encoding="utf-8"))
    assert tags["sentence_languages"] == ["zh"] and set(tags["settings"]["judges"]) == {"zh"}
    assert "cer" in tags["neutral"] and "wer" not in tags["neutral"]
    rows = {row["key"]: row for row in tags["tags"]}
    assert [c["item"] for c in rows["慢速2"]["checks"]] == ["duration", "CER"]
    effect_bars = {"高兴2": ["median F0"], "生气2": ["voiced RMS"], "悲伤2": ["median F0", "duration"]}[emotion]
    assert [c["item"] for c in rows[emotion]["checks"]] == [*effect_bars, "CER"]
    slower = rows["慢速2"]["effects"]
    assert slower["duration_ratio"] > 1.1 and 0.0 <= slower["cer"] and "wer" not in slower
    cer_bar = rows[emotion]["checks"][-1]
    assert cer_bar["bar"] == f"≤ neutral + 0.10 ({tags['neutral']['cer'] + 0.10:.3f})"
    assert rows["慢速2"]["per_line"][0]["language"] == "zh"
    table = (out / "tags.md").read_text(encoding="utf-8")
    assert "Neutral CER" in table and "Whisper base" in table and "| CER ≤ neutral + 0.10" in table
    assert "Tag measurements: see `tags.md`" in (out / "report.md").read_text(encoding="utf-8")
