"""`steptts distill eval --tags`: the measured effect of each tag a voice declares, against neutral.

Every tag renders the same lines (the first sentence of each) as the neutral rendering, and is
judged by what it should change:

- emotions and speeds: median F0 and its 5–95 % range (semitones), speech duration (leading and
  trailing silence trimmed by energy), voiced RMS level (dB);
- 哼唱 with a melody: pitch accuracy, the share of voiced frames within 50 cents of the note the
  melody plays *at that time* (notes laid out from the first voiced frame by their beats at the
  tempo, cycled as the runtime cycles them; the start is searched within ±0.2 s). The lenient
  figure, each voiced frame against the nearest note of the melody at any time, is reported too;
- 哼唱 without a melody: the note-hold ratio (share of voiced time inside ≥ 150 ms windows whose F0
  stays within ±50 cents of the window's median), against the same ratio for neutral speech;
- RAP: syllable onsets (one per energy nucleus, at the spectral-flux peak before it), their distance to the nearest point of a
  beat grid (subdivided by ``steptts.music.RAP_SUBDIVISION``) anchored at the first onset, and the
  coefficient of variation of the inter-onset intervals;
- accents and languages: whether ``steptts.g2p.phonemize`` gives other phonemes than en-us;
- every tag but singing (and non-English languages): WER of the tagged lines against neutral.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distill.evaluate import (
    FRAME_PERIOD_MS,
    SpeechRecognizer,
    f0_contour,
    f0_stats,
    fmt,
    reference_words,
    speech_duration_s,
    voiced_rms_db,
    word_error_rate,
    write_json,
)
from steptts.errors import StepTTSError

TOLERANCE_CENTS = 50.0
HOLD_WINDOW_S = 0.150
MAX_ANCHOR_SHIFT_S = 0.2
SPEED_TARGETS = {"慢速1": 1.15, "慢速2": 1.35, "快速1": 0.87, "快速2": 0.75}
"""Duration factor each speed tag should produce (the tag table's tempo, inverted)."""
SPEED_TOLERANCE = 0.10
"""Relative: the measured factor must lie within ±10 % of the target."""


# ================================================================================================
# Music and rhythm measurements


@dataclass(frozen=True)
class PitchAccuracy:
    """How well sung F0 follows a melody."""

    time_aligned: float
    """Share of voiced frames within the tolerance of the note sounding at that time."""
    nearest_note: float
    """Share of voiced frames within the tolerance of the nearest note of the melody (any time)."""
    anchor_s: float
    """Time (s) where the melody's first note was found to start."""
    voiced_frames: int


def _rotate_leading_rests(notes: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    # The runtime moves leading rests to the end of the cycle (steptts.music._note_slots).
    notes = list(notes)
    lead = 0
    while lead < len(notes) and notes[lead][0] <= 0:
        lead += 1
    return notes[lead:] + notes[:lead]


def expected_midi(times_s: np.ndarray, notes: Sequence[tuple[float, float]], bpm: float) -> np.ndarray:
    """MIDI note sounding at each time (s from the first note's start), the melody cycled.

    ``notes``: (midi, beats) pairs, midi <= 0 for a rest. Times before 0 get the first note; rests
    give NaN.
    """
    midi = np.array([m for m, _ in notes], dtype=np.float64)
    lengths_s = np.array([b for _, b in notes], dtype=np.float64) * 60.0 / bpm
    edges = np.cumsum(lengths_s)
    position = np.mod(np.maximum(np.asarray(times_s, dtype=np.float64), 0.0), edges[-1])
    index = np.minimum(np.searchsorted(edges, position, side="right"), len(notes) - 1)
    out = midi[index]
    return np.where(out > 0, out, np.nan)


def _cents(f0_hz: np.ndarray, midi: np.ndarray) -> np.ndarray:
    return 1200.0 * np.log2(f0_hz / (440.0 * 2.0 ** ((midi - 69.0) / 12.0)))


def _first_voiced_run(voiced: np.ndarray, min_frames: int = 3) -> int | None:
    run = np.convolve(voiced.astype(np.int64), np.ones(min_frames, dtype=np.int64), mode="valid")
    starts = np.flatnonzero(run == min_frames)
    return int(starts[0]) if starts.size else None


def pitch_accuracy(
    f0_hz: np.ndarray,
    frame_period_s: float,
    notes: Sequence[tuple[float, float]],
    bpm: float,
    tolerance_cents: float = TOLERANCE_CENTS,
    max_shift_s: float = MAX_ANCHOR_SHIFT_S,
) -> PitchAccuracy:
    """Share of voiced frames within ``tolerance_cents`` of the melody's note at their time.

    Args:
        f0_hz: [F] F0 per frame, 0 = unvoiced.
        frame_period_s: frame hop in seconds.
        notes: the melody as (midi, beats) pairs; midi <= 0 is a rest (frames in rests are not counted).
        bpm: the tempo the melody was sung at.

    The melody starts at the first voiced run (3 frames or more), moved by the shift within
    ±``max_shift_s`` that scores best; the melody repeats when the singing outlasts it.
    """
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    notes = _rotate_leading_rests(notes)
    voiced = f0_hz > 0
    first = _first_voiced_run(voiced)
    if first is None:
        return PitchAccuracy(float("nan"), float("nan"), float("nan"), 0)
    times = np.arange(len(f0_hz)) * frame_period_s
    frames = np.flatnonzero(voiced)
    melody_midi = np.array(sorted({m for m, _ in notes if m > 0}))
    nearest = np.min(np.abs(_cents(f0_hz[frames, None], melody_midi[None, :])), axis=1)
    nearest_share = float(np.mean(nearest <= tolerance_cents))
    best_share, best_anchor = -1.0, times[first]
    steps = round(max_shift_s / frame_period_s)
    for shift in range(-steps, steps + 1):
        anchor = times[first] + shift * frame_period_s
        target = expected_midi(times[frames] - anchor, notes, bpm)
        counted = np.isfinite(target)
        if not counted.any():
            continue
        hits = np.abs(_cents(f0_hz[frames][counted], target[counted])) <= tolerance_cents
        share = float(hits.sum() / counted.sum())
        if share > best_share:
            best_share, best_anchor = share, anchor
    return PitchAccuracy(best_share, nearest_share, float(best_anchor), int(frames.size))


def note_hold_ratio(
    f0_hz: np.ndarray,
    frame_period_s: float,
    window_s: float = HOLD_WINDOW_S,
    tolerance_cents: float = TOLERANCE_CENTS,
) -> float:
    """Share of voiced frames covered by a window of ``window_s`` (all voiced) whose F0 stays within
    ±``tolerance_cents`` of that window's median: held notes score near 1, speech near 0."""
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    voiced = f0_hz > 0
    width = max(2, round(window_s / frame_period_s))
    if voiced.sum() == 0:
        return float("nan")
    if len(f0_hz) < width:
        return 0.0
    cents = np.where(voiced, 1200.0 * np.log2(np.where(voiced, f0_hz, 1.0) / 55.0), np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(cents, width)
    complete = np.all(np.isfinite(windows), axis=1)
    median = np.median(np.where(complete[:, None], windows, 0.0), axis=1)
    steady = complete & (
        np.max(np.abs(np.where(complete[:, None], windows, 0.0) - median[:, None]), axis=1) <= tolerance_cents
    )
    held = np.convolve(steady.astype(np.int64), np.ones(width, dtype=np.int64), mode="full")[: len(f0_hz)] > 0
    return float((held & voiced).sum() / voiced.sum())


def _stft_magnitude(audio: np.ndarray, sample_rate_hz: int, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """|STFT| [F, bins] with ~23 ms Hann windows centred on ``i * hop_s``, and the bin frequencies."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = max(1, round(sample_rate_hz * hop_s))
    n_fft = 1 << math.ceil(math.log2(sample_rate_hz * 0.023))
    padded = np.pad(audio, (n_fft // 2, n_fft))
    n_frames = len(audio) // hop + 1
    framed = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[np.arange(n_frames) * hop]
    magnitude = np.abs(np.fft.rfft(framed * np.hanning(n_fft), axis=1))
    return magnitude, np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)


def _smooth(values: np.ndarray, width_frames: int) -> np.ndarray:
    kernel = np.hanning(max(3, width_frames) + 2)[1:-1]
    padded = np.pad(values, len(kernel), mode="edge")
    return np.convolve(padded, kernel / kernel.sum(), mode="same")[len(kernel) : -len(kernel)]


def onset_novelty(audio: np.ndarray, sample_rate_hz: int, hop_s: float = 0.005) -> np.ndarray:
    """Spectral-flux novelty [F] (frame ``i`` at ``i * hop_s``): the rise of log magnitude in
    100–4000 Hz against 20 ms earlier, half-wave rectified, summed over bins, smoothed over 30 ms."""
    magnitude, freqs = _stft_magnitude(audio, sample_rate_hz, hop_s)
    band = magnitude[:, (freqs >= 100.0) & (freqs <= 4000.0)]
    compressed = np.log1p(1000.0 * band / (band.max() + 1e-12))
    lag = max(1, round(0.020 / hop_s))
    rise = np.maximum(compressed[lag:] - compressed[:-lag], 0.0).sum(axis=1)
    return _smooth(np.concatenate([np.zeros(lag), rise]), round(0.030 / hop_s))


def nucleus_times_s(
    audio: np.ndarray,
    sample_rate_hz: int,
    hop_s: float = 0.005,
    min_gap_s: float = 0.08,
    min_dip_db: float = 3.0,
    floor_db: float = 25.0,
) -> np.ndarray:
    """Syllable nuclei [N] (s): peaks of the 300–2000 Hz band level (dB, smoothed over 30 ms) that
    are the highest within ±``min_gap_s``, within ``floor_db`` of the loudest frame, and separated
    from the previous nucleus by a dip of at least ``min_dip_db`` (else the louder one is kept)."""
    magnitude, freqs = _stft_magnitude(audio, sample_rate_hz, hop_s)
    power = (magnitude[:, (freqs >= 300.0) & (freqs <= 2000.0)] ** 2).sum(axis=1)
    level = 10.0 * np.log10(power + 1e-12)
    level = _smooth(np.maximum(level, level.max() - 60.0), round(0.030 / hop_s))
    from scipy.ndimage import maximum_filter1d

    reach = max(1, round(min_gap_s / hop_s))
    candidates = np.flatnonzero(
        (level >= maximum_filter1d(level, size=2 * reach + 1, mode="nearest"))
        & (level > level.max() - floor_db)
    )
    kept: list[int] = []
    for peak in candidates:
        if kept and level[kept[-1] : peak + 1].min() > min(level[kept[-1]], level[peak]) - min_dip_db:
            if level[peak] > level[kept[-1]]:
                kept[-1] = int(peak)
            continue
        kept.append(int(peak))
    return np.array(kept, dtype=np.float64) * hop_s


def onset_times_s(
    audio: np.ndarray, sample_rate_hz: int, hop_s: float = 0.005, lookback_s: float = 0.15
) -> np.ndarray:
    """Syllable onsets [N] (s), one per nucleus: the spectral-flux peak (:func:`onset_novelty`)
    within ``lookback_s`` before each nucleus (:func:`nucleus_times_s`), not before the previous one.

    One onset per syllable: plain flux peaks also fire on consonant bursts and frication, which
    stretched (rapped) speech separates from their vowels.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if audio.size == 0 or not np.any(audio):
        return np.zeros(0)
    novelty = onset_novelty(audio, sample_rate_hz, hop_s)
    nuclei = np.round(nucleus_times_s(audio, sample_rate_hz, hop_s) / hop_s).astype(np.int64)
    onsets, previous = [], 0
    for peak in nuclei:
        low = max(previous, peak - round(lookback_s / hop_s))
        onsets.append(low + int(np.argmax(novelty[low : peak + 1])))
        previous = int(peak) + 1
    return np.array(onsets, dtype=np.float64) * hop_s


def beat_errors_s(onsets_s: np.ndarray, bpm: float, subdivision: int = 2) -> np.ndarray:
    """Distance (s) of each onset after the first to the nearest point of a grid of
    ``60 / bpm / subdivision`` s anchored at the first onset: [N-1]."""
    onsets_s = np.asarray(onsets_s, dtype=np.float64)
    if onsets_s.size < 2:
        return np.zeros(0)
    step = 60.0 / bpm / subdivision
    offset = (onsets_s[1:] - onsets_s[0]) / step
    return np.abs(offset - np.round(offset)) * step


def ioi_cv(onsets_s: np.ndarray) -> float:
    """Coefficient of variation of the inter-onset intervals (NaN with fewer than 3 onsets)."""
    intervals = np.diff(np.asarray(onsets_s, dtype=np.float64))
    if intervals.size < 2:
        return float("nan")
    return float(np.std(intervals) / np.mean(intervals))


# ================================================================================================
# The tag run


@dataclass
class TagEvalConfig:
    """What `--tags` renders."""

    lines: int = 8  # lines (first sentence of each) rendered per tag
    melody: str = "C4:1 D4:1 E4:1 F4:1 G4:2"  # for 哼唱 with a melody
    bpm: float = 90.0  # tempo of that melody and of RAP
    keys: list[str] | None = None  # only these tag keys (default: all the voice declares)
    plots: bool = True


@dataclass
class Take:
    """One rendering and its measurements."""

    text: str
    audio: np.ndarray
    sample_rate_hz: int
    f0_hz: np.ndarray
    duration_s: float
    rms_db: float
    hypothesis: str
    info: dict

    @property
    def f0(self):
        return f0_stats(self.f0_hz)

    def summary(self) -> dict[str, Any]:
        """The per-line record of tags.json (no audio or contour)."""
        stats = self.f0
        return {
            "text": self.text,
            "hypothesis": self.hypothesis,
            "duration_s": self.duration_s,
            "f0_median_st": stats.median_st,
            "f0_range_st": stats.range_st,
            "rms_db": self.rms_db,
            "info": self.info,
        }


def _take(system, text: str, recognizer: SpeechRecognizer, **controls: Any) -> Take:
    rendered = system.synthesize(text, **controls)
    audio, rate = rendered.audio, rendered.sample_rate_hz
    f0 = f0_contour(audio, rate)
    return Take(
        text,
        audio,
        rate,
        f0,
        speech_duration_s(audio, rate),
        voiced_rms_db(audio, rate, f0),
        recognizer.transcribe(audio, rate),
        dict(getattr(rendered, "info", {}) or {}),
    )


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def first_sentences(lines: Sequence[str], count: int) -> list[str]:
    """The first sentence of each of ``lines`` (empty ones skipped), at most ``count`` of them."""
    from steptts.sentences import split_sentences

    out = []
    for line in lines:
        sentences = [s for s in split_sentences(line) if s.strip()]
        if sentences:
            out.append(sentences[0])
        if len(out) == count:
            break
    return out


def _variants(key: str, config: TagEvalConfig, takes_music_controls: bool) -> list[tuple[str, dict]]:
    """(label, controls) renderings of one tag key.

    A system without music controls (the edited teacher picks its own tempo) raps at its own tempo,
    reported in its rendering's ``info``; asked for a melody, it fails and the row says so.
    """
    if key == "哼唱":
        return [("哼唱 (melody)", {"melody": config.melody, "bpm": config.bpm}), ("哼唱 (own tune)", {})]
    if key == "RAP":
        return [("RAP", {"bpm": config.bpm} if takes_music_controls else {})]
    return [(key, {})]


def _check(item: str, measured: float, bar: str, passed: bool) -> dict[str, Any]:
    return {
        "item": item,
        "measured": measured,
        "bar": bar,
        "pass": bool(passed) if measured is not None and math.isfinite(measured) else False,
    }


def _bar_key(keys: Sequence[str], base: str) -> str | None:
    """The intensity a one-level bar applies to: the strong one (2) when declared, else 1."""
    for key in (f"{base}2", f"{base}1"):
        if key in keys:
            return key
    return None


def _bars(
    key: str,
    label: str,
    effects: dict[str, Any],
    neutral_wer: float,
    all_keys: Sequence[str],
    voice_language: str,
) -> list[dict[str, Any]]:
    from steptts.tags import resolve_tag

    tag = resolve_tag(key)
    checks: list[dict[str, Any]] = []
    f0, duration, rms = effects["f0_median_st"], effects["duration_ratio"], effects["rms_db"]
    if key == "高兴2":
        checks.append(_check("median F0", f0, "≥ +2 st", f0 >= 2.0))
    elif key == "高兴1":
        checks.append(_check("median F0", f0, "≥ +1 st", f0 >= 1.0))
    elif key == _bar_key(all_keys, "悲伤"):
        checks.append(_check("median F0", f0, "≤ −1 st", f0 <= -1.0))
        checks.append(_check("duration", duration, "≥ ×1.05", duration >= 1.05))
    elif key == _bar_key(all_keys, "生气"):
        checks.append(_check("voiced RMS", rms, "≥ +2 dB", rms >= 2.0))
    elif key in SPEED_TARGETS:
        target = SPEED_TARGETS[key]
        low, high = target * (1 - SPEED_TOLERANCE), target * (1 + SPEED_TOLERANCE)
        checks.append(
            _check("duration", duration, f"×{target:g} ±10 % ({low:.3f}–{high:.3f})", low <= duration <= high)
        )
    elif label == "哼唱 (melody)":
        accuracy = effects.get("pitch_accuracy")
        checks.append(
            _check(
                "pitch within 50 cents (time-aligned)",
                accuracy,
                "≥ 0.70",
                accuracy is not None and accuracy >= 0.70,
            )
        )
    elif label == "哼唱 (own tune)":
        hold, neutral_hold = effects.get("note_hold"), effects.get("neutral_note_hold")
        checks.append(_check("note-hold ratio", hold, "≥ 0.30", hold is not None and hold >= 0.30))
        checks.append(
            _check(
                "neutral note-hold ratio",
                neutral_hold,
                "≈ 0 (≤ 0.10)",
                neutral_hold is not None and neutral_hold <= 0.10,
            )
        )
    elif key == "RAP":
        error = effects.get("onset_error_ms")
        checks.append(
            _check("median onset-to-beat error", error, "≤ 50 ms", error is not None and error <= 50.0)
        )
    english = tag.kind == "accent" or (
        tag.kind == "language" and (tag.spec.espeak_voice or "").startswith("en")
    )
    if tag.kind in ("accent", "language") and english and tag.spec.espeak_voice != voice_language:
        differ = effects.get("phonemes_differ_share")
        checks.append(
            _check("lines whose phonemes differ from en-us", differ, "> 0", differ is not None and differ > 0)
        )
    if key != "哼唱" and (tag.kind != "language" or english):
        wer = effects["wer"]
        checks.append(
            _check("WER", wer, f"≤ neutral + 0.10 ({neutral_wer + 0.10:.3f})", wer <= neutral_wer + 0.10)
        )
    return checks


def run_tag_eval(
    system,
    lines: Sequence[str],
    out_dir: Path,
    config: TagEvalConfig | None = None,
    recognizer: SpeechRecognizer | None = None,
) -> dict[str, Any]:
    """Measure every tag ``system`` declares on the first sentence of ``lines``.

    Writes ``tags.json``, ``tags.md`` and ``plots/tag_<key>.png`` into ``out_dir``; returns the
    content of tags.json. A tag that fails to render is reported with its error, not raised.
    """
    from steptts import music
    from steptts.g2p import phonemize
    from steptts.phonemes import substitute
    from steptts.tags import resolve_tag
    from steptts.textnorm import normalize_text

    config = config or TagEvalConfig()
    recognizer = recognizer or SpeechRecognizer()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sentences = first_sentences(lines, config.lines)
    if not sentences:
        raise StepTTSError("no sentence to render tags on")
    declared = list(system.tag_keys)
    if config.keys is not None:
        from steptts.errors import TagError

        wanted = [resolve_tag(k).key for k in config.keys]
        missing = [k for k in wanted if k not in declared]
        if missing:
            raise TagError(
                f"{system.name} does not declare tag(s) {', '.join(missing)}; it has: "
                f"{', '.join(declared) or 'none'}"
            )
    keys = [k for k in declared if config.keys is None or k in wanted]
    voice_language = getattr(getattr(system, "tts", None), "voice", None)
    voice_language = voice_language.language if voice_language is not None else "en-us"
    melody = music.parse_melody(config.melody, config.bpm)
    melody_notes = [(n.midi, n.beats) for n in melody.notes]
    references = [reference_words(s) for s in sentences]
    frame_s = FRAME_PERIOD_MS / 1000.0

    neutral = [_take(system, s, recognizer) for s in sentences]
    neutral_wer = word_error_rate(references, [t.hypothesis for t in neutral])
    neutral_hold = _median([note_hold_ratio(t.f0_hz, frame_s) for t in neutral])

    rows: list[dict[str, Any]] = []
    for key in keys:
        tag = resolve_tag(key)
        for label, controls in _variants(key, config, getattr(system, "takes_music_controls", True)):
            row: dict[str, Any] = {"key": key, "label": label, "controls": controls}
            try:
                takes = [_take(system, f"({key}){s}", recognizer, **controls) for s in sentences]
            except StepTTSError as error:
                row.update(error=str(error), effects={}, checks=[])
                rows.append(row)
                continue
            effects: dict[str, Any] = {
                "f0_median_st": _median([t.f0.median_st - n.f0.median_st for t, n in zip(takes, neutral)]),
                "f0_range_st": _median([t.f0.range_st - n.f0.range_st for t, n in zip(takes, neutral)]),
                "duration_ratio": _median(
                    [
                        t.duration_s / n.duration_s if n.duration_s > 0 else float("nan")
                        for t, n in zip(takes, neutral)
                    ]
                ),
                "rms_db": _median([t.rms_db - n.rms_db for t, n in zip(takes, neutral)]),
                "wer": word_error_rate(references, [t.hypothesis for t in takes]),
            }
            if label == "哼唱 (melody)":
                scores = [pitch_accuracy(t.f0_hz, frame_s, melody_notes, config.bpm) for t in takes]
                neutral_scores = [pitch_accuracy(n.f0_hz, frame_s, melody_notes, config.bpm) for n in neutral]
                effects.update(
                    pitch_accuracy=_median([s.time_aligned for s in scores]),
                    pitch_accuracy_nearest_note=_median([s.nearest_note for s in scores]),
                    neutral_pitch_accuracy=_median([s.time_aligned for s in neutral_scores]),
                )
            if label == "哼唱 (own tune)":
                effects.update(
                    note_hold=_median([note_hold_ratio(t.f0_hz, frame_s) for t in takes]),
                    neutral_note_hold=neutral_hold,
                )
            if key == "RAP":
                errors, neutral_errors, cvs = [], [], []
                for take, plain in zip(takes, neutral):
                    bpm = float(take.info.get("bpm", config.bpm))  # the tempo the system actually used
                    onsets = onset_times_s(take.audio, take.sample_rate_hz)
                    errors.append(
                        float(np.median(beat_errors_s(onsets, bpm, music.RAP_SUBDIVISION)) * 1000.0)
                        if onsets.size > 1
                        else float("nan")
                    )
                    cvs.append(ioi_cv(onsets))
                    plain_onsets = onset_times_s(plain.audio, plain.sample_rate_hz)
                    neutral_errors.append(
                        float(np.median(beat_errors_s(plain_onsets, bpm, music.RAP_SUBDIVISION)) * 1000.0)
                        if plain_onsets.size > 1
                        else float("nan")
                    )
                effects.update(
                    onset_error_ms=_median(errors),
                    neutral_onset_error_ms=_median(neutral_errors),
                    ioi_cv=_median(cvs),
                )
            if tag.kind in ("accent", "language") and tag.spec.espeak_voice:
                # Compared as the system speaks them, after its substitutions of unlearned symbols.
                table = getattr(system, "phoneme_substitutions", {})
                differ = [
                    substitute(phonemize(normalize_text(s), tag.spec.espeak_voice), table)
                    != substitute(phonemize(normalize_text(s), "en-us"), table)
                    for s in sentences
                ]
                effects["phonemes_differ_share"] = float(np.mean(differ))
                effects["espeak_voice"] = tag.spec.espeak_voice
            row["effects"] = effects
            row["checks"] = _bars(key, label, effects, neutral_wer, keys, voice_language)
            row["per_line"] = [t.summary() for t in takes]
            if config.plots:
                from distill import plots

                name = label.replace(" (melody)", "_melody").replace(" (own tune)", "_own")
                plots.plot_f0_contours(
                    out_dir / "plots" / f"tag_{name}.png",
                    [("neutral", neutral[0].f0_hz), (_ascii_label(key, label), takes[0].f0_hz)],
                    FRAME_PERIOD_MS,
                    title=sentences[0],
                )
            rows.append(row)

    checks = [c for row in rows for c in row.get("checks", [])]
    report = {
        "system": system.name,
        "declared_tags": declared,
        "settings": {
            "lines": len(sentences),
            "melody": config.melody,
            "bpm": config.bpm,
            "tolerance_cents": TOLERANCE_CENTS,
            "rap_subdivision": music.RAP_SUBDIVISION,
            "f0": "pYIN-style tracker, 10 ms frames",
            "pitch_accuracy": "time-aligned (strict); nearest-note figure alongside",
            "speed_tolerance": "relative ±10 % of the target factor",
        },
        "sentences": sentences,
        "neutral": {
            "wer": neutral_wer,
            "note_hold": neutral_hold,
            "per_line": [t.summary() for t in neutral],
        },
        "tags": rows,
        "passed": sum(1 for c in checks if c["pass"]),
        "failed": sum(1 for c in checks if not c["pass"]),
        "errors": sum(1 for row in rows if "error" in row),
    }
    write_json(out_dir / "tags.json", report)
    (out_dir / "tags.md").write_text(format_tags_md(report), encoding="utf-8")
    return report


def _ascii_label(key: str, label: str) -> str:
    """An English name for plot legends (the default fonts lack CJK glyphs)."""
    from steptts.tags import resolve_tag

    tag = resolve_tag(key)
    name = tag.spec.aliases[0] if tag.spec.aliases and not key.isascii() else key
    if tag.intensity:
        name += str(tag.intensity)
    return name + (" (melody)" if "melody" in label else " (own tune)" if "own" in label else "")


def _effect_text(effects: dict[str, Any]) -> str:
    if not effects:
        return "—"
    parts = [
        f"F0 median {_signed(effects['f0_median_st'])} st",
        f"range {_signed(effects['f0_range_st'])} st",
        f"duration ×{fmt(effects['duration_ratio'], 3)}",
        f"voiced RMS {_signed(effects['rms_db'])} dB",
        f"WER {fmt(effects['wer'], 3)}",
    ]
    if "pitch_accuracy" in effects:
        parts.append(
            f"pitch accuracy {fmt(effects['pitch_accuracy'], 3)} (nearest note "
            f"{fmt(effects['pitch_accuracy_nearest_note'], 3)}, neutral {fmt(effects['neutral_pitch_accuracy'], 3)})"
        )
    if "note_hold" in effects:
        parts.append(
            f"note-hold {fmt(effects['note_hold'], 3)} (neutral {fmt(effects['neutral_note_hold'], 3)})"
        )
    if "onset_error_ms" in effects:
        parts.append(
            f"onset-to-beat {fmt(effects['onset_error_ms'], 1)} ms (neutral "
            f"{fmt(effects['neutral_onset_error_ms'], 1)} ms), IOI CV {fmt(effects['ioi_cv'], 3)}"
        )
    if "phonemes_differ_share" in effects:
        parts.append(
            f"phonemes differ from en-us on {fmt(effects['phonemes_differ_share'], 2)} of lines "
            f"({effects['espeak_voice']})"
        )
    return "; ".join(parts)


def _signed(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:+.2f}"


def format_tags_md(report: dict[str, Any]) -> str:
    """tags.md: one row per bar (a tag without a bar gets one informational row)."""
    lines = [
        "# Tag measurements",
        "",
        (
            f"System `{report['system']}`, {report['settings']['lines']} lines (first sentence of each). "
            f"Neutral WER {fmt(report['neutral']['wer'], 3)}, neutral note-hold {fmt(report['neutral']['note_hold'], 3)}. "
            f"Melody `{report['settings']['melody']}` at {report['settings']['bpm']:g} bpm; rap grid "
            f"1/{report['settings']['rap_subdivision']} beat anchored at the first onset. Effects are medians over "
            "lines of tagged minus neutral (F0 in semitones, level in dB) or tagged / neutral (duration)."
        ),
        "",
        f"{report['passed']} bars passed, {report['failed']} failed, {report['errors']} tags did not render.",
        "",
        "| tag | measured effect | bar | measured | result |",
        "|---|---|---|---|---|",
    ]
    for row in report["tags"]:
        if "error" in row:
            lines.append(f"| {row['label']} | error: {row['error'].replace('|', '/')} | — | — | FAIL |")
            continue
        effect = _effect_text(row["effects"])
        if not row["checks"]:
            lines.append(f"| {row['label']} | {effect} | — | — | (no bar) |")
        for index, check in enumerate(row["checks"]):
            shown = effect if index == 0 else "″"
            lines.append(
                f"| {row['label']} | {shown} | {check['item']} {check['bar']} | "
                f"{fmt(check['measured'], 3)} | {'pass' if check['pass'] else 'FAIL'} |"
            )
    lines.append("")
    return "\n".join(lines)
