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


def test_mandarin_lines_with_digits_or_latin_wait_for_a_normalizer(tmp_path: Path):
    corpus = tmp_path / "zh.txt"
    corpus.write_text("我们三点见。\n我们3点见。\n我买了一台 iPhone。\nSee you at 3.\n", encoding="utf-8")
    texts = [line.text for line in read_corpus([corpus])]
    assert texts == ["我们三点见。", "See you at three."]


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
