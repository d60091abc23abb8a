"""Does an exported graph compute what the torch student computes? Held-out inputs through both.

Two figures per graph:
- ``durations_match``: the fraction of tokens whose frame count equals torch's (a reduced-precision
  graph may round a duration the other way);
- ``snr_db`` and ``max_abs_diff`` of the audio, with every token's duration forced to torch's, so that
  a single flipped frame count does not turn a faithful graph into noise;
- ``mel_snr_db``: the same ratio on mel-band magnitudes (the student's own 80 bands). The vocoder's
  pulse train runs its phase from the predicted pitch: a graph whose pitch differs by a few cents
  (fp16 rounding, or fp32 summing in another order) drifts in phase and moves the top harmonics by a
  fraction of an FFT bin, so waveform SNR drops while the sound stays the same. This is the figure
  that gates an export.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from distill.features import mel_magnitude
from distill.model import Student
from steptts.graph import INPUT_NAMES

HELD_OUT_SENTENCES = (
    "How much wood would a woodchuck chuck?",
    "Please call Stella and ask her to meet us at the station.",
    "It rained all night, so the garden looks fresh today.",
)
"""Parity inputs: not from any training corpus."""

MIN_FP32_SNR_DB = 40.0
"""An fp32 graph below this mel SNR against the torch student is not packaged."""
MIN_VARIANT_MEL_SNR_DB = 20.0
"""An fp16 or int8 graph below this mel SNR against fp32 is measured, recorded and dropped."""


@dataclass(frozen=True)
class Parity:
    """Agreement of one graph with the torch student on the held-out inputs."""

    snr_db: float
    """Audio signal-to-difference ratio in dB, durations forced to torch's (inf when identical)."""
    max_abs_diff: float
    """Largest absolute audio sample difference (full scale is 1.0)."""
    mel_snr_db: float
    """Signal-to-difference ratio of the mel-band magnitudes (80 bands, n_fft 1024, hop 256) in dB."""
    durations_match: float
    """Fraction of valid tokens whose predicted frame count equals torch's."""
    provider: str
    """onnxruntime execution provider that ran the graph."""

    def to_json(self) -> dict:
        record = asdict(self)
        for name in ("snr_db", "mel_snr_db"):
            value = record[name]
            record[name] = round(value, 2) if math.isfinite(value) else 999.0
        return record


def held_out_feeds(
    phoneme_vocab: dict[str, int], tag_vocab: dict[str, int], n_speakers: int, language: str = "en-us"
) -> dict[str, np.ndarray]:
    """A batch of the held-out sentences with a tag, controls and a pitch override mixed in."""
    from steptts.g2p import phonemize
    from steptts.phonemes import PhonemeVocab

    vocab = PhonemeVocab(dict(phoneme_vocab))
    rows = [vocab.encode(phonemize(sentence, language))[0] for sentence in HELD_OUT_SENTENCES]
    batch, n_tokens = len(rows), max(len(row) for row in rows)
    phoneme_ids = np.zeros((batch, n_tokens), np.int64)
    for index, row in enumerate(rows):
        phoneme_ids[index, : len(row)] = row
    tag_ids = np.zeros((batch, 2), np.int64)
    tags = sorted(i for i in tag_vocab.values() if i > 0)
    if tags:
        tag_ids[1, 0] = tags[0]
        tag_ids[2, :2] = [tags[-1], tags[len(tags) // 2]]
    pitch_override = np.zeros((batch, n_tokens), np.float32)
    pitch_override[2, 1 : len(rows[2]) // 2] = 64.0  # E4 on the first half: a singing-style override
    duration_override = np.full((batch, n_tokens), -1.0, np.float32)
    duration_override[0, 1] = 7.0
    return {
        "phoneme_ids": phoneme_ids,
        "phoneme_lengths": np.array([len(row) for row in rows], np.int64),
        "tag_ids": tag_ids,
        "speaker_ids": (np.arange(batch) % max(1, n_speakers)).astype(np.int64),
        "controls": np.array([[1.0, 0.0, 0.0], [1.25, 2.0, -3.0], [0.8, -1.0, 2.0]], np.float32),
        "duration_override": duration_override,
        "pitch_override": pitch_override,
    }


def run_torch(student: Student, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The student's outputs [audio, audio_lengths, durations] for numpy feeds."""
    with torch.no_grad():
        outputs = student.eval()(*(torch.from_numpy(feeds[name]) for name in INPUT_NAMES))
    return [output.numpy() for output in outputs]


def open_session(path, provider: str = "CPUExecutionProvider", threads: int = 1):
    """An onnxruntime session on one provider (CUDA sessions fall back to nothing: they fail)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=[provider])


def _forced(feeds: dict[str, np.ndarray], durations: np.ndarray) -> dict[str, np.ndarray]:
    forced = dict(feeds)
    forced["duration_override"] = durations.astype(np.float32)
    return forced


def snr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    """10·log10 of reference energy over difference energy (inf when identical)."""
    noise = float(np.sum((reference.astype(np.float64) - candidate) ** 2))
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    return math.inf if noise == 0.0 else 10.0 * math.log10(max(signal, 1e-30) / noise)


def mel_snr_db(references: list[np.ndarray], candidates: list[np.ndarray]) -> float:
    """:func:`snr_db` of mel-band magnitudes, summed over several audio rows [S_i] each."""
    signal = noise = 0.0
    for reference, candidate in zip(references, candidates):
        with torch.no_grad():
            both = mel_magnitude(torch.from_numpy(np.stack([reference, candidate]).astype(np.float32)))
        wanted, got = both.double().numpy()
        signal += float(np.sum(wanted**2))
        noise += float(np.sum((wanted - got) ** 2))
    return math.inf if noise == 0.0 else 10.0 * math.log10(max(signal, 1e-30) / noise)


def measure_parity(
    student: Student, graph_path, feeds: dict[str, np.ndarray], provider: str = "CPUExecutionProvider"
) -> Parity:
    """Compare a graph with the torch student on ``feeds`` (see the module docstring)."""
    session = open_session(graph_path, provider)
    reference_durations = run_torch(student, feeds)[2]
    candidate_durations = session.run(["durations"], feeds)[0]
    lengths = feeds["phoneme_lengths"]
    valid = np.arange(reference_durations.shape[1])[None, :] < lengths[:, None]
    match = float(np.mean((reference_durations == candidate_durations)[valid]))

    forced = _forced(feeds, reference_durations)
    reference_audio, audio_lengths, _ = run_torch(student, forced)
    candidate_audio = session.run(["audio"], forced)[0]
    keep = np.arange(reference_audio.shape[1])[None, :] < audio_lengths[:, None]
    reference_valid, candidate_valid = reference_audio[keep], candidate_audio[keep]
    rows = [slice(0, int(length)) for length in audio_lengths]
    return Parity(
        snr_db=snr_db(reference_valid, candidate_valid),
        max_abs_diff=float(np.max(np.abs(reference_valid - candidate_valid))),
        mel_snr_db=mel_snr_db(
            [row_audio[row] for row_audio, row in zip(reference_audio, rows)],
            [row_audio[row] for row_audio, row in zip(candidate_audio, rows)],
        ),
        durations_match=match,
        provider=session.get_providers()[0],
    )
