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
- accents, languages and dialects: what they change in the phonemes (:mod:`distill.tag_judging`);
- intelligibility, each line judged in its language (:mod:`distill.tag_judging`): English lines by
  pocketsphinx's WER, Mandarin lines by Whisper base's CER, each group against its own neutral rate.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distill.intelligibility import LANGUAGE_NAMES, Intelligibility, line_languages
from distill.measures import f0_stats, speech_duration_s, voiced_rms_db
from distill.music_measures import (
    TOLERANCE_CENTS,
    beat_errors_s,
    ioi_cv,
    note_hold_ratio,
    onset_times_s,
    pitch_accuracy,
)
from distill.pitch import FRAME_PERIOD_MS, f0_contour
from distill.report import bar, first_sentences, fmt, nan_median, write_json
from distill.tag_judging import TagJudges, error_bars, error_rates, phoneme_bars, phoneme_effects
from steptts import music
from steptts.errors import StepTTSError, TagError
from steptts.tags import resolve_tag, speed_duration_factors

SPEED_TARGETS = speed_duration_factors()
"""Duration factor each speed tag should produce (the tag table's, ``慢速1`` → 1.15)."""
SPEED_TOLERANCE = 0.10
"""Relative: the measured factor must lie within ±10 % of the target."""


@dataclass
class TagEvalConfig:
    """What `--tags` renders."""

    lines: int = 8  # lines (first sentence of each) rendered per tag
    melody: str = "C4:1 D4:1 E4:1 F4:1 G4:2"  # for 哼唱 with a melody
    bpm: float = 90.0  # tempo of that melody and of RAP
    keys: list[str] | None = None  # only these tag keys (default: all the voice declares)
    language: str = "auto"  # language of the lines: "en", "zh", or "auto" (each line by its script)
    plots: bool = True
    """Draw plots/tag_<key>.png (F0 contours against neutral)."""


@dataclass
class Take:
    """One rendering and its measurements."""

    text: str
    """The sentence, with its tag prefix."""
    language: str
    """The judged language of the sentence ("en" or "zh")."""
    audio: np.ndarray
    """float32 [S] mono."""
    sample_rate_hz: int
    """Rate of ``audio`` in Hertz."""
    f0_hz: np.ndarray
    """float64 [F] F0 per 10 ms frame in Hz, 0 where unvoiced."""
    duration_s: float
    """Speech duration in seconds, leading and trailing silence trimmed."""
    rms_db: float
    """RMS level over voiced frames, in dBFS."""
    hypothesis: str
    """What the language's judge heard: pocketsphinx's lowercase words, or Whisper's text."""
    info: dict
    """What the system chose itself (e.g. ``bpm``, ``melody``)."""

    @property
    def f0(self):
        return f0_stats(self.f0_hz)

    def summary(self) -> dict[str, Any]:
        """The per-line record of tags.json (no audio or contour)."""
        stats = self.f0
        return {
            "text": self.text,
            "language": self.language,
            "hypothesis": self.hypothesis,
            "duration_s": self.duration_s,
            "f0_median_st": stats.median_st,
            "f0_range_st": stats.range_st,
            "rms_db": self.rms_db,
            "info": self.info,
        }


def _take(system, prefix: str, sentence: str, language: str, judges: TagJudges, **controls: Any) -> Take:
    """Render ``prefix + sentence`` and measure it; ``language``'s judge hears it against ``sentence``."""
    rendered = system.synthesize(prefix + sentence, **controls)
    audio, rate = rendered.audio, rendered.sample_rate_hz
    f0 = f0_contour(audio, rate)
    return Take(
        prefix + sentence,
        language,
        audio,
        rate,
        f0,
        speech_duration_s(audio, rate),
        voiced_rms_db(audio, rate, f0),
        judges.hear(sentence, language, audio, rate),
        dict(getattr(rendered, "info", {}) or {}),
    )


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


def _bar_key(keys: Sequence[str], base: str) -> str | None:
    """The intensity a one-level bar applies to: the strong one (2) when declared, else 1."""
    for key in (f"{base}2", f"{base}1"):
        if key in keys:
            return key
    return None


