"""Sentence splitting for streaming (steptts.sentences)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from steptts.errors import TextError
from steptts.sentences import first_clause, split_sentences
from steptts.textnorm import normalize_text

ARCTIC = Path(__file__).parents[2] / "shared/data/arctic_prompts.tsv"


def _squash(text: str) -> str:
    return "".join(text.split())


def _assert_nothing_lost(text: str, chunks: list[str]) -> None:
    assert _squash(" ".join(chunks)) == _squash(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
        ("No terminal punctuation", ["No terminal punctuation"]),
        ("Wait... what? Really?!  Yes…  Later.", ["Wait... what?", "Really?!", "Yes…", "Later."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("(It was late.) We went home.", ["(It was late.)", "We went home."]),
        ("你好。我很好！你呢？好的", ["你好。", "我很好！", "你呢？", "好的"]),
        ("Hi！ Bye。", ["Hi！", "Bye。"]),
        ("First paragraph\n\nSecond one.", ["First paragraph", "Second one."]),
        ("Line one\nstill the same sentence.", ["Line one still the same sentence."]),
    ],
)
def test_splits_at_sentence_ends(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Brown met Dr. Smith. They talked.", ["Mr. Brown met Dr. Smith.", "They talked."]),
        ("Mrs. Jones and Ms. Lee left.", ["Mrs. Jones and Ms. Lee left."]),
        ("We walked to St. Paul. It rained.", ["We walked to St. Paul.", "It rained."]),
        ("He works at 221 Baker St. on Mondays.", ["He works at 221 Baker St. on Mondays."]),
        ("Apples, pears, etc. are fruit. Eat them.", ["Apples, pears, etc. are fruit.", "Eat them."]),
        ("I bought apples, pears, etc. Then I left.", ["I bought apples, pears, etc.", "Then I left."]),
        ("Use a tool, e.g. A hammer. Or not.", ["Use a tool, e.g. A hammer.", "Or not."]),
        ("That is, i.e. Paris, the capital.", ["That is, i.e. Paris, the capital."]),
        ("It was Kramer vs. Kramer. Good film.", ["It was Kramer vs. Kramer.", "Good film."]),
        ("J. R. R. Tolkien wrote it. I read it.", ["J. R. R. Tolkien wrote it.", "I read it."]),
        ("George W. Bush spoke.", ["George W. Bush spoke."]),
        ("Plan B. It works.", ["Plan B.", "It works."]),
        ("The U.S. Army came. He was born in the U.S. He left.",
         ["The U.S. Army came.", "He was born in the U.S.", "He left."]),
        ("See No. 5 for details.", ["See No. 5 for details."]),
    ],
)
def test_abbreviations_and_initials_stay_whole(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It costs 1.5 dollars. Cheap.", ["It costs 1.5 dollars.", "Cheap."]),
        ("Pi is 3.14159 or so.", ["Pi is 3.14159 or so."]),
        ("Meet at 7:45 p.m. Then eat.", ["Meet at 7:45 p.m.", "Then eat."]),
        ("Meet at 7 a.m. tomorrow.", ["Meet at 7 a.m. tomorrow."]),
        ("Version 2.0.1 is out.", ["Version 2.0.1 is out."]),
        ("Visit example.com today.", ["Visit example.com today."]),
    ],
)
def test_decimals_and_times_stay_whole(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_blank_text_gives_nothing() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n\t ") == []


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(TextError, match="max_chars"):
        split_sentences("Hello.", max_chars=0)


def test_long_sentence_splits_at_clause_punctuation_first() -> None:
    text = "one two three, four five six; seven eight nine: ten eleven twelve thirteen. Short."
    chunks = split_sentences(text, max_chars=20)
    assert chunks == ["one two three,", "four five six;", "seven eight nine:", "ten eleven twelve", "thirteen.",
                      "Short."]


def test_long_clause_splits_between_words_never_inside_one() -> None:
    words = [f"word{i}" for i in range(200)]
    text = " ".join(words) + "."
    chunks = split_sentences(text, max_chars=50)
    assert all(len(c) <= 50 for c in chunks)
    assert [w for c in chunks for w in c.split()] == text.split()
    _assert_nothing_lost(text, chunks)


def test_small_clauses_are_packed_together() -> None:
    text = "a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t."
    chunks = split_sentences(text, max_chars=12)
    assert all(len(c) <= 12 for c in chunks)
    assert chunks[0] == "a, b, c, d,"
    _assert_nothing_lost(text, chunks)


def test_only_a_word_longer_than_max_chars_is_cut() -> None:
    text = "see https://example.com/" + "x" * 60 + " now"
    chunks = split_sentences(text, max_chars=25)
    assert all(len(c) <= 25 for c in chunks)
    assert chunks[0] == "see" and chunks[-1].endswith("now")
    _assert_nothing_lost(text, chunks)


def test_full_width_clause_marks_split_long_cjk_text() -> None:
    text = "我们今天去公园，" * 10 + "然后回家。"
    chunks = split_sentences(text, max_chars=30)
    assert all(len(c) <= 30 for c in chunks)
    assert all(c.endswith(("，", "。")) for c in chunks)
    _assert_nothing_lost(text, chunks)


@pytest.mark.parametrize(("sentence", "expected"), [
    ("今天的天气很好，我们去公园散步吧。", ["今天的天气很好，", "我们去公园散步吧。"]),
    ("Well, I think so, but not today.", ["Well, I think so,", "but not today."]),  # "Well," is too short
    ("It costs 1,000 dollars, she said.", ["It costs 1,000 dollars,", "she said."]),  # no cut inside 1,000
    ("你好，我是小明。", ["你好，我是小明。"]),  # a head of two characters: nothing to gain
    ("苹果、香蕉和橘子都很好吃，我都喜欢。", ["苹果、香蕉和橘子都很好吃，我都喜欢。"]),  # 、 lists; the rest is short
    ("The quick brown fox jumps over the lazy dog.", ["The quick brown fox jumps over the lazy dog."]),
])
def test_first_clause_cuts_where_the_sentence_pauses(sentence: str, expected: list[str]) -> None:
    assert first_clause(sentence) == expected


def _long_text(n_chars: int, seed: int = 0) -> str:
    """Real sentences (ARCTIC prompts) mixed with abbreviations, numbers and one very long sentence."""
    prompts = [line.split("\t", 1)[1] for line in ARCTIC.read_text(encoding="utf-8").splitlines()]
    extras = [
        "Mr. Brown paid $1,200 on May 5, 2019 at 7:45 p.m.",
        "Dr. Smith lives at 221 Baker St. in London, e.g. near the park.",
        "J. R. R. Tolkien was born in 1892; he wrote, taught, and walked, " + "and walked " * 60 + "home.",
        "It weighs 1.5 kg... Really?",
    ]
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < n_chars:
        part = rng.choice(extras) if rng.random() < 0.2 else rng.choice(prompts)
        parts.append(part)
        size += len(part) + 1
    return " ".join(parts)[:n_chars]


@pytest.mark.parametrize("max_chars", [400, 120, 37])
def test_twenty_thousand_characters_bounded_and_nothing_lost(max_chars: int) -> None:
    text = _long_text(20_000)
    assert len(text) == 20_000
    chunks = split_sentences(text, max_chars=max_chars)
    assert all(0 < len(c) <= max_chars for c in chunks)
    assert all(c == c.strip() for c in chunks)
    _assert_nothing_lost(text, chunks)
    # Abbreviations were never taken for sentence ends.
    assert not any(c.endswith(("Mr.", "Dr.", "St.", "e.g.", " R.")) for c in chunks)


def test_split_then_normalize_keeps_abbreviations_meaningful() -> None:
    text = "Mr. Brown works at 221 Baker St. on Mondays. He earns $3.50 an hour! Is it 7:45 p.m. yet?"
    spoken = [normalize_text(s) for s in split_sentences(text)]
    assert spoken == [
        "Mister Brown works at two twenty one Baker Street on Mondays.",
        "He earns three dollars fifty cents an hour!",
        "Is it seven forty five PM yet?",
    ]
