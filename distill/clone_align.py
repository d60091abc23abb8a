"""Clone stage 3, align: transcribed utterances → a distillation dataset with durations per token.

Text goes through the runtime's own frontend (:mod:`steptts.languages.pipeline`: language runs,
each language's normalizer and G2P, the base voice's phoneme substitutions, under the language tag of
the recordings' language), so the clone learns exactly the tokens the runtime will feed it: English,
Mandarin (Whisper's Traditional characters are made Simplified by the Mandarin normalizer) and mixed
transcripts alike.

Durations come from the base voice itself, by warping: each base speaker renders the transcript (its
graph gives the frames of every token), dynamic time warping (:func:`librosa.sequence.dtw`) maps the
recording's frames onto the rendering's, and each token boundary of the rendering is carried onto
the recording along the path (:func:`align_utterance`). The frames are compared as cepstra
(:func:`warp_features`): the low coefficients of the log-mel's DCT, each normalized over the
utterance, which follow what is said more than who says it. The speaker whose rendering warps most
cheaply gives the durations. On an unseen speaker (a blend of two Kokoro voices, Kokoro's own
durations as the truth, ``bench/bench_clone_align.py``) this puts boundaries within two frames far
more often than the monotonic alignment search it replaced, which fitted the base speaker's token
means and left about a third of the tokens a single frame.

The output is a dataset (docs/CONTRACTS.md, contract 4) that ``steptts distill train`` reads: one
record per utterance, its audio copied, ``durations`` summing to the audio's frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.fft
import torch

from distill.dataset_store import DatasetWriter
from distill.features import HOP, log_mel
from distill.model import Student
from steptts.errors import StepTTSError
from steptts.languages.pipeline import TextSettings, utterance
from steptts.phonemes import PhonemeVocab

if TYPE_CHECKING:
    from steptts.voice import Voice

ALIGN_VERSION = 3
"""Bumped when phonemization or alignment changes; aligned record ids include it."""
N_CEPSTRA = 10
"""Cepstral coefficients the warp compares (1 to 10; the 0th, the level, is left out). Fewer follow
the speech and less the speaker: on the blend of ``bench/bench_clone_align.py`` 8 or 10 put 86% of the
boundaries within two frames, 13 gave 82%, 20 gave 71%."""


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
        from distill.teacher_base import record_language

        return record_language(self.language, self.settings.english_variant)

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


def neutral_inputs(ids: list[int], speaker_id: int = 0) -> tuple[torch.Tensor, ...]:
    """Graph inputs of one utterance (no tags, neutral controls, nothing overridden)."""
    n_tokens = len(ids)
    return (
        torch.tensor([ids]), torch.tensor([n_tokens]), torch.zeros(1, 1, dtype=torch.long),
        torch.tensor([speaker_id]), torch.tensor([[1.0, 0.0, 0.0]]), torch.full((1, n_tokens), -1.0),
        torch.zeros(1, n_tokens),
    )


def warp_features(mel: torch.Tensor) -> np.ndarray:
    """Log-mel [F,80] → cepstra 1..:data:`N_CEPSTRA` [F,N], each zero-mean and unit-variance over the frames."""
    cepstra = scipy.fft.dct(mel.double().numpy(), type=2, norm="ortho", axis=1)[:, 1 : N_CEPSTRA + 1]
    return (cepstra - cepstra.mean(0)) / (cepstra.std(0) + 1e-5)


@dataclass(frozen=True)
class Alignment:
    """One utterance's durations and how they were found."""

    durations: np.ndarray
    """int64 [T] frames per token, each at least 1, summing to the recording's frames (S // 256)."""
    speaker_id: int
    """The base speaker whose rendering the recording was warped onto."""
    cost: float
    """Mean cepstral distance along the warp path (lower: the rendering sounds more alike)."""


