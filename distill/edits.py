"""The audio-edit stage: neutral teacher speech → emotion, speed, singing and rap variants, and new timbres.

A teacher that cannot render a tag (Piper has no emotions) gets its neutral speech edited, the way
Step-Audio's engine runs an audio-edit model after its TTS. Every edit goes through WORLD (pyworld):

- analysis at a frame period of exactly one hop (256 samples), so WORLD frame ``k`` sits at sample
  ``256 k`` and duration frames map 1:1. F0 comes from the evaluation's pYIN-style tracker with
  harvest filling the voiced frames it drops (:func:`analysis_f0`; dio, though 15× faster than
  harvest, misses most voiced frames of the low Piper voice and jumps up a fifth or an octave, and
  harvest alone doubles many vowels: either would bake pitch jumps into the edited audio). Then
  cheaptrick for the envelope and d4c for the aperiodicity;
- modification: F0 level and range (or a melody), a per-frame time map (tempo, speed, sung and
  rapped rhythm), spectral tilt, then one gain that sets the voiced level where the edit plans it;
- synthesis, cut to exactly ``sum(durations) × 256`` samples.

An edit costs about 0.3–0.5 s of CPU per second of input audio on this machine (harvest is
about half of it); singing, whose output is about twice as long, a little more.

Tempo changes act per token: each token's frames are scaled (cumulative rounding, so the total is
exact) and the audio is time-warped along the same map, so the durations stay exact. Singing and
rap take their durations from :mod:`steptts.music`, the very functions the runtime calls, so the
data and the runtime agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from distill.dsp import midi_to_hz, pyworld
from steptts import music
from steptts.errors import StepTTSError
from steptts.graph import HOP_LENGTH as HOP
from steptts.tags import speed_duration_factors

VERSION = 2
"""Version of the edit stage, hashed into edited records' ids: a dataset made by an older stage is
re-edited, not reused. 1 analysed F0 with dio + stonemask (octave jumps baked into the audio);
2 with pYIN + harvest (:func:`analysis_f0`)."""
F0_FLOOR_HZ = 50.0
F0_CEIL_HZ = 600.0
"""Analysis range of the F0 trackers (the input is speech; edits may move it higher)."""
_F0_MIN_OUT_HZ, _F0_MAX_OUT_HZ = 50.0, 1000.0
SILENCE_DB = -40.0
"""Frames this far below the utterance's loud frames count as silence (never voiced)."""
_LIMIT_THRESHOLD = 0.85
"""Peaks above this are soft-limited, so a louder edit never clips."""


class EditError(StepTTSError, ValueError):
    """An audio edit cannot run on these inputs (unknown tag, missing or inconsistent durations)."""


@dataclass
class EditResult:
    """An edited utterance."""

    audio: np.ndarray
    """float32 [S], in [-1, 1]."""
    durations: list[int] | None
    """Frames (hop 256) per token, summing to ``len(audio) / 256``; None when none were given."""
    ops: list[dict]
    """Operations applied, in order: each a dict with ``op`` and its parameters."""


@dataclass(frozen=True)
class EmotionEdit:
    """How one emotion at one intensity changes neutral speech."""

    f0_shift_semitones: float
    """Added to every voiced frame's F0."""
    f0_range: float
    """Scale of the slow F0 contour's excursions around the utterance median (in log F0)."""
    duration_factor: float
    """Each token's frames × this (> 1: slower)."""
    energy_db: float
    """Change of the voiced RMS."""
    tilt_db_per_octave: float
    """Spectral tilt added around 1 kHz (> 0: brighter, tenser)."""


