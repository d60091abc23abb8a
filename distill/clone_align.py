"""Clone stage 3, align: transcribed utterances → a distillation dataset with durations per token.

Text goes through the runtime's own frontend (:mod:`steptts.languages.pipeline`: language runs,
each language's normalizer and G2P, the base voice's phoneme substitutions, under the language tag of
the recordings' language), so the clone learns exactly the tokens the runtime will feed it: English,
Mandarin (Whisper's Traditional characters are made Simplified by the Mandarin normalizer) and mixed
transcripts alike. Durations come from
monotonic alignment search (:mod:`distill.alignment`) between the base student's token means and the
utterance's log-mel (:func:`distill.features.log_mel`, the data engine's definition).

The token means are what the student's ``align_projection`` predicts, and an exported graph does not
hold that layer (only training uses it). It is fitted back here from the base voice itself
(:func:`fit_alignment_projection`): the base student speaks :data:`CALIBRATION_SENTENCES` (for Mandarin
recordings :data:`MANDARIN_CALIBRATION_SENTENCES`), and a
least-squares map from its token states to the mean log-mel of each token's frames replaces the
projection. The means then live in the base speaker's spectrum; the user's utterance is shifted to
the same mean log-mel per band (:func:`align_utterance`) before the search, against differences of
level and overall colour. ``bench/bench_clone_align.py`` measures the boundaries found against the
graph's own durations.

The output is a dataset (docs/CONTRACTS.md, contract 4) that ``steptts distill train`` reads: one
record per utterance, its audio copied, ``durations`` summing to the audio's frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from distill.alignment import durations_from_path, gaussian_log_likelihood, monotonic_alignment_search
from distill.dataset_store import DatasetWriter
from distill.features import HOP, log_mel
from distill.model import Student, regulate_length
from steptts.errors import StepTTSError
from steptts.languages.pipeline import TextSettings, utterance
from steptts.phonemes import PhonemeVocab

if TYPE_CHECKING:
    from steptts.voice import Voice

ALIGN_VERSION = 2
"""Bumped when phonemization or alignment changes; aligned record ids include it."""
CALIBRATION_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "She bought three yellow shirts and a pair of thick woollen gloves.",
    "Every morning the baker pulls fresh bread out of a huge stone oven.",
    "Would you mind closing the window? The wind is getting rather cold.",
    "A few judges argued about the measure for nearly an hour.",
    "My cousin Zachary plays the violin, the piano and the drums.",
    "The children watched the ships sail toward the harbour at dusk.",
    "Please check the engine before you drive up the mountain road.",
    "Thousands of birds flew south when the autumn leaves turned orange.",
    "He whispered a joke, and everyone in the room burst out laughing.",
    "Our television usually breaks just when the big game begins.",
    "The vision of the treasure kept the young sailor awake all night.",
    "Fourteen students measured the length of the hallway with a rope.",
    "Why does the cat always sleep on the newspaper I am reading?",
    "The orchestra rehearsed the difficult passage again and again.",
    "Jack found a shiny coin beside the bench in the village square.",
    "They chose a quiet hotel with a view of the valley below.",
    "Nobody expected the weather to change so quickly that afternoon.",
    "The doctor asked him to breathe deeply and hold his breath.",
    "Grandmother keeps her recipes in a worn leather notebook.",
)
"""What the base voice speaks to fit its alignment projection: every English phoneme, several times."""
MANDARIN_CALIBRATION_SENTENCES = (
    "今天天气很好，我们一起去公园散步吧。",
    "他每天早上六点起床，先跑步，再吃早饭。",
    "这家小饭馆的饺子又便宜又好吃。",
    "请你把窗户关上，外面刮大风了。",
    "我女儿在北京大学学习历史和音乐。",
    "昨天晚上下了一场雨，路上有点儿滑。",
    "你想喝茶还是喝咖啡？",
    "周末我们坐火车去上海看朋友。",
    "春天到了，河边的柳树都绿了。",
    "这个问题太难了，我想了很久也不明白。",
    "姐姐送给我一本很有意思的小说。",
    "医生说他需要多休息，少熬夜。",
    "超市里的水果比菜市场贵一些。",
    "孩子们在操场上唱歌、跳舞、做游戏。",
    "我们用手机拍了很多照片，发给了爷爷奶奶。",
    "请问，去火车站怎么走？一直往前走，然后左转。",
    "二月的北方很冷，儿子的耳朵冻得通红！",
    "三月十四日，我们送了四束红色的玫瑰花。",
    "冬天的夜里，远处的村庄下起了大雪，月亮躲进了云里。",
    "人们热热闹闹地围着火锅，吃肉、喝酒、聊天，玩儿得很开心！",
    "飞机上的服务员给我送来一杯果汁和一份米饭。",
)
"""What the base voice speaks for Mandarin recordings. Written for this purpose (no corpus or dev line):
everyday sentences, the last five added for the symbols the first sixteen gave fewest of (ɚ, ɻ, ʊ, s,
ɥ, f, y). Every symbol the Mandarin frontend gives for the HSK sentences is among their phonemes, at
least 4 times (the four tone arrows 50 to 90 times); ``tests/test_clone_zh.py`` checks it against
the bilingual voice's vocabulary."""
RIDGE = 1e-3
"""Ridge penalty of the projection's least squares (per token, on unit-scale states)."""