def carry_boundaries(path: np.ndarray, rendered_durations: np.ndarray, n_frames: int) -> np.ndarray:
    """Durations of the recording from a warp path and the rendering's durations.

    Args:
        path: int [P,2] (rendering frame, recording frame) pairs of a DTW path, from (0, 0) to the end.
        rendered_durations: int [T] frames per token of the rendering (T ≤ ``n_frames``).
        n_frames: the recording's frames.
    Returns:
        int64 [T] durations summing to ``n_frames``, each at least 1: each token of the rendering
        starts at the first recording frame the path matches to the token's first rendered frame,
        then starts that collide are moved apart by the fewest frames.
    """
    n_tokens = len(rendered_durations)
    first_match = np.full(int(rendered_durations.sum()) + 1, n_frames, np.int64)
    np.minimum.at(first_match, path[:, 0], path[:, 1])
    starts = first_match[np.cumsum(rendered_durations)[:-1]]  # [T-1]: where tokens 1 … T-1 begin
    index = np.arange(n_tokens - 1)
    # Strictly increasing, at least k+1 (tokens before keep a frame each) and at most
    # n_frames - (T-1-k) (tokens after keep one): the smallest moves that make it so.
    starts = index + np.maximum.accumulate(np.maximum(starts, index + 1) - index)
    starts = index + np.minimum.accumulate(
        np.minimum(starts - index, n_frames - n_tokens + 1)[::-1])[::-1]
    return np.diff(np.concatenate([[0], starts, [n_frames]])).astype(np.int64)


@torch.no_grad()
def align_utterance(student: Student, ids: list[int], audio: np.ndarray, speaker_ids: list[int]) -> Alignment:
    """Frames per token of one utterance, warped onto the base speakers' renderings of it.

    Args:
        student: the base student. ids: token ids [T]. audio: float32 [S] at the student's rate.
        speaker_ids: base speakers to render with; the cheapest warp wins.
    Raises:
        AlignError: fewer frames than tokens.
    """
    import librosa

    mel = log_mel(torch.from_numpy(np.asarray(audio, np.float32))[None])[0]  # [F,80]
    n_frames, n_tokens = mel.shape[0], len(ids)
    if n_frames < n_tokens:
        raise AlignError(f"{n_frames} frames cannot hold {n_tokens} tokens")
    student.eval()
    recording = warp_features(mel)
    best: Alignment | None = None
    for speaker_id in speaker_ids:
        rendered, _, rendered_durations = student(*neutral_inputs(ids, speaker_id))
        rendered_durations = rendered_durations[0].numpy()
        n_rendered = int(rendered_durations.sum())
        rendering = warp_features(log_mel(rendered[:, : n_rendered * HOP])[0][:n_rendered])
        cost, path = librosa.sequence.dtw(X=rendering.T, Y=recording.T, metric="euclidean")
        mean_cost = float(cost[-1, -1] / len(path))
        if best is None or mean_cost < best.cost:
            best = Alignment(carry_boundaries(path[::-1], rendered_durations, n_frames), speaker_id, mean_cost)
    return best


def aligned_id(prepared_id: str, base_sha256: str) -> str:
    """Id of an aligned record: its prepared utterance, the base graph and :data:`ALIGN_VERSION`."""
    return hashlib.sha256(f"{prepared_id}:{base_sha256}:{ALIGN_VERSION}".encode()).hexdigest()


def align_records(
    records: list[dict], prepared_dir: Path, out_dir: Path, student: Student, frontend: Frontend,
    speakers: dict[str, int], base_sha256: str,
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Align prepared records (each with ``text``, ``voice`` and ``path`` under ``prepared_dir``) into a
    dataset at ``out_dir``; resumable.

    ``student`` is the base voice's, ``speakers`` its speakers (name → id) to warp onto; each record
    names the one chosen (``align_speaker``). Returns the aligned records and (source, reason) of each
    utterance left out (a transcript in a language the voice does not speak, or with nothing to say;
    audio too short for its tokens).
    """
    import soundfile as sf

    aligned, skipped = [], []
    speaker_names = {index: name for name, index in speakers.items()}
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
                alignment = align_utterance(student, ids, audio, list(speakers.values()))
            except AlignError as error:
                skipped.append((record["source"], str(error)))
                continue
            durations = alignment.durations
            audio = audio[: int(durations.sum()) * HOP]
            fields = {key: record[key] for key in ("voice", "teacher", "source", "source_sha256", "start_s",
                                                   "end_s", "gain_db", "transcript_source") if key in record}
            aligned.append(writer.write({
                **fields, "id": record_id, "text": text, "phonemes": phonemes, "tags": [],
                "language": frontend.record_language, "sample_rate": rate_hz, "durations": durations.tolist(),
                "edits": [], "prepared_id": record["id"],
                "align_speaker": speaker_names[alignment.speaker_id],
            }, audio))
    return aligned, skipped