def _bars(key: str, label: str, effects: dict[str, Any], all_keys: Sequence[str]) -> list[dict[str, Any]]:
    """The bars of what a tag should change: pitch, tempo, loudness, singing and rap."""
    checks: list[dict[str, Any]] = []
    f0, duration, rms = effects["f0_median_st"], effects["duration_ratio"], effects["rms_db"]
    if key == "高兴2":
        checks.append(bar("median F0", f0, "≥ +2 st", f0 >= 2.0))
    elif key == "高兴1":
        checks.append(bar("median F0", f0, "≥ +1 st", f0 >= 1.0))
    elif key == _bar_key(all_keys, "悲伤"):
        checks.append(bar("median F0", f0, "≤ −1 st", f0 <= -1.0))
        checks.append(bar("duration", duration, "≥ ×1.05", duration >= 1.05))
    elif key == _bar_key(all_keys, "生气"):
        checks.append(bar("voiced RMS", rms, "≥ +2 dB", rms >= 2.0))
    elif key in SPEED_TARGETS:
        target = SPEED_TARGETS[key]
        low, high = target * (1 - SPEED_TOLERANCE), target * (1 + SPEED_TOLERANCE)
        checks.append(
            bar("duration", duration, f"×{target:g} ±10 % ({low:.3f}–{high:.3f})", low <= duration <= high)
        )
    elif label == "哼唱 (melody)":
        accuracy = effects.get("pitch_accuracy")
        checks.append(
            bar(
                "pitch within 50 cents (time-aligned)",
                accuracy,
                "≥ 0.70",
                accuracy is not None and accuracy >= 0.70,
            )
        )
    elif label == "哼唱 (own tune)":
        hold, neutral_hold = effects.get("note_hold"), effects.get("neutral_note_hold")
        checks.append(bar("note-hold ratio", hold, "≥ 0.30", hold is not None and hold >= 0.30))
        checks.append(
            bar(
                "neutral note-hold ratio",
                neutral_hold,
                "≈ 0 (≤ 0.10)",
                neutral_hold is not None and neutral_hold <= 0.10,
            )
        )
    elif key == "RAP":
        error = effects.get("onset_error_ms")
        checks.append(
            bar("median onset-to-beat error", error, "≤ 50 ms", error is not None and error <= 50.0)
        )
    return checks


def run_tag_eval(
    system,
    lines: Sequence[str],
    out_dir: Path,
    config: TagEvalConfig | None = None,
    judges: Intelligibility | None = None,
) -> dict[str, Any]:
    """Measure every tag ``system`` declares on the first sentence of ``lines``.

    Each sentence is judged in its language (``config.language``, or its script): English by
    pocketsphinx's WER, Mandarin by Whisper's CER (:mod:`distill.tag_judging`); ``judges``: the
    evaluation's, reused (None: those the lines need are loaded). Writes ``tags.json``, ``tags.md``
    and ``plots/tag_<key>.png`` into ``out_dir``; returns the content of tags.json. A tag that fails
    to render is reported with its error, not raised.
    """
    config = config or TagEvalConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sentences = first_sentences(lines, config.lines)
    if not sentences:
        raise StepTTSError("no sentence to render tags on")
    keys = _keys(system, config)
    run = _TagRun(system, sentences, config, judges, out_dir, keys)
    rows = [run.row(key, label, controls) for key in keys
            for label, controls in _variants(key, config, getattr(system, "takes_music_controls", True))]
    report = run.report(rows)
    write_json(out_dir / "tags.json", report)
    (out_dir / "tags.md").write_text(format_tags_md(report), encoding="utf-8")
    return report


def _keys(system, config: TagEvalConfig) -> list[str]:
    """The tags to measure: all ``system`` declares, or those of ``config.keys`` (TagError when it
    does not declare one)."""
    declared = list(system.tag_keys)
    if config.keys is None:
        return declared
    wanted = [resolve_tag(k).key for k in config.keys]
    missing = [k for k in wanted if k not in declared]
    if missing:
        raise TagError(
            f"{system.name} does not declare tag(s) {', '.join(missing)}; it has: "
            f"{', '.join(declared) or 'none'}"
        )
    return [k for k in declared if k in wanted]