class AlignError(StepTTSError, ValueError):
    """An utterance cannot be aligned (its text gives no phonemes, or it is shorter than its tokens)."""


@dataclass(frozen=True)
class Frontend:
    """Text → the token ids of one voice, as the runtime makes them."""

    vocab: PhonemeVocab
    """The voice's phoneme vocabulary."""
    settings: TextSettings
    """How the runtime turns text into phonemes for this voice under the recordings' language tag
    (:func:`steptts.api.text_settings`): its languages, English accent and substitutions."""
    language: str
    """The recordings' language: ``en`` or ``zh``."""

    @classmethod
    def of_voice(cls, voice: Voice, language: str = "en") -> Frontend:
        """The frontend of ``voice`` for recordings in ``language``, as ``TTS(voice).phonemize(text,
        language=<its tag>)`` reads text: the tag (英文, 中文) sets the language of text without letters."""
        from steptts.api import text_settings
        from steptts.languages.base import LANGUAGES
        from steptts.tags import resolve_tag

        return cls(voice.phoneme_vocab, text_settings([resolve_tag(LANGUAGES[language].tag)], voice), language)

    @property
    def record_language(self) -> str:
        """The espeak-ng voice a dataset record names (contract 4): the English accent, or ``cmn``."""
        from steptts.languages.base import LANGUAGES

        return self.settings.english_variant if self.language == "en" else LANGUAGES[self.language].espeak_voice

    def phonemes(self, text: str) -> tuple[str, str]:
        """(normalized text, phonemes) of a transcript, said as one utterance.

        Raises:
            TextError: the text holds a language the voice does not speak, or nothing to say.
        """
        said = utterance(text, self.settings)
        return said.normalized, said.phonemes

    def ids(self, phonemes: str) -> tuple[list[int], list[str]]:
        """Token ids and tokens kept (a symbol outside the vocabulary is dropped, as the runtime does)."""
        return self.vocab.encode(phonemes)


def _inputs(ids: list[int], speaker_id: int = 0) -> tuple[torch.Tensor, ...]:
    """Graph inputs of one utterance (no tags, neutral controls, nothing overridden)."""
    n_tokens = len(ids)
    return (
        torch.tensor([ids]), torch.tensor([n_tokens]), torch.zeros(1, 1, dtype=torch.long),
        torch.tensor([speaker_id]), torch.tensor([[1.0, 0.0, 0.0]]), torch.full((1, n_tokens), -1.0),
        torch.zeros(1, n_tokens),
    )