# Targets the student must reproduce, measured on the edited audio (tests check them):
# 高兴 median F0 +1.3 / +2.5 st; 悲伤 median F0 <= -1.3 st and >= 8 % longer; 生气 voiced RMS
# >= +3 dB, brighter, wider F0; 撒娇 +2 st and sing-song. The plans keep a margin over the targets.
EMOTION_EDITS: dict[str, EmotionEdit] = {
    "高兴1": EmotionEdit(1.8, 1.25, 0.96, 1.0, 1.0),
    "高兴2": EmotionEdit(3.4, 1.5, 0.92, 2.0, 2.0),
    "生气1": EmotionEdit(0.8, 1.3, 0.95, 4.0, 2.5),
    "生气2": EmotionEdit(1.5, 1.6, 0.90, 6.5, 4.0),
    # Sad is flatter, but only a little: DNSMOS punishes monotone speech hard (OVRL 2.36 with the
    # range halved against 2.55 at ×0.75, on ARCTIC lines; the teacher itself scores 3.31).
    "悲伤1": EmotionEdit(-2.2, 0.85, 1.15, -2.0, -1.0),
    "悲伤2": EmotionEdit(-3.6, 0.75, 1.28, -4.0, -2.0),
    "撒娇1": EmotionEdit(2.2, 1.6, 1.05, 0.0, 0.5),
    "撒娇2": EmotionEdit(3.6, 2.0, 1.10, 0.0, 1.0),
}

SPEED_FACTORS: dict[str, float] = speed_duration_factors()
"""Duration factor of each speed tag (the tag table's, :func:`steptts.tags.speed_duration_factors`)."""

SING_BPM_RANGE = (80, 110)
RAP_BPM_RANGE = (85, 100)
VIBRATO_HZ = 5.5
VIBRATO_CENTS = (20.0, 30.0)
"""Vibrato depth (± cents) is drawn from this range per utterance."""
VIBRATO_ONSET_S = 0.15
"""Vibrato fades in over this time after each note starts, as a singer's does."""
GLIDE_FRAMES = 3
"""Half-width of the portamento between notes (frames of 11.6 ms)."""
RAP_EDIT = EmotionEdit(0.5, 0.6, 1.0, 2.0, 1.5)
"""Rap's voice: a bit louder and brighter, flatter F0 (its tempo comes from the beat grid)."""

MUSIC_KEYS = ("哼唱", "RAP")


def can_edit(tag_key: str) -> bool:
    """True when :func:`apply_tag_edit` can produce ``tag_key`` from neutral speech."""
    return tag_key in EMOTION_EDITS or tag_key in SPEED_FACTORS or tag_key in MUSIC_KEYS


def apply_tag_edit(
    audio: np.ndarray,
    sample_rate_hz: int,
    durations: list[int] | None,
    tokens: list[str],
    tag_key: str,
    seed: int,
    text: str,
) -> EditResult:
    """Edit neutral speech so that it carries ``tag_key``.

    Args:
        audio: float32 [S] neutral speech.
        sample_rate_hz: its rate (durations are frames of 256 samples at this rate).
        durations: frames per token of ``tokens``, summing to ``S / 256``; None from a black-box
            teacher (emotions and speeds then scale the tempo globally; 哼唱 and RAP need them).
        tokens: :func:`steptts.phonemes.tokenize` of the phonemes the durations refer to.
        tag_key: a key such that :func:`can_edit` is true, e.g. ``高兴2``, ``快速1``, ``哼唱``.
        seed: with the text, picks the tempo of singing and rap and the vibrato; the same inputs
            and seed give the same output.
        text: the utterance's text; it seeds the melody of singing.

    Returns:
        The edited audio, its durations (``sum × 256 == len(audio)`` when durations were given)
        and the operations applied.
    """
    if not can_edit(tag_key):
        known = ", ".join([*EMOTION_EDITS, *SPEED_FACTORS, *MUSIC_KEYS])
        raise EditError(f"no audio edit for tag '{tag_key}'; editable tags: {known}")
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size < 4 * HOP:
        raise EditError(f"audio of {audio.size} samples is too short to edit")
    if durations is not None:
        durations = [int(d) for d in durations]
        if len(durations) != len(tokens):
            raise EditError(f"{len(durations)} durations for {len(tokens)} tokens")
        if min(durations) < 0 or sum(durations) * HOP != audio.size:
            raise EditError(
                f"durations sum to {sum(durations)} frames × {HOP} = {sum(durations) * HOP} samples, "
                f"but the audio has {audio.size}"
            )
    elif tag_key in MUSIC_KEYS:
        raise EditError(
            f"the '{tag_key}' edit needs per-token durations (a white-box teacher such as Piper); "
            "this teacher gave none"
        )

    world = _analyze(audio, sample_rate_hz)
    ops: list[dict] = [
        {"op": "world", "f0": "pyin+harvest", "frame_period_ms": round(1000.0 * HOP / sample_rate_hz, 4)}
    ]
    if tag_key in EMOTION_EDITS:
        return _emotion(audio, world, durations, EMOTION_EDITS[tag_key], ops)
    if tag_key in SPEED_FACTORS:
        factor = SPEED_FACTORS[tag_key]
        new_durations, positions, n_samples = _tempo_map(durations, world, factor, audio.size)
        ops.append({"op": "time_scale", "factor": factor})
        warped = _warp(world, positions)
        return _finish(audio, world.measured_voiced, warped, new_durations, n_samples, 0.0, ops)
    assert durations is not None
    # The text joins the seed, so one seed still gives each utterance its own tempo and vibrato.
    text_key = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    rng = np.random.default_rng([int(seed) % 2**63, text_key])
    if tag_key == "哼唱":
        return _sing(audio, world, durations, tokens, text, rng, ops)
    return _rap(audio, world, durations, tokens, rng, ops)