class _TagRun:
    """The neutral takes of one tag evaluation, and the rows measured against them."""

    def __init__(self, system, sentences: list[str], config: TagEvalConfig, judges: Intelligibility | None,
                 out_dir: Path, keys: list[str]) -> None:
        self.system, self.sentences, self.config = system, sentences, config
        self.out_dir, self.keys = out_dir, keys
        self.languages = line_languages(sentences, config.language)
        self.judges = TagJudges(self.languages, judges)
        voice = getattr(getattr(system, "tts", None), "voice", None)
        self.voice_language = voice.language if voice is not None else "en-us"
        self.melody_notes = [(n.midi, n.beats) for n in music.parse_melody(config.melody, config.bpm).notes]
        self.neutral = self._takes("", {})
        self.neutral_rates = error_rates(sentences, self.languages, [t.hypothesis for t in self.neutral])
        self.neutral_hold = nan_median([note_hold_ratio(t.f0_hz, FRAME_S) for t in self.neutral])

    def row(self, key: str, label: str, controls: dict) -> dict[str, Any]:
        """Render the sentences under one tag (variant) and measure it against neutral."""
        row: dict[str, Any] = {"key": key, "label": label, "controls": controls}
        try:
            takes = self._takes(f"({key})", controls)
        except StepTTSError as error:
            row.update(error=str(error), effects={}, checks=[], notes=[])
            return row
        effects = _common_effects(takes, self.neutral)
        effects.update(error_rates(self.sentences, self.languages, [t.hypothesis for t in takes]))
        if label == "哼唱 (melody)":
            effects.update(self._melody_effects(takes))
        if label == "哼唱 (own tune)":
            effects.update(note_hold=nan_median([note_hold_ratio(t.f0_hz, FRAME_S) for t in takes]),
                           neutral_note_hold=self.neutral_hold)
        if key == "RAP":
            effects.update(_rap_effects(takes, self.neutral, self.config.bpm))
        tag = resolve_tag(key)
        if tag.kind in ("accent", "language") and tag.spec.espeak_voice:
            effects.update(phoneme_effects(self.system, tag, self.sentences, self.languages))
        phoneme_checks, phoneme_notes = phoneme_bars(tag, effects, self.voice_language)
        error_checks, error_notes = error_bars(tag, effects, self.neutral_rates)
        row["effects"] = effects
        row["checks"] = _bars(key, label, effects, self.keys) + phoneme_checks + error_checks
        row["notes"] = phoneme_notes + error_notes
        row["per_line"] = [t.summary() for t in takes]
        if self.config.plots:
            self._plot(key, label, takes)
        return row

    def _takes(self, prefix: str, controls: dict) -> list[Take]:
        """Every sentence rendered after ``prefix`` (a tag, or nothing) and heard in its language."""
        return [_take(self.system, prefix, s, lang, self.judges, **controls)
                for s, lang in zip(self.sentences, self.languages)]

    def _melody_effects(self, takes: list[Take]) -> dict[str, float]:
        bpm = self.config.bpm
        scores = [pitch_accuracy(t.f0_hz, FRAME_S, self.melody_notes, bpm) for t in takes]
        neutral_scores = [pitch_accuracy(n.f0_hz, FRAME_S, self.melody_notes, bpm) for n in self.neutral]
        return {
            "pitch_accuracy": nan_median([s.time_aligned for s in scores]),
            "pitch_accuracy_nearest_note": nan_median([s.nearest_note for s in scores]),
            "neutral_pitch_accuracy": nan_median([s.time_aligned for s in neutral_scores]),
        }

    def _plot(self, key: str, label: str, takes: list[Take]) -> None:
        from distill import plots

        name = label.replace(" (melody)", "_melody").replace(" (own tune)", "_own")
        # The plot font has no glyphs for a Mandarin title's characters: one warning each is noise.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            plots.plot_f0_contours(
                self.out_dir / "plots" / f"tag_{name}.png",
                [("neutral", self.neutral[0].f0_hz), (_ascii_label(key, label), takes[0].f0_hz)],
                FRAME_PERIOD_MS,
                title=self.sentences[0],
            )

    def report(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The content of tags.json."""
        checks = [c for row in rows for c in row.get("checks", [])]
        return {
            "system": self.system.name,
            "declared_tags": list(self.system.tag_keys),
            "settings": {
                "lines": len(self.sentences),
                "melody": self.config.melody,
                "bpm": self.config.bpm,
                "tolerance_cents": TOLERANCE_CENTS,
                "rap_subdivision": music.RAP_SUBDIVISION,
                "f0": "pYIN-style tracker, 10 ms frames",
                "pitch_accuracy": "time-aligned (strict); nearest-note figure alongside",
                "speed_tolerance": "relative ±10 % of the target factor",
                "language": self.config.language,
                "judges": self.judges.describe(),
            },
            "sentences": self.sentences,
            "sentence_languages": self.languages,
            "neutral": {
                **self.neutral_rates,
                "note_hold": self.neutral_hold,
                "per_line": [t.summary() for t in self.neutral],
            },
            "tags": rows,
            "passed": sum(1 for c in checks if c["pass"]),
            "failed": sum(1 for c in checks if not c["pass"]),
            "errors": sum(1 for row in rows if "error" in row),
        }


FRAME_S = FRAME_PERIOD_MS / 1000.0
"""The F0 frame period in seconds."""


def _common_effects(takes: list[Take], neutral: list[Take]) -> dict[str, Any]:
    """Medians over lines of tagged minus neutral (F0 in semitones, level in dB) and tagged / neutral
    (duration)."""
    pairs = list(zip(takes, neutral))
    return {
        "f0_median_st": nan_median([t.f0.median_st - n.f0.median_st for t, n in pairs]),
        "f0_range_st": nan_median([t.f0.range_st - n.f0.range_st for t, n in pairs]),
        "duration_ratio": nan_median(
            [t.duration_s / n.duration_s if n.duration_s > 0 else float("nan") for t, n in pairs]
        ),
        "rms_db": nan_median([t.rms_db - n.rms_db for t, n in pairs]),
    }


def _median_beat_error_ms(onsets_s: np.ndarray, bpm: float) -> float:
    if onsets_s.size <= 1:
        return float("nan")
    return float(np.median(beat_errors_s(onsets_s, bpm, music.RAP_SUBDIVISION)) * 1000.0)


def _rap_effects(takes: list[Take], neutral: list[Take], default_bpm: float) -> dict[str, float]:
    """Onset-to-beat error of the rapped and the neutral lines (at the tempo the system actually
    used) and the rapped lines' inter-onset regularity."""
    errors, neutral_errors, cvs = [], [], []
    for take, plain in zip(takes, neutral):
        bpm = float(take.info.get("bpm", default_bpm))
        onsets = onset_times_s(take.audio, take.sample_rate_hz)
        errors.append(_median_beat_error_ms(onsets, bpm))
        cvs.append(ioi_cv(onsets))
        neutral_errors.append(_median_beat_error_ms(onset_times_s(plain.audio, plain.sample_rate_hz), bpm))
    return {
        "onset_error_ms": nan_median(errors),
        "neutral_onset_error_ms": nan_median(neutral_errors),
        "ioi_cv": nan_median(cvs),
    }


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
        *(f"{metric.upper()} {fmt(effects[metric], 3)}" for metric in ("wer", "cer") if metric in effects),
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
        untagged = effects["compared_with"] == "untagged"
        against = "untagged" if untagged else f"en-us ({effects['espeak_voice']})"
        parts.append(
            f"phonemes differ from {against} on {fmt(effects['phonemes_differ_share'], 2)} of "
            f"{effects['lines_compared']} lines"
        )
    return "; ".join(parts)


def _neutral_text(report: dict[str, Any]) -> str:
    """The neutral error rates of tags.md: each language group's, with its lines and its judge."""
    languages, judges = report["sentence_languages"], report["settings"]["judges"]
    parts = []
    for language, metric in (("en", "wer"), ("zh", "cer")):
        if metric in report["neutral"]:
            count = languages.count(language)
            rate = fmt(report["neutral"][metric], 3)
            parts.append(f"{'neutral' if parts else 'Neutral'} {metric.upper()} {rate} ({count} "
                         f"{LANGUAGE_NAMES[language]} line{'s' if count != 1 else ''}: {judges[language]})")
    return "; ".join(parts) or "No line judged"


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
            f"{_neutral_text(report)}; neutral note-hold {fmt(report['neutral']['note_hold'], 3)}. "
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
    notes = list(dict.fromkeys(note for row in report["tags"] for note in row.get("notes", [])))
    if notes:
        lines += ["", "Not barred, and why:", "", *(f"- {note}" for note in notes)]
    lines.append("")
    return "\n".join(lines)
