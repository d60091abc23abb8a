"""The public API: :class:`TTS` turns text into audio with a voice package or a remote engine.

The pipeline (text → tags → sentences → :func:`steptts.frontend.speak` → ids) lives here; the
:class:`~steptts.engine.Engine` only maps ids to audio, the :class:`~steptts.remote.RemoteEngine`
sends text and controls to a speech server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import music
from .audio import Audio, Chunk, SentenceTiming
from .errors import StepTTSError, TagError, TextError
from .frontend import Spoken, speak
from .sentences import split_sentences
from .tags import INTENSITIES, Tag, check_compatible, dedupe, parse_tags, resolve_tag

MAX_SYNTHESIZE_CHARS = 100_000
"""synthesize() keeps all audio in memory; beyond this, use stream() (which has no limit)."""


@dataclass(frozen=True)
class Request:
    """Everything one synthesis call asks for, resolved and validated."""

    tags: tuple[Tag, ...]
    """Inline tags and the tags of the keyword controls (emotion, accent, language, style), deduplicated."""
    speed: float
    """Tempo multiplier (0.25–4): the duration is divided by it."""
    pitch_semitones: float
    """Pitch shift in semitones (−24–24)."""
    energy_db: float
    """Level change in dB (−20–20)."""
    speaker: str | None
    """Speaker name of the voice (or the remote server's voice); None for the default."""
    melody: music.Melody | None
    """The tune to sing (with the singing tag), or None for the voice's own."""
    bpm: float | None
    """Tempo of singing or rap in beats per minute (30–300); None for the default."""

    @property
    def english(self) -> bool:
        """The text frontend is English-only: other languages go to espeak-ng as written."""
        voices = [t.spec.espeak_voice for t in self.tags if t.spec.espeak_voice]
        return not voices or voices[0].startswith("en")

    @property
    def music_tag(self) -> str | None:
        return next((t.key for t in self.tags if t.kind == "music"), None)


def _controls_to_tags(emotion: str | None, intensity: int | None, accent: str | None,
                      language: str | None, style: str | None) -> list[Tag]:
    tags: list[Tag] = []
    if emotion:
        tag = resolve_tag(emotion)
        if tag.kind != "emotion":
            raise TagError(f"emotion='{emotion}' is a {tag.kind} tag, not an emotion")
        if intensity is not None:
            if intensity not in INTENSITIES:
                raise TagError(f"intensity must be 1 (mild) or 2 (strong), got {intensity}")
            tag = replace(tag, intensity=intensity)
        tags.append(tag)
    elif intensity is not None:
        raise TagError("intensity= needs emotion=")
    for value, kinds, label in ((accent, ("accent", "language"), "accent"),
                                (language, ("language", "accent"), "language"),
                                (style, ("music", "speed"), "style")):
        if value:
            tag = resolve_tag(value)
            if tag.kind not in kinds:
                raise TagError(f"{label}='{value}' is a {tag.kind} tag")
            tags.append(tag)
    return tags


class TTS:
    """Speaks text with one voice. Holds no mutable state after construction: share it across threads.

    Args:
        voice: voice name or folder; None for the embedded default voice.
        provider: ``auto`` (CUDA then CPU), ``cpu``, ``cuda`` or a list of onnxruntime providers.
        threads: onnxruntime intra-op threads; None lets onnxruntime choose.
        variant: graph variant, ``auto`` (fp16 on CUDA when the voice has it, else fp32), ``fp32``,
            ``fp16`` or ``int8``.
        engine: ``local`` (the voice graph) or ``remote`` (a StepFun-compatible speech API).
        base_url, model, api_key, remote_voice: for ``engine="remote"``.
    """

    def __init__(
        self,
        voice: str | os.PathLike | None = None,
        provider: str | list[str] = "auto",
        threads: int | None = None,
        variant: str = "auto",
        engine: str = "local",
        base_url: str | None = None,
        model: str = "step-tts-mini",
        api_key: str | None = None,
        remote_voice: str | None = None,
    ) -> None:
        if engine not in ("local", "remote"):
            raise StepTTSError(f"unknown engine '{engine}'; use 'local' or 'remote'")
        self.voice = None
        self.engine = None
        self.remote = None
        if engine == "remote":
            if not base_url:
                raise StepTTSError("engine='remote' needs base_url= (the StepFun API or a server that speaks it)")
            from .remote import RemoteEngine

            kwargs = {"voice": remote_voice} if remote_voice else {}
            self.remote = RemoteEngine(base_url, api_key=api_key, model=model, **kwargs)
            self.provider = "remote"
            self.sample_rate_hz = self.remote.sample_rate_hz
            return
        from .engine import CUDA, Engine
        from .voice import load_voice

        self.voice = load_voice(voice)
        if variant == "auto":
            wants_cuda = provider != "cpu" and CUDA in _available_providers()
            variant = "fp16" if wants_cuda and self.voice.has_variant("fp16") else "fp32"
        self.engine = Engine(self.voice.model_path(variant), provider=provider, threads=threads)
        if variant == "fp16" and self.engine.provider != CUDA:
            self.engine = Engine(self.voice.model_path("fp32"), provider=provider, threads=threads)
        self.variant = variant
        self.provider = self.engine.provider
        self.sample_rate_hz = self.voice.sample_rate_hz

    # ----------------------------------------------------------------------------------------- public
    def synthesize(self, text: str, **controls) -> Audio:
        """Speak ``text`` (with optional leading tags) and return all of its audio.

        Keyword controls: ``emotion`` ("happy", "高兴"…), ``intensity`` (1|2), ``speed`` (tempo ×,
        0.25–4), ``pitch`` (semitones), ``energy`` (dB), ``accent``, ``language``, ``style``
        ("singing", "rap", "slow"…), ``melody`` (e.g. "C4:1 G4:2") and ``bpm`` for singing and rap,
        ``speaker``.
        """
        if len(text) > MAX_SYNTHESIZE_CHARS:
            raise TextError(f"text has {len(text):,} characters; synthesize() keeps everything in memory "
                            f"up to {MAX_SYNTHESIZE_CHARS:,}: use stream() (or `steptts say -o`) for longer text")
        chunks = list(self.stream(text, **controls))
        samples = np.concatenate([c.samples for c in chunks]) if chunks else np.zeros(0, np.float32)
        timings = [SentenceTiming(c.text, c.duration_s, c.compute_ms) for c in chunks]
        return Audio(samples, self.sample_rate_hz, self.provider, timings)

    def stream(self, text: str, **controls) -> Iterator[Chunk]:
        """Yield audio sentence by sentence; the first chunk comes before later ones are computed.

        Validation (tags, controls, empty text) happens before the first chunk. Long text is never
        truncated: it is split at sentence, then clause, then word boundaries.
        """
        request, sentences = self._prepare(text, **controls)
        return self._generate(request, sentences)

    @property
    def tag_keys(self) -> list[str]:
        """Tag keys this voice was trained on (all tags pass through for the remote engine)."""
        return self.voice.tag_keys if self.voice is not None else []

    # --------------------------------------------------------------------------------------- private
    def _prepare(self, text: str, *, emotion: str | None = None, intensity: int | None = None,
                 speed: float = 1.0, pitch: float = 0.0, energy: float = 0.0, accent: str | None = None,
                 language: str | None = None, style: str | None = None, melody: str | None = None,
                 bpm: float | None = None, speaker: str | None = None) -> tuple[Request, list[str]]:
        if not isinstance(text, str):
            raise TextError(f"text must be a string, got {type(text).__name__}")
        inline, body = parse_tags(text)
        tags = dedupe(inline + _controls_to_tags(emotion, intensity, accent, language, style))
        check_compatible(tags)
        if not body.strip():
            raise TextError("nothing to say: the text is empty" + (" after its tags" if inline else ""))
        if not 0.25 <= float(speed) <= 4.0:
            raise StepTTSError(f"speed must be between 0.25 and 4, got {speed}")
        if not -24 <= float(pitch) <= 24:
            raise StepTTSError(f"pitch must be between -24 and 24 semitones, got {pitch}")
        if not -20 <= float(energy) <= 20:
            raise StepTTSError(f"energy must be between -20 and 20 dB, got {energy}")
        music_key = next((t.key for t in tags if t.kind == "music"), None)
        parsed_melody = None
        if melody is not None:
            if music_key != "哼唱":
                raise TagError("melody= needs the singing tag: (singing)… or style='singing'")
            parsed_melody = music.parse_melody(melody, bpm if bpm is not None else 100.0)
        if bpm is not None and music_key is None:
            raise TagError("bpm= needs the singing or rap tag")
        if bpm is not None and not music.MIN_BPM <= float(bpm) <= music.MAX_BPM:
            raise StepTTSError(f"bpm must be between {music.MIN_BPM:g} and {music.MAX_BPM:g}, got {bpm}")
        if self.remote is not None:
            self._check_remote_supports(tags, float(speed), float(pitch), float(energy), melody, bpm)
        if self.voice is not None:
            self._check_voice_supports(tags)
            if speaker is not None and speaker not in self.voice.speakers:
                raise StepTTSError(f"voice '{self.voice.name}' has no speaker '{speaker}'; it has: "
                                   f"{', '.join(self.voice.speakers)}")
        sentences = [s for s in split_sentences(body) if s.strip()]
        if not sentences:
            raise TextError("nothing to say: the text has no speakable characters")
        request = Request(tuple(tags), float(speed), float(pitch), float(energy), speaker, parsed_melody,
                          float(bpm) if bpm is not None else None)
        return request, sentences

    def _check_voice_supports(self, tags: list[Tag]) -> None:
        for tag in tags:
            if tag.key not in self.voice.tag_vocab and tag.key not in self.voice.tag_controls:
                supported = ", ".join(self.voice.tag_keys) or "none"
                raise TagError(f"voice '{self.voice.name}' was not trained on tag '{tag.key}'; "
                               f"its tags: {supported}")

    def _check_remote_supports(self, tags: list[Tag], speed: float, pitch: float, energy: float,
                               melody: str | None, bpm: float | None) -> None:
        """Every control reaches the server or raises here, before the first request: tags as
        ``voice_label`` or inline, speed, energy as ``volume``, speaker as the server's voice."""
        from .remote import VOLUME_RANGE

        refused = [name for name, given in (("pitch", pitch != 0.0), ("melody", melody is not None),
                                            ("bpm", bpm is not None)) if given]
        if refused:
            raise StepTTSError(
                f"the remote engine cannot render {', '.join(refused)}: its speech API takes emotion, "
                "language and style tags, speed, energy (as its volume) and speaker (as its voice)"
            )
        volume = _volume(energy)
        if not VOLUME_RANGE[0] <= volume <= VOLUME_RANGE[1]:
            raise StepTTSError(
                f"energy {energy:g} dB is volume ×{volume:.3g} for the remote engine, outside its "
                f"{VOLUME_RANGE[0]:g}–{VOLUME_RANGE[1]:g}"
            )
        self.remote.check(tags, speed, volume)

    def _generate(self, request: Request, sentences: list[str]) -> Iterator[Chunk]:
        note_offset = 0
        voice = self.voice
        language = next((t.spec.espeak_voice for t in request.tags if t.spec.espeak_voice),
                        voice.language if voice is not None else "en-us")
        substitutions = voice.phoneme_substitutions if voice is not None else {}
        for index, sentence in enumerate(sentences):
            started = time.perf_counter()
            spoken = speak(sentence, language, substitutions, normalize=request.english)
            if not spoken.text.strip():
                continue
            if self.remote is not None:
                samples, rate, _ = self.remote.synthesize(spoken.text, list(request.tags), voice=request.speaker,
                                                          speed=request.speed, volume=_volume(request.energy_db))
                if rate != self.sample_rate_hz:
                    raise StepTTSError(f"remote server answered at {rate} Hz, asked for {self.sample_rate_hz}")
            else:
                samples, note_offset = self._render_local(spoken, request, note_offset)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            yield Chunk(samples, self.sample_rate_hz, index, spoken.text, elapsed_ms, self.provider)

    def _render_local(self, spoken: Spoken, request: Request, note_offset: int) -> tuple[np.ndarray, int]:
        voice = self.voice
        ids, tokens = voice.phoneme_vocab.encode(spoken.phonemes)
        if len(ids) <= 2:
            return np.zeros(0, np.float32), note_offset
        by_control = voice.tag_controls
        tag_ids = np.array([voice.tag_vocab[t.key] for t in request.tags if t.key not in by_control], np.int64)
        speed, pitch, energy = request.speed, request.pitch_semitones, request.energy_db
        for tag in request.tags:
            deltas = by_control.get(tag.key, {})
            speed *= deltas.get("speed", 1.0)
            pitch += deltas.get("pitch_semitones", 0.0)
            energy += deltas.get("energy_db", 0.0)
        speaker_id = voice.speakers[request.speaker] if request.speaker else next(iter(voice.speakers.values()))
        controls = np.array([speed, pitch, energy], np.float32)
        ids_array = np.array(ids, np.int64)
        first = self.engine.run(ids_array, tag_ids, speaker_id, controls)
        music_key = request.music_tag
        if music_key is None:
            return first.audio, note_offset
        frame_rate_hz = voice.sample_rate_hz / voice.hop_length
        pitch_override = None
        if music_key == "哼唱":
            n_syllables = max(1, len(music.syllable_nuclei(tokens)))
            if request.melody is not None:  # a user's tune carries on across sentences
                melody = _rotate(request.melody, note_offset)
            else:
                melody = music.default_melody(spoken.text, n_syllables, request.bpm)
            duration_override, pitch_override = music.singing_overrides(
                tokens, first.durations, melody, frame_rate_hz)
            note_offset += n_syllables
        else:
            bpm = request.bpm or 90.0
            duration_override = music.rap_overrides(tokens, first.durations, bpm, frame_rate_hz)
        second = self.engine.run(ids_array, tag_ids, speaker_id, controls, duration_override, pitch_override)
        return second.audio, note_offset


def _rotate(melody: music.Melody, offset: int) -> music.Melody:
    """The melody continued from note ``offset`` (so consecutive sentences carry on the tune)."""
    if not melody.notes or offset % len(melody.notes) == 0:
        return melody
    shift = offset % len(melody.notes)
    return replace(melody, notes=melody.notes[shift:] + melody.notes[:shift])


def _volume(energy_db: float) -> float:
    """The remote API's volume (a gain factor) for an energy change in dB."""
    return round(10.0 ** (energy_db / 20.0), 4)


def _available_providers() -> list[str]:
    from .engine import import_onnxruntime

    return import_onnxruntime().get_available_providers()


def synthesize(text: str, voice: str | Path | None = None, **controls) -> Audio:
    """One-shot convenience: ``TTS(voice).synthesize(text, **controls)``."""
    return TTS(voice).synthesize(text, **controls)