TIMBRE_FORMANT_RANGE = (0.75, 1.35)
"""Formant ratios :func:`apply_timbre_shift` accepts (beyond them WORLD's envelope warps audibly)."""
TIMBRE_SEMITONE_RANGE = (-12.0, 16.0)
"""F0 shifts :func:`apply_timbre_shift` accepts, in semitones."""
TIMBRE_TILT_RANGE = (-6.0, 6.0)
"""Spectral tilts :func:`apply_timbre_shift` accepts, in dB per octave around 1 kHz."""


def check_timbre_shift(formant_ratio: float, semitones: float, tilt_db_per_octave: float = 0.0) -> None:
    """Raise :class:`EditError` naming the first value outside its range (:data:`TIMBRE_FORMANT_RANGE`,
    :data:`TIMBRE_SEMITONE_RANGE`, :data:`TIMBRE_TILT_RANGE`)."""
    for value, (low, high), what, unit in ((formant_ratio, TIMBRE_FORMANT_RANGE, "formant ratio", ""),
                                           (semitones, TIMBRE_SEMITONE_RANGE, "semitones", ""),
                                           (tilt_db_per_octave, TIMBRE_TILT_RANGE, "tilt", " dB/octave")):
        if not low <= value <= high:
            raise EditError(f"{what} {value:g} is outside [{low:g}, {high:g}]{unit}")


def apply_timbre_shift(
    audio: np.ndarray,
    sample_rate_hz: int,
    formant_ratio: float,
    semitones: float,
    tilt_db_per_octave: float = 0.0,
) -> EditResult:
    """Another speaker's timbre on this speaker's speech: the same words and timing, other formants and F0.

    The spectral envelope is read at ``f / formant_ratio`` for every frequency ``f`` (> 1 moves the
    formants up: a shorter vocal tract, as from a man's voice toward a woman's or a child's), the
    aperiodicity likewise, every voiced frame's F0 is raised by ``semitones``, and the spectrum is
    tilted by ``tilt_db_per_octave`` (< 0: darker, softer; > 0: brighter); the voiced level stays
    the source's. Vocal-tract-length and pitch perturbation of this kind make new training
    speakers from one recorded voice.

    Args:
        audio: float32 [S] speech.
        sample_rate_hz: its rate.
        formant_ratio, semitones, tilt_db_per_octave: within their ranges (:func:`check_timbre_shift`).

    Returns:
        float32 [S] audio of the same length (per-token durations carry over unchanged; ``durations``
        is None here) and the operations applied.
    """
    check_timbre_shift(formant_ratio, semitones, tilt_db_per_octave)
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size < 4 * HOP:
        raise EditError(f"audio of {audio.size} samples is too short to edit")
    world = _analyze(audio, sample_rate_hz)
    bins = world.log_sp.shape[1]
    read_at = np.minimum(np.arange(bins) / formant_ratio, bins - 1.0)
    lo = np.floor(read_at).astype(np.int64)
    hi = np.minimum(lo + 1, bins - 1)
    frac = (read_at - lo)[None, :]
    shifted = _World(
        _reshape_f0(world.f0, semitones, 1.0),
        (1.0 - frac) * world.log_sp[:, lo] + frac * world.log_sp[:, hi],
        (1.0 - frac) * world.ap[:, lo] + frac * world.ap[:, hi],
        sample_rate_hz,
    )
    ops = [
        {"op": "world", "f0": "pyin+harvest", "frame_period_ms": round(world.frame_period_ms, 4)},
        {"op": "formant_shift", "ratio": formant_ratio},
        {"op": "f0_shift", "semitones": semitones},
    ]
    if tilt_db_per_octave:
        shifted = _tilt(shifted, tilt_db_per_octave)
        ops.append({"op": "spectral_tilt", "db_per_octave": tilt_db_per_octave})
    return _finish(audio, world.measured_voiced, shifted, None, audio.size, 0.0, ops)


