"""中文 and 英文 force the language of text that has none of its own; 四川话 through a voice; 粤语 refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_languages import one_error_line, steptts, zh_voices  # noqa: F401 - zh_voices is a fixture

from steptts import TTS, phonemize
from steptts.errors import StepTTSError


@pytest.fixture(scope="module")
def mandarin_voice(zh_voices: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """``tiny-zh`` made a Mandarin-first voice (``language`` cmn) trained on 中文, 英文 and 四川话."""
    folder = tmp_path_factory.mktemp("mandarin-first") / "tiny-cmn"
    shutil.copytree(zh_voices / "tiny-zh", folder)
    config = json.loads((folder / "voice.json").read_text(encoding="utf-8"))
    some_id = next(iter(config["tag_vocab"].values()))
    config["tag_vocab"].update({key: some_id for key in ("中文", "英文", "四川话")})
    config.update(name="tiny-cmn", language="cmn")
    (folder / "voice.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return folder


def spoken(utterances) -> list[tuple[str, str]]:
    return [(u.language, u.spoken) for u in utterances]


def test_a_language_tag_forces_text_without_letters() -> None:
    assert spoken(phonemize("2024")) == [("en", "twenty twenty four")]  # no voice: English by default
    assert spoken(phonemize("(中文)2024")) == [("zh", "二千零二十四")]
    assert spoken(phonemize("(mandarin)3.5%")) == [("zh", "百分之三点五")]
    assert spoken(phonemize("(英文)3.5%")) == [("en", "three point five percent")]


def test_letters_keep_their_script_under_a_language_tag() -> None:
    [said] = phonemize("(中文)OK, 123")
    assert said.language == "en"  # Latin is English: the tag chooses only for text that has no script
    [said] = phonemize("(英文)你好")
    assert said.language == "zh"


def test_the_tags_override_a_mandarin_voices_default(mandarin_voice: Path) -> None:
    tts = TTS(voice=mandarin_voice, provider="cpu")
    assert spoken(tts.phonemize("2024")) == [("zh", "二千零二十四")]
    assert spoken(tts.phonemize("(英文)2024")) == [("en", "twenty twenty four")]
    assert spoken(tts.phonemize("2024", language="english")) == [("en", "twenty twenty four")]
    assert tts.phonemize("(四川话)吃饭")[0].phonemes == "ʦʰɨ↓fa↗n"
    audio = tts.synthesize("(四川话)你吃饭了没有")
    assert audio.samples.size > 0


def test_a_voice_without_cantonese_refuses_it_in_one_line(mandarin_voice: Path) -> None:
    tts = TTS(voice=mandarin_voice, provider="cpu")
    with pytest.raises(StepTTSError, match="粤语"):
        tts.phonemize("(粤语)你好")
    line = one_error_line(steptts("say", "(粤语)你好", "--voice", str(mandarin_voice), "-o", "never.wav"))
    assert "粤语" in line


def test_a_voice_that_speaks_the_language_performs_its_tag_untrained(zh_voices: Path, voice_dir: Path) -> None:  # noqa: F811
    """中文/英文 only choose the language of script-less runs: a voice speaking the language needs no
    trained tag for them (tiny-zh has neither in its tag vocabulary); 四川话 still needs training."""
    tts = TTS(voice=zh_voices / "tiny-zh", provider="cpu")
    assert "中文" not in tts.voice.tag_vocab and "英文" not in tts.voice.tag_vocab
    forced = tts.synthesize("(中文)2024")
    assert forced.samples.size == tts.synthesize("二千零二十四").samples.size  # said in Mandarin
    assert tts.synthesize("(英文)2024").samples.size == tts.synthesize("twenty twenty four").samples.size
    with pytest.raises(StepTTSError, match="四川话"):
        tts.synthesize("(四川话)你吃饭了没有")
    english_only = TTS(voice=voice_dir, provider="cpu")
    assert english_only.synthesize("(英文)Hello.").samples.size > 0
    with pytest.raises(StepTTSError, match="中文"):
        english_only.synthesize("(中文)2024")