def token_mel_means(mel: torch.Tensor, frame_mask: torch.Tensor, token_index: torch.Tensor, n_tokens: int):
    """Mean log-mel of each token's frames.

    mel [B,F,80], frame_mask and token_index [B,F] → (means [B,T,80], frames per token [B,T]).
    """
    weights = frame_mask.to(mel.dtype)
    index = token_index.unsqueeze(-1).expand_as(mel)
    sums = mel.new_zeros(mel.shape[0], n_tokens, mel.shape[-1])
    sums.scatter_add_(1, index, mel * weights[..., None])
    counts = mel.new_zeros(mel.shape[0], n_tokens).scatter_add_(1, token_index, weights)
    return sums / counts.clamp_min(1e-6).unsqueeze(-1), counts


@dataclass(frozen=True)
class AlignmentFit:
    """What fitting the projection gave."""

    r_squared: float
    """Share of the variance of the token means that the projection explains."""
    reference_mean: torch.Tensor
    """float [80]: the base voice's mean log-mel over its louder frames (utterances are shifted to it)."""
    tokens: int
    """Tokens the fit used."""


def _louder_frames(mel: torch.Tensor) -> torch.Tensor:
    """Frames of [F,80] whose mean log-mel is above the utterance's mean: speech rather than pauses."""
    return mel[mel.mean(-1) > mel.mean()]


def calibration_sentences(frontend: Frontend) -> tuple[str, ...]:
    """The sentences the base voice speaks to fit its projection: those of the recordings' language.

    Only that language's: for Mandarin recordings on the bilingual voice, a fit to the Mandarin lines
    alone put token boundaries closer than one to both languages' lines (``bench/bench_clone_align.py
    --voice bilingual-nano --language zh --speaker jf_gongitsune --lines 10 [--fit-both]``: mean error
    2.85 against 3.24 frames as the voice speaks, 2.17–3.46 against 2.51–4.18 under the five controls).
    """
    return MANDARIN_CALIBRATION_SENTENCES if frontend.language == "zh" else CALIBRATION_SENTENCES


@torch.no_grad()
def fit_alignment_projection(
    student: Student, frontend: Frontend, sentences: tuple[str, ...] | None = None, speaker_id: int = 0,
) -> AlignmentFit:
    """Replace ``student.align_projection`` by a fit to the student's own speech.

    ``sentences`` default to :func:`calibration_sentences`; ``speaker_id`` is the speaker who says them
    (the one :func:`align_utterance` is then given). For each sentence: token states [T,D] from
    :meth:`Student.encode`, audio from the student, its log-mel [F,80], and the mean log-mel of each
    token's frames [T,80] (tokens given no frame are skipped). Ridge least squares on all tokens gives
    the weight [80,D] and bias [80].
    """
    student.eval()
    states_rows, mean_rows, loud_frames = [], [], []
    for sentence in sentences if sentences is not None else calibration_sentences(frontend):
        ids, _ = frontend.ids(frontend.phonemes(sentence)[1])
        inputs = _inputs(ids, speaker_id)
        audio, _, durations = student(*inputs)
        mel = log_mel(audio)  # [1,F,80]
        states, token_mask = student.encode(*inputs[:4])
        _, frame_mask, token_index = regulate_length(states, durations, mel.shape[1])
        means, counts = token_mel_means(mel, frame_mask, token_index, len(ids))
        keep = (counts[0] > 0) & token_mask[0]
        states_rows.append(states[0][keep].double())
        mean_rows.append(means[0][keep].double())
        loud_frames.append(_louder_frames(mel[0]))
    states = torch.cat(states_rows)
    means = torch.cat(mean_rows)
    design = torch.cat([states, torch.ones(len(states), 1, dtype=torch.float64)], dim=1)
    gram = design.T @ design + RIDGE * len(design) * torch.eye(design.shape[1], dtype=torch.float64)
    solution = torch.linalg.solve(gram, design.T @ means)  # [D+1, 80]
    residual = means - design @ solution
    r_squared = 1.0 - float((residual**2).sum() / ((means - means.mean(0)) ** 2).sum())
    student.align_projection.weight.copy_(solution[:-1].T.float())
    student.align_projection.bias.copy_(solution[-1].float())
    return AlignmentFit(r_squared, torch.cat(loud_frames).mean(0), len(states))