# --------------------------------------------------------------------------------------------------
# WORLD


@dataclass
class _World:
    """WORLD parameters of one utterance: frame ``k`` is centred on sample ``k × HOP``."""

    f0: np.ndarray
    """float64 [F], Hz, 0 where unvoiced."""
    log_sp: np.ndarray
    """float64 [F, B], natural log of the spectral envelope (power)."""
    ap: np.ndarray
    """float64 [F, B], aperiodicity in [0, 1]."""
    sample_rate_hz: int
    """Rate of the analysed audio in Hertz."""
    measured_voiced: np.ndarray | None = None
    """bool [F]: frames the evaluation's tracker calls voiced (the source only), for level matching."""

    @property
    def frame_period_ms(self) -> float:
        return 1000.0 * HOP / self.sample_rate_hz


def _analyze(audio: np.ndarray, sample_rate_hz: int) -> _World:
    pw = pyworld()
    signal = np.ascontiguousarray(audio, dtype=np.float64)
    n_frames = len(signal) // HOP + 1
    times_s = np.arange(n_frames) * HOP / sample_rate_hz
    f0, measured_voiced = analysis_f0(signal, sample_rate_hz)
    # cheaptrick's own floor (71 Hz) keeps the FFT at 1024 points at 22050 Hz: half the cost of
    # 2048, and lower voices are still analysed with a window long enough for their pitch.
    sp = pw.cheaptrick(signal, f0, times_s, sample_rate_hz)
    # threshold 0: D4C keeps every frame voiced that the F0 track calls voiced (its own test turns
    # creaky, low-pitched frames into noise, which then neither sounds nor measures as voiced).
    ap = pw.d4c(signal, f0, times_s, sample_rate_hz, threshold=0.0, fft_size=(sp.shape[1] - 1) * 2)
    return _World(f0, np.log(np.maximum(sp, 1e-16)), ap, sample_rate_hz, measured_voiced)


