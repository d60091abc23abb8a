"""Cloning Mandarin recordings: the frontend, the Mandarin alignment, and stage 3 through the real CLI.

The recordings are spoken by the shipped bilingual voice itself (speaker jf_gongitsune), a minute of
Mandarin and mixed sentences; their transcripts come from a TSV, so Whisper is not needed.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from distill.clone_align import Frontend, align_utterance
from distill.dataset_store import read_manifest
from distill.onnx_weights import student_from_voice
from tests.conftest import REPO
from tests.student_helpers import one_torch_thread  # noqa: F401 (autouse fixture)
from tests.test_clone import _one_error_line, _succeeded, clone

SPEAKER = "jf_gongitsune"
RATE_HZ = 22050
SENTENCES = (  # the last two mixed
    "我的弟弟明年夏天就要从中学毕业了。",
    "这条街上新开了一家卖书的小商店。",
    "妈妈每个星期六都会去超市买菜。",
    "下雪的时候，小狗喜欢在院子里跑来跑去。",
    "他把自行车停在图书馆的门口。",
    "我们明天下午三点在学校门口见面。",
    "这座城市的冬天比我老家暖和多了。",
    "老师让我们每天写一篇短短的日记。",
    "奶奶做的红烧鱼是全家人最爱吃的菜。",
    "你能不能帮我把这个箱子搬到楼上去？",
    "我今天用iPhone拍了很多照片。",
    "这个project下个星期五就要交了。",
)


@pytest.fixture(scope="module")
def bilingual():
    from steptts.voice import load_voice

    return load_voice("bilingual-nano")


def test_the_frontend_gives_the_runtimes_phonemes_for_mandarin_and_mixed_text(bilingual) -> None:
    from steptts import TTS

    frontend = Frontend.of_voice(bilingual, "zh")
    tts = TTS("bilingual-nano", split_first_clause=False)
    for text in (*SENTENCES, "会议在2024年5月3日开始。"):
        normalized, phonemes = frontend.phonemes(text)
        said = tts.phonemize(text, language="中文")
        assert len(said) == 1 and (normalized, phonemes) == (said[0].normalized, said[0].phonemes), text
    # Whisper often writes Traditional characters: the runtime's normalizer makes them Simplified.
    assert frontend.phonemes("我們明天下午三點在學校門口見面。") == frontend.phonemes(SENTENCES[5])
    assert frontend.record_language == "cmn" and Frontend.of_voice(bilingual, "en").record_language == "en-us"


def _render(session, ids: list[int], speaker_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The graph's audio [S] and durations [T] of ids as ``speaker_id`` says them."""
    n_tokens = len(ids)
    audio, lengths, durations = session.run(None, {
        "phoneme_ids": np.array([ids], np.int64), "phoneme_lengths": np.array([n_tokens], np.int64),
        "tag_ids": np.zeros((1, 1), np.int64), "speaker_ids": np.array([speaker_id], np.int64),
        "controls": np.array([[1.0, 0.0, 0.0]], np.float32),
        "duration_override": np.full((1, n_tokens), -1.0, np.float32),
        "pitch_override": np.zeros((1, n_tokens), np.float32),
    })
    return audio[0, : int(lengths[0])], durations[0]


def test_mandarin_boundaries_fall_near_the_graphs_own() -> None:
    """The voice's own Mandarin, warped onto every speaker's rendering: the one who said it is chosen."""
    from export.parity import open_session

    weights, voice = student_from_voice(REPO / "voices" / "bilingual-nano")
    frontend = Frontend.of_voice(voice, "zh")
    session = open_session(voice.model_path())
    errors = []
    for sentence in SENTENCES[::3]:
        ids, _ = frontend.ids(frontend.phonemes(sentence)[1])
        audio, truth = _render(session, ids, voice.speakers[SPEAKER])
        alignment = align_utterance(weights.student, ids, audio, list(voice.speakers.values()))
        found = alignment.durations
        assert alignment.speaker_id == voice.speakers[SPEAKER]
        assert found.shape == truth.shape and int(found.sum()) == len(audio) // 256 and found.min() >= 1
        errors.append(np.abs(np.cumsum(found)[:-1] - np.cumsum(truth)[:-1]))
    errors = np.concatenate(errors)
    assert errors.mean() <= 1.0, errors
    assert np.mean(errors <= 2) >= 0.9, errors


@pytest.fixture(scope="module")
def mandarin_clips(tmp_path_factory) -> tuple[object, object]:
    """(folder of clips, transcripts TSV): each sentence said by SPEAKER, then again 0.8 times as loud;
    one transcript in Traditional characters, as Whisper may write it."""
    from steptts import TTS

    tts = TTS("bilingual-nano")
    folder = tmp_path_factory.mktemp("zh-clips")
    gap = np.zeros(int(0.3 * RATE_HZ), np.float32)
    rows = []
    for index, text in enumerate(SENTENCES * 2):
        audio = tts.synthesize(text, speaker=SPEAKER, language="中文").samples
        gain = 1.0 if index < len(SENTENCES) else 0.8
        sf.write(folder / f"zh{index:02d}.wav", np.concatenate([gap, gain * audio, gap]), RATE_HZ)
        rows.append(f"zh{index:02d}\t{'我們明天下午三點在學校門口見面。' if index == 5 else text}")
    tsv = folder.with_name(folder.name + ".tsv")
    tsv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, tsv


def test_mandarin_recordings_align_against_the_bilingual_voice(mandarin_clips, bilingual, tmp_path) -> None:
    from steptts import TTS

    folder, tsv = mandarin_clips
    result = clone("--audio", str(folder), "--out", str(tmp_path / "v"), "--transcripts", str(tsv),
                   "--base", "bilingual-nano", "--language", "zh", "--stop-after", "align")
    _succeeded(result)
    work = tmp_path / "v.clone-work"
    aligned = read_manifest(work / "aligned")
    assert len(aligned) == 2 * len(SENTENCES) and f"{len(aligned)} utterances aligned" in result.stdout
    tts = TTS("bilingual-nano", split_first_clause=False)
    expected = {text: tts.phonemize(text, language="中文")[0] for text in SENTENCES}
    said = {utterance.normalized: utterance for utterance in expected.values()}
    for record in aligned:
        utterance = said[record["text"]]
        assert record["phonemes"] == utterance.phonemes and record["language"] == "cmn"
        ids, _ = bilingual.phoneme_vocab.encode(utterance.phonemes)
        frames = sf.info(work / "aligned" / record["path"]).frames // 256
        assert len(record["durations"]) == len(ids)
        assert sum(record["durations"]) == frames and min(record["durations"]) >= 1
        assert record["align_speaker"] == SPEAKER  # the base speaker who said the clips


def test_a_base_that_does_not_speak_mandarin_gives_one_line_and_exit_2(mandarin_clips, tmp_path) -> None:
    folder, tsv = mandarin_clips
    for language in ((), ("--language", "zh")):  # read from the transcripts' script, or given
        result = clone("--audio", str(folder), "--out", str(tmp_path / f"v{len(language)}"), "--transcripts",
                       str(tsv), "--base", "joe-nano", *language)
        line = _one_error_line(result)
        assert "base voice 'joe-nano' does not speak zh (it speaks en); choose a --base that does" in line