@torch.no_grad()
def align_utterance(
    student: Student, ids: list[int], audio: np.ndarray, reference_mean: torch.Tensor | None,
    speaker_id: int = 0,
) -> np.ndarray:
    """Frames per token of one utterance.

    Args:
        student: with a fitted ``align_projection``.
        ids: token ids [T]. audio: float32 [S] at the student's rate.
        reference_mean: float [80], the base voice's mean log-mel over speech (the utterance's own
            mean over its louder frames is moved onto it, band by band); None: no shift.
        speaker_id: the speaker the projection was fitted with.
    Returns:
        int64 [T] durations summing to S // 256.

    Raises:
        AlignError: fewer frames than tokens.
    """
    mel = log_mel(torch.from_numpy(np.asarray(audio, np.float32))[None])  # [1,F,80]
    n_frames, n_tokens = mel.shape[1], len(ids)
    if n_frames < n_tokens:
        raise AlignError(f"{n_frames} frames cannot hold {n_tokens} tokens")
    loud = _louder_frames(mel[0])
    shift = reference_mean - loud.mean(0) if reference_mean is not None and len(loud) else 0.0
    inputs = _inputs(ids, speaker_id)
    states, _ = student.encode(*inputs[:4])
    log_likelihood = gaussian_log_likelihood(student.align_projection(states), mel + shift)
    path = monotonic_alignment_search(log_likelihood, torch.tensor([n_tokens]), torch.tensor([n_frames]))
    return durations_from_path(path)[0].numpy()


def aligned_id(prepared_id: str, base_sha256: str) -> str:
    """Id of an aligned record: its prepared utterance, the base graph and :data:`ALIGN_VERSION`."""
    return hashlib.sha256(f"{prepared_id}:{base_sha256}:{ALIGN_VERSION}".encode()).hexdigest()


def align_records(
    records: list[dict], prepared_dir: Path, out_dir: Path, student: Student, frontend: Frontend,
    reference_mean: torch.Tensor, base_sha256: str, speaker_id: int = 0,
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Align prepared records (each with ``text``, ``voice`` and ``path`` under ``prepared_dir``) into a
    dataset at ``out_dir``; resumable.

    ``student`` has a projection fitted with ``speaker_id``, ``reference_mean`` is
    :attr:`AlignmentFit.reference_mean`. Returns the aligned records and (source, reason) of each
    utterance left out (a transcript in a language the voice does not speak, or with nothing to say;
    audio too short for its tokens).
    """
    import soundfile as sf

    aligned, skipped = [], []
    with DatasetWriter(out_dir) as writer:
        for record in records:
            record_id = aligned_id(record["id"], base_sha256)
            if record_id in writer.done:
                aligned.append(writer.done[record_id])
                continue
            try:
                text, phonemes = frontend.phonemes(record["text"])
            except StepTTSError as error:
                skipped.append((record["source"], str(error)))
                continue
            ids, _ = frontend.ids(phonemes)
            audio, rate_hz = sf.read(prepared_dir / record["path"], dtype="float32")
            if len(ids) <= 2:
                skipped.append((record["source"], "the transcript gives no phonemes"))
                continue
            try:
                durations = align_utterance(student, ids, audio, reference_mean, speaker_id)
            except AlignError as error:
                skipped.append((record["source"], str(error)))
                continue
            audio = audio[: int(durations.sum()) * HOP]
            fields = {key: record[key] for key in ("voice", "teacher", "source", "source_sha256", "start_s",
                                                   "end_s", "gain_db", "transcript_source") if key in record}
            aligned.append(writer.write({
                **fields, "id": record_id, "text": text, "phonemes": phonemes, "tags": [],
                "language": frontend.record_language, "sample_rate": rate_hz, "durations": durations.tolist(),
                "edits": [], "prepared_id": record["id"],
            }, audio))
    return aligned, skipped