def analysis_f0(signal: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 in Hz per hop-spaced frame, 0 where unvoiced: audio [S] → float64 [S // 256 + 1].

    Also returns the frames the evaluation's tracker alone calls voiced (bool [S // 256 + 1]).

    The low Piper voice (65–130 Hz, weak fundamental) defeats WORLD's trackers alone: dio misses
    most voiced frames and jumps a fifth or an octave up; harvest finds the voiced frames but
    doubles the pitch of many vowels. The pYIN-style tracker of :mod:`distill.pitch` (the one the
    evaluation measures with) gets the pitch right but drops some creaky vowels. So: pYIN's value
    where it is voiced; elsewhere harvest's voicing, its value folded by octaves onto the pYIN
    contour around it; nothing voiced in silence (a neural vocoder leaves a faint buzz at its frame
    rate, 86 Hz, in pauses, which harvest calls voiced).
    """
    from distill.pitch import f0_contour

    pw = pyworld()
    n_frames = len(signal) // HOP + 1
    frame_period_ms = 1000.0 * HOP / sample_rate_hz
    harvest, _ = pw.harvest(
        signal, sample_rate_hz, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=frame_period_ms
    )
    pyin = f0_contour(signal, sample_rate_hz, frame_period_ms, F0_FLOOR_HZ, F0_CEIL_HZ)
    harvest, pyin = _fit_length(harvest, n_frames), _fit_length(pyin, n_frames)
    voiced = pyin > 0
    if voiced.any():
        index = np.arange(n_frames)
        reference = 2.0 ** np.interp(index, index[voiced], np.log2(pyin[voiced]))
        octaves = np.round(np.log2(np.where(harvest > 0, harvest, 1.0) / reference))
        harvest = harvest / 2.0**octaves
    f0 = np.where(voiced, pyin, harvest)
    return np.where(frame_level_db(signal, n_frames) > SILENCE_DB, f0, 0.0), voiced


def _fit_length(track: np.ndarray, n_frames: int) -> np.ndarray:
    track = np.asarray(track, dtype=np.float64)[:n_frames]
    return np.pad(track, (0, n_frames - len(track)))


def frame_level_db(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Level of the hop-long window centred on each frame, in dB below the utterance's loud frames.

    Returns float64 [n_frames]: 0 dB is the 95th percentile of the frames' RMS.
    """
    padded = np.pad(np.asarray(audio, dtype=np.float64), (HOP // 2, HOP // 2 + n_frames * HOP))
    windows = padded[: n_frames * HOP].reshape(n_frames, HOP)
    level = 10.0 * np.log10(np.mean(windows**2, axis=1) + 1e-14)
    return level - np.percentile(level, 95)


def _synthesize(world: _World, n_samples: int) -> np.ndarray:
    pw = pyworld()
    out = pw.synthesize(
        np.ascontiguousarray(world.f0),
        np.ascontiguousarray(np.exp(world.log_sp)),
        np.ascontiguousarray(world.ap),
        world.sample_rate_hz,
        world.frame_period_ms,
    )
    out = np.pad(out, (0, max(0, n_samples - len(out))))[:n_samples]
    return out


def _warp(world: _World, positions: np.ndarray) -> _World:
    """WORLD parameters read at fractional source frames ``positions`` [F'] (a time map)."""
    count = len(world.f0)
    positions = np.clip(positions, 0.0, count - 1)
    lo = np.floor(positions).astype(np.int64)
    hi = np.minimum(lo + 1, count - 1)
    frac = (positions - lo)[:, None]
    log_sp = (1.0 - frac) * world.log_sp[lo] + frac * world.log_sp[hi]
    ap = (1.0 - frac) * world.ap[lo] + frac * world.ap[hi]
    nearest = np.rint(positions).astype(np.int64)
    voiced = world.f0[nearest] > 0
    f_lo, f_hi = world.f0[lo], world.f0[hi]
    both = (f_lo > 0) & (f_hi > 0)
    # Between two voiced frames interpolate in log F0; at a voicing edge take the voiced neighbour.
    f0 = np.where(
        both,
        np.exp(
            (1.0 - frac[:, 0]) * np.log(np.maximum(f_lo, 1e-6)) + frac[:, 0] * np.log(np.maximum(f_hi, 1e-6))
        ),
        np.maximum(f_lo, f_hi),
    )
    f0 = np.where(voiced & (f0 > 0), f0, 0.0)
    return _World(f0, log_sp, ap, world.sample_rate_hz)


def _duration_map(old: np.ndarray, new: np.ndarray, n_world_frames: int) -> np.ndarray:
    """Source frame for every output WORLD frame when token ``t`` goes from ``old[t]`` to ``new[t]``.

    Returns float64 [sum(new) + 1]: output frames of each token spread evenly over its source
    frames (a token that had none holds the frame at its boundary); the last maps end to end.
    """
    old = old.astype(np.int64)
    new = new.astype(np.int64)
    old_starts = np.concatenate([[0], np.cumsum(old)[:-1]])
    new_starts = np.concatenate([[0], np.cumsum(new)[:-1]])
    token = np.repeat(np.arange(len(new)), new)
    within = np.arange(int(new.sum())) - new_starts[token]
    ratio = old[token] / np.maximum(new[token], 1)
    src = old_starts[token] + (within + 0.5) * ratio - 0.5
    src = np.where(old[token] > 0, src, old_starts[token] - 0.5)
    return np.concatenate([np.clip(src, 0.0, None), [n_world_frames - 1.0]])


def _scale_durations(durations: list[int], factor: float) -> np.ndarray:
    """Each token's frames × ``factor``, rounded cumulatively so the total is ``round(sum × factor)``."""
    bounds = np.rint(np.cumsum(durations) * factor).astype(np.int64)
    return np.diff(np.concatenate([[0], bounds]))


def _tempo_map(
    durations: list[int] | None, world: _World, factor: float, n_samples: int
) -> tuple[np.ndarray | None, np.ndarray, int]:
    """New durations (or None), the source-frame map and the output length of a tempo × ``factor``."""
    n_frames = len(world.f0)
    if durations is not None:
        new = _scale_durations(durations, factor)
        return new, _duration_map(np.asarray(durations), new, n_frames), int(new.sum()) * HOP
    # No durations: one global map; output frame k (sample 256 k) reads source frame k / factor.
    out_samples = round(n_samples * factor)
    positions = np.arange(out_samples // HOP + 1) / factor
    return None, np.minimum(positions, n_frames - 1.0), out_samples


# --------------------------------------------------------------------------------------------------
# F0, spectrum and level


def _reshape_f0(f0: np.ndarray, semitones: float, range_factor: float) -> np.ndarray:
    """Voiced F0 shifted by ``semitones`` with its slow contour's excursions × ``range_factor``.

    The range scales a smoothed log-F0 contour around the utterance median; the fast residual
    (jitter, micro-prosody, tracking noise) is kept as it is, so it is not amplified into warble.
    """
    voiced = f0 > 0
    if voiced.sum() < 2:
        return f0.copy()
    log_f0 = np.log2(np.where(voiced, f0, 1.0))
    index = np.arange(len(f0))
    filled = np.interp(index, index[voiced], log_f0[voiced])
    kernel = np.hanning(9)
    kernel /= kernel.sum()
    smooth = np.convolve(np.pad(filled, 4, mode="edge"), kernel, mode="valid")
    center = np.median(log_f0[voiced])
    shaped = center + (smooth - center) * range_factor + (filled - smooth) + semitones / 12.0
    out = np.clip(2.0**shaped, _F0_MIN_OUT_HZ, _F0_MAX_OUT_HZ)
    return np.where(voiced, out, 0.0)


def _tilt(world: _World, db_per_octave: float) -> _World:
    """Spectral tilt of ``db_per_octave`` around 1 kHz (flat below 250 Hz)."""
    if db_per_octave == 0:
        return world
    bins = world.log_sp.shape[1]
    freqs_hz = np.arange(bins) * world.sample_rate_hz / (2.0 * (bins - 1))
    gain_db = db_per_octave * np.log2(np.maximum(freqs_hz, 250.0) / 1000.0)
    log_sp = world.log_sp + gain_db[None, :] * np.log(10.0) / 10.0  # power spectrum: dB / 10
    return _World(world.f0, log_sp, world.ap, world.sample_rate_hz)


def _voiced_level_db(audio: np.ndarray, sample_rate_hz: int, voiced: np.ndarray | None = None) -> float:
    """Power-mean level (dB) of 25 ms windows on the voiced hop-spaced frames, as the evaluation
    measures it; ``voiced`` bool [S // 256 + 1] is tracked when None. Whole-signal level if unvoiced.
    """
    signal = np.asarray(audio, dtype=np.float64)
    n_frames = len(signal) // HOP + 1
    if voiced is None:
        from distill.pitch import f0_contour

        voiced = (
            _fit_length(
                f0_contour(
                    signal, sample_rate_hz, 1000.0 * HOP / sample_rate_hz, F0_FLOOR_HZ, _F0_MAX_OUT_HZ
                ),
                n_frames,
            )
            > 0
        )
    window = round(0.025 * sample_rate_hz)
    padded = np.pad(signal, (window // 2, window))
    framed = np.lib.stride_tricks.sliding_window_view(padded, window)[np.arange(n_frames) * HOP]
    power = np.mean(framed**2, axis=1)
    chosen = power[voiced[:n_frames]] if np.any(voiced[:n_frames]) else np.array([np.mean(signal**2)])
    return float(10.0 * np.log10(np.mean(chosen) + 1e-12))


def _soft_limit(audio: np.ndarray) -> np.ndarray:
    """Peaks above the threshold are bent smoothly below 1.0; quieter samples are untouched."""
    magnitude = np.abs(audio)
    if magnitude.max() <= _LIMIT_THRESHOLD:
        return audio
    head = 1.0 - _LIMIT_THRESHOLD
    bent = _LIMIT_THRESHOLD + head * np.tanh((magnitude - _LIMIT_THRESHOLD) / head)
    return np.where(magnitude > _LIMIT_THRESHOLD, np.sign(audio) * bent, audio)


def _finish(
    source: np.ndarray,
    source_voiced: np.ndarray | None,
    world: _World,
    durations: np.ndarray | None,
    n_samples: int,
    energy_db: float,
    ops: list[dict],
) -> EditResult:
    """Synthesize ``world`` to ``n_samples``, set its voiced RMS to the source's + ``energy_db``."""
    out = _synthesize(world, n_samples)
    # Resynthesis, tilt and pitch all move the level; one gain puts the voiced level where the edit
    # plans it, as the evaluation will measure it.
    rate = world.sample_rate_hz
    gain_db = _voiced_level_db(source, rate, source_voiced) + energy_db - _voiced_level_db(out, rate)
    out = out * 10.0 ** (gain_db / 20.0)
    out = _soft_limit(out).astype(np.float32)
    return EditResult(out, None if durations is None else [int(d) for d in durations], ops)


# --------------------------------------------------------------------------------------------------
# The edits


def _emotion(
    audio: np.ndarray, world: _World, durations: list[int] | None, edit: EmotionEdit, ops: list[dict]
) -> EditResult:
    new_durations, positions, n_samples = _tempo_map(durations, world, edit.duration_factor, audio.size)
    warped = _warp(world, positions)
    warped.f0 = _reshape_f0(warped.f0, edit.f0_shift_semitones, edit.f0_range)
    warped = _tilt(warped, edit.tilt_db_per_octave)
    ops += [
        {"op": "time_scale", "factor": edit.duration_factor},
        {"op": "f0_shift", "semitones": edit.f0_shift_semitones},
        {"op": "f0_range", "factor": edit.f0_range},
        {"op": "spectral_tilt", "db_per_octave": edit.tilt_db_per_octave},
        {"op": "energy", "db": edit.energy_db},
    ]
    return _finish(audio, world.measured_voiced, warped, new_durations, n_samples, edit.energy_db, ops)


def _sing(
    audio: np.ndarray,
    world: _World,
    durations: list[int],
    tokens: list[str],
    text: str,
    rng: np.random.Generator,
    ops: list[dict],
) -> EditResult:
    n_syllables = len(music.syllable_nuclei(tokens))
    if n_syllables == 0:
        raise EditError("nothing to sing: the phonemes have no vowel")
    bpm = float(rng.integers(SING_BPM_RANGE[0], SING_BPM_RANGE[1] + 1))
    melody = music.default_melody(text, n_syllables, bpm)
    frame_rate_hz = world.sample_rate_hz / HOP
    duration_override, pitch_override = music.singing_overrides(
        tokens, np.asarray(durations), melody, frame_rate_hz
    )
    new = duration_override.astype(np.int64)
    positions = _duration_map(np.asarray(durations), new, len(world.f0))
    warped = _warp(world, positions)
    # A sung vowel is voiced: the trackers call some creaky vowel frames unvoiced, and stretched to
    # a note they would be a long whisper. Nuclei above the silence gate are voiced, at most as
    # aperiodic as the utterance's typical voiced frame; consonants keep their own voicing.
    nucleus = np.zeros(len(tokens), dtype=bool)
    for start, end in music.nucleus_spans(tokens):
        nucleus[start:end] = True
    frames = np.concatenate([np.repeat(nucleus, new), [False]])
    source_level_db = frame_level_db(audio, len(world.f0))
    loud = source_level_db[np.rint(positions).astype(np.int64)] > SILENCE_DB
    force = frames & loud
    warped.f0 = np.where(force & (warped.f0 <= 0), 1.0, warped.f0)  # any value > 0: replaced below
    if (world.f0 > 0).any():
        typical_ap = np.median(world.ap[world.f0 > 0], axis=0)
        warped.ap[force] = np.minimum(warped.ap[force], typical_ap[None, :])
    depth_cents = float(rng.uniform(*VIBRATO_CENTS))
    phase = float(rng.uniform(0.0, 2.0 * np.pi))
    warped.f0 = _melody_f0(warped.f0, new, pitch_override, frame_rate_hz, depth_cents, phase)
    ops.append(
        {
            "op": "sing",
            "melody": melody.to_spec(),
            "bpm": bpm,
            "vibrato_hz": VIBRATO_HZ,
            "vibrato_cents": round(depth_cents, 2),
            "glide_frames": GLIDE_FRAMES,
        }
    )
    return _finish(audio, world.measured_voiced, warped, new, int(new.sum()) * HOP, 0.0, ops)


def _melody_f0(
    voiced_f0: np.ndarray,
    durations: np.ndarray,
    pitch_override: np.ndarray,
    frame_rate_hz: float,
    depth_cents: float,
    phase: float,
) -> np.ndarray:
    """F0 [F'] on the melody: each frame at its token's note, glides and vibrato; unvoiced stays 0.

    Frames of unpitched tokens (unvoiced consonants, pauses) hold the previous note, so a voiced
    frame among them never falls back to speech pitch.
    """
    frame_midi = np.repeat(pitch_override.astype(np.float64), durations)
    pitched = np.flatnonzero(frame_midi > 0)
    index = np.arange(len(frame_midi))
    # Hold the last note forward (the first note backward, before the first pitched frame).
    last = np.maximum.accumulate(np.where(frame_midi > 0, index, -1))
    held = np.where(last >= 0, frame_midi[np.maximum(last, 0)], frame_midi[pitched[0]])
    kernel = np.hanning(2 * GLIDE_FRAMES + 3)[1:-1]
    kernel /= kernel.sum()
    glided = np.convolve(np.pad(held, GLIDE_FRAMES, mode="edge"), kernel, mode="valid")
    # Vibrato fades in from each note's start.
    onset = np.maximum.accumulate(np.where(np.diff(held, prepend=-1.0) != 0, index, 0))
    since_s = (index - onset) / frame_rate_hz
    fade = np.clip(since_s / VIBRATO_ONSET_S, 0.0, 1.0)
    vibrato = depth_cents / 100.0 * fade * np.sin(2.0 * np.pi * VIBRATO_HZ * index / frame_rate_hz + phase)
    f0 = midi_to_hz(glided + vibrato)
    f0 = np.concatenate([f0, f0[-1:]])  # the closing WORLD frame
    return np.where(voiced_f0 > 0, f0, 0.0)


def _rap(
    audio: np.ndarray,
    world: _World,
    durations: list[int],
    tokens: list[str],
    rng: np.random.Generator,
    ops: list[dict],
) -> EditResult:
    if not music.syllable_nuclei(tokens):
        raise EditError("nothing to rap: the phonemes have no vowel")
    bpm = float(rng.integers(RAP_BPM_RANGE[0], RAP_BPM_RANGE[1] + 1))
    frame_rate_hz = world.sample_rate_hz / HOP
    new = music.rap_overrides(
        tokens, np.asarray(durations), bpm, frame_rate_hz, music.RAP_SUBDIVISION
    ).astype(np.int64)
    warped = _warp(world, _duration_map(np.asarray(durations), new, len(world.f0)))
    warped.f0 = _reshape_f0(warped.f0, RAP_EDIT.f0_shift_semitones, RAP_EDIT.f0_range)
    warped = _tilt(warped, RAP_EDIT.tilt_db_per_octave)
    ops += [
        {"op": "rap", "bpm": bpm, "subdivision": music.RAP_SUBDIVISION},
        {"op": "f0_shift", "semitones": RAP_EDIT.f0_shift_semitones},
        {"op": "f0_range", "factor": RAP_EDIT.f0_range},
        {"op": "spectral_tilt", "db_per_octave": RAP_EDIT.tilt_db_per_octave},
        {"op": "energy", "db": RAP_EDIT.energy_db},
    ]
    return _finish(audio, world.measured_voiced, warped, new, int(new.sum()) * HOP, RAP_EDIT.energy_db, ops)
