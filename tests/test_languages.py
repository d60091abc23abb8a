"""Language runs, frontends, voice languages, the unspeakable-character policy, the lexicon and
`steptts phonemize`, on real processes and a real exported voice."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from steptts import TTS, Lexicon, phonemize
from steptts.errors import TextError
from steptts.languages.pipeline import TextSettings, utterance
from steptts.languages.runs import split_runs

SHARED = Path(os.environ.get("STEPTTS_SHARED", Path(__file__).parents[2] / "shared"))
REPO = Path(__file__).resolve().parents[1]
KOKORO_ZH_SYMBOLS = "ʦʨꭧʰɕʂɻɥɨɤɚŋ↓→↗↘aeiouwjnmlkptsfxy“”"
"""Symbols of the Mandarin inventory (misaki's zh IPA) that a test voice is given ids for."""


def steptts(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "steptts", *args], input=stdin, capture_output=True,
                          env=full_env, timeout=300, check=False)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, done.stderr.decode()
    assert len(lines) == 1 and "Traceback" not in done.stderr.decode(), lines
    return lines[0]


@pytest.fixture(scope="module")
def zh_voices(voice_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A voice folder holding ``tiny-zh``: the tests' tiny exported voice, declared to speak Mandarin and
    English, its vocabulary naming the Mandarin symbols (on ids it already has: the audio is not
    Mandarin, the tests check what text reaches the graph and that it comes back as audio)."""
    folder = tmp_path_factory.mktemp("zh-voices")
    voice = folder / "tiny-zh"
    shutil.copytree(voice_dir, voice)
    config = json.loads((voice / "voice.json").read_text(encoding="utf-8"))
    vocab = config["phoneme_vocab"]
    ids = sorted(set(vocab.values()) - {0, 1, 2})
    for index, symbol in enumerate(KOKORO_ZH_SYMBOLS):
        vocab.setdefault(symbol, ids[index % len(ids)])
    config.update(name="tiny-zh", languages=["zh", "en"], phoneme_vocab=vocab)
    (voice / "voice.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return folder


def runs_of(text: str) -> list[tuple[str, str]]:
    return [(run.language, run.text) for run in split_runs(text)]


def test_mixed_lines_are_cut_into_runs() -> None:
    lines = (SHARED / "data" / "dev_mixed.txt").read_text(encoding="utf-8").splitlines()
    expected = {
        "我刚买了一台新的 iPhone。": [("zh", "我刚买了一台新的"), ("en", "iPhone。")],
        "明天的 presentation 准备好了吗？": [("zh", "明天的"), ("en", "presentation"), ("zh", "准备好了吗？")],
        "这个周末我们去 Costco 买东西吧。": [("zh", "这个周末我们去"), ("en", "Costco"), ("zh", "买东西吧。")],
        "他在 Google 工作了五年。": [("zh", "他在"), ("en", "Google"), ("zh", "工作了五年。")],
        "请帮我订一张去 London 的机票。": [("zh", "请帮我订一张去"), ("en", "London"), ("zh", "的机票。")],
        "这首歌的 melody 很好听。": [("zh", "这首歌的"), ("en", "melody"), ("zh", "很好听。")],
    }
    assert {line: runs_of(line) for line in lines if line.strip()} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello 世界 mixed", [("en", "Hello"), ("zh", "世界"), ("en", "mixed")]),
        ("会议在2024年5月3日开始。", [("zh", "会议在2024年5月3日开始。")]),  # digits join the run they touch
        ("I bought 3个苹果", [("en", "I bought"), ("zh", "3个苹果")]),
        ("时速120km/h很快", [("zh", "时速120km/h很快")]),  # a unit written against a number is not English
        ("こんにちは世界", [("ja", "こんにちは"), ("zh", "世界")]),
        ("2024", [("en", "2024")]),  # no letters: the default language
    ],
)
def test_runs_by_script(text: str, expected: list[tuple[str, str]]) -> None:
    assert runs_of(text) == expected


def test_language_tags_choose_the_language_of_han_and_of_text_without_letters() -> None:
    said = phonemize("(中文)2024")
    assert said[0].language == "zh" and said[0].spoken == "二千零二十四"
    assert phonemize("(粤语)你好")[0].language == "yue"


def test_a_mixed_sentence_is_one_utterance_with_both_inventories() -> None:
    said = utterance("我刚买了一台新的 iPhone。")
    assert said.language == "zh+en"
    assert said.spoken == "我刚买了一台新的 iPhone"
    assert "↓" in said.phonemes and "ˈaɪ" in said.phonemes  # Mandarin tones and English stress, one string
    assert said.phonemes.startswith(said.runs[0].phonemes) and said.phonemes.endswith(said.runs[1].phonemes)


def test_english_is_unchanged_by_the_frontend_interface() -> None:
    from steptts import g2p
    from steptts.textnorm import normalize_text

    text = "Dr. Smith paid $5.50 on Jan. 3rd."
    said = utterance(text)
    assert said.normalized == normalize_text(text)
    assert said.phonemes == g2p.phonemize(normalize_text(text), "en-us")


def test_unspeakable_characters_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        said = utterance("Great job 👍🏽 ※ today!")
    assert said.normalized == "Great job today!"
    assert "👍" in caplog.text and "※" in caplog.text
    with pytest.raises(TextError, match="nothing to say"):
        phonemize("😀🎉 ♪")


def test_a_voice_without_the_runs_language_is_one_clear_error() -> None:
    settings = TextSettings(languages=frozenset({"en"}), voice_name="joe-nano")
    with pytest.raises(TextError) as caught:
        utterance("Hello 你好，世界，今天天气很好。", settings)
    message = str(caught.value)
    assert "does not speak Mandarin" in message and "你好，世界，今天天气很好" in message[:90]
    assert "joe-nano" in message and "\n" not in message


def test_default_voice_refuses_mandarin_in_the_cli() -> None:
    done = steptts("say", "你好，世界。", "-o", "never.wav", env={"STEPTTS_VOICES": ""})
    line = one_error_line(done)
    assert "Mandarin" in line and "你好，世界。" in line
    assert not Path("never.wav").exists()


def test_phonemize_json_gives_normalized_language_and_phonemes() -> None:
    done = steptts("phonemize", "--json", "会议定在2024年5月3日上午9:30开始。")
    assert done.returncode == 0, done.stderr.decode()
    [sentence] = json.loads(done.stdout)
    assert sentence["normalized"] in ("会议定在二零二四年五月三日上午九点三十分开始", "会议定在二零二四年五月三日上午九点半开始")
    assert sentence["language"] == "zh"
    assert sentence["phonemes"].startswith("xwei↘i↘ ti↘ŋ ʦai↘ ɚ↘li↗ŋɚ↘ sɨ↘njɛ↗n")


def test_phonemize_reads_stdin_and_shows_runs() -> None:
    done = steptts("phonemize", "-", stdin="Hello 世界. 第二句。".encode())
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "[1] en+zh: Hello 世界." in out and "zh  世界.  →  ʂɨ↘ʨje↘." in out and "[2] zh: 第二句。" in out


def test_lexicon_overrides_the_g2p(tmp_path: Path) -> None:
    lexicon = tmp_path / "words.tsv"
    lexicon.write_text("# name\tpronunciation\nNguyen\tŋwˈɪn\n重庆\tchong2 qing4\n银行\tjin↗xa↗ŋ\tzh\n",
                       encoding="utf-8")
    said = phonemize("Mr. nguyen went to 重庆的银行.", lexicon=lexicon)[0]
    assert "ŋwˈɪn" in said.phonemes
    zh = next(run for run in said.runs if run.language == "zh")
    assert zh.phonemes.startswith("ꭧʰʊ↗ŋʨʰi↘ŋ") and "jin↗xa↗ŋ" in zh.phonemes  # pinyin, then IPA
    assert phonemize("重庆的银行")[0].phonemes != zh.phonemes
    done = steptts("phonemize", "--json", "--lexicon", str(lexicon), "Nguyen")
    assert json.loads(done.stdout)[0]["phonemes"] == "ŋwˈɪn"


def test_a_bad_lexicon_names_file_and_line(tmp_path: Path) -> None:
    lexicon = tmp_path / "bad.tsv"
    lexicon.write_text("ok\toʊkˈeɪ\nno tab here\n", encoding="utf-8")
    with pytest.raises(TextError, match=r"bad.tsv:2"):
        Lexicon.load(lexicon)
    line = one_error_line(steptts("phonemize", "--lexicon", str(lexicon), "hi"))
    assert "bad.tsv:2" in line


def test_a_mandarin_voice_speaks_mandarin_and_mixed_text(zh_voices: Path) -> None:
    tts = TTS(voice=zh_voices / "tiny-zh", provider="cpu")
    chunks = list(tts.stream("你好，世界。我刚买了一台新的 iPhone。"))
    assert [c.text for c in chunks] == ["你好，世界。", "我刚买了一台新的 iPhone."]  # the mixed one is one chunk
    assert all(c.duration_s > 0.1 and np.sqrt(np.mean(c.samples**2)) > 1e-4 for c in chunks)
    [said] = tts.phonemize("我刚买了一台新的 iPhone。")
    assert said.phonemes == utterance("我刚买了一台新的 iPhone。").phonemes
    ids, _ = tts.voice.phoneme_vocab.encode(said.phonemes)
    assert len(ids) == len(said.phonemes) + 2  # every symbol reached the graph


def test_the_error_lists_the_voices_that_speak_the_language(zh_voices: Path, voice_dir: Path) -> None:
    done = steptts("say", "你好", "--voice", str(voice_dir), "-o", "never.wav",
                   env={"STEPTTS_VOICES": str(zh_voices)})
    line = one_error_line(done)
    assert "voices that speak it: " in line and "tiny-zh" in line.split("voices that speak it: ")[1]
    done = steptts("say", "你好，世界。", "--voice", "tiny-zh", "-o", str(zh_voices / "hi.wav"),
                   env={"STEPTTS_VOICES": str(zh_voices)})
    assert done.returncode == 0, done.stderr.decode()


def test_english_never_loads_the_chinese_libraries_and_nothing_loads_torch() -> None:
    code = ("import sys; from steptts import TTS; TTS(provider='cpu').synthesize('Hello there.'); "
            "heavy = ('jieba', 'pypinyin', 'misaki', 'cn2an', 'opencc', 'torch'); "
            "english = sorted(m for m in heavy if m in sys.modules); "
            "from steptts import phonemize; phonemize('你好，世界。'); "
            "print(english, 'torch' in sys.modules, 'jieba' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "False", "True"]
