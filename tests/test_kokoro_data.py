"""The corpora of the Kokoro data run: HSK sentences read as Mandarin, dev files kept out, the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.corpus import CorpusConfig, CorpusError, is_held_out, read_corpus
from distill.tagplan import load_tag_plan
from steptts.tags import resolve_tag

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HSK = DATA / "hsk_sentences.tsv"
ARCTIC = DATA / "arctic_prompts.tsv"


def test_hsk_sentences_are_read_as_mandarin():
    lines = read_corpus([HSK])
    assert 4300 < len(lines) <= 4354  # the header row is skipped, spoken duplicates dropped
    assert lines[0].text == "老师，您好！"  # not the pinyin or level columns, not the English normalizer
    assert lines[0].source == "hsk_sentences.tsv:hsk1-0001"
    assert all(
        "\t" not in line.text and not any(c.isascii() and c.isalnum() for c in line.text) for line in lines
    )


def test_mandarin_lines_with_digits_or_latin_are_normalized_by_language_runs(tmp_path: Path):
    corpus = tmp_path / "zh.txt"
    corpus.write_text("我们三点见。\n我们3点见。\n我买了2台 iPhone。\nSee you at 3.\n🙂🙂🙂\n价格是15%。\n",
                      encoding="utf-8")
    texts = [line.text for line in read_corpus([corpus])]
    # 3点 is said 三点 (a duplicate of line 1); Latin stays English; only the unspeakable line goes
    assert texts == ["我们三点见。", "我买了两台 iPhone.", "See you at three.", "价格是百分之十五。"]


def test_mixed_lines_are_made_from_the_corpus_by_the_swap_table(tmp_path: Path):
    corpus = tmp_path / "zh.txt"
    corpus.write_text("我的电脑坏了。\n周末我们去公园吧。\n他发了一封电子邮件。\n今天很冷。\n", encoding="utf-8")
    lines = read_corpus([corpus], CorpusConfig(mixed_lines=5))
    assert [line.text for line in lines[4:]] == ["我的 computer 坏了。", "weekend 我们去公园吧。",
                                                  "他发了一封 email."]
    assert lines[4].source == "zh.txt:1+computer"
    assert len(read_corpus([corpus], CorpusConfig(mixed_lines=1))) == 5
    mixed = read_corpus([HSK], CorpusConfig(mixed_lines=40))[-40:]
    assert all(line.source.startswith("hsk_sentences.tsv:") and "+" in line.source for line in mixed)
    dev = set((DATA / "dev_mixed.txt").read_text(encoding="utf-8").splitlines())
    assert not dev & {line.text for line in mixed}


def test_the_kokoro_teacher_reads_a_mixed_line_by_runs():
    from distill.kokoro_teacher import KOKORO_IPA, mandarin_line_phonemes

    assert mandarin_line_phonemes("你好。") == ("ni↗xau↓.", {})
    phonemes, table = mandarin_line_phonemes("我的 computer 坏了。")
    assert table == KOKORO_IPA and phonemes.startswith("wo↓ tɤ k") and phonemes.endswith("xwai↘ lɤ.")
    assert mandarin_line_phonemes("你好。", "四川话") == ("ni↘xau↘.", {})
    from distill.tone_edit import syllables
    from steptts.phonemes import tokenize

    found = syllables("我的 computer 坏了。", phonemes, [2] * len(tokenize(phonemes)))
    assert [s.tone for s in found] == ["3", "5", "4", "5"]  # the tone edit steps over the English run


def test_dev_files_never_enter_training_data():
    for name in ("dev_en.txt", "dev_zh.txt", "dev_mixed.txt", "dev_zh_norm.tsv", "dev_norm.tsv"):
        assert is_held_out(DATA / name)
        with pytest.raises(CorpusError, match="held-out"):
            read_corpus([HSK, DATA / name])
    # Nor do their lines hide in the training corpora.
    training = {line.text for line in read_corpus([HSK, ARCTIC])}
    held_out = read_corpus([DATA / n for n in ("dev_en.txt", "dev_zh.txt")], CorpusConfig(allow_dev=True))
    assert held_out and not training & {line.text for line in held_out}


def test_mandarin_plan_has_no_english_accents():
    plan = load_tag_plan("mandarin")
    assert "哼唱" in plan.tag_keys and "高兴1" in plan.tag_keys and "快速2" in plan.tag_keys
    assert not [key for key in plan.tag_keys if resolve_tag(key).kind == "accent"]
