"""The public API: :class:`TTS` turns text into audio with a voice package or a remote engine.

The pipeline (text or SSML → tags → sentences → language runs → normalized text → phonemes → ids)
is driven here, with the text frontend in :mod:`steptts.languages`; the
:class:`~steptts.engine.Engine` only maps ids to audio, the :class:`~steptts.remote.RemoteEngine`
sends text and controls to a speech server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import music
from .audio import Audio, Chunk, SentenceTiming
from .errors import StepTTSError, TagError, TextError
from .languages import pipeline
from .languages.base import DIALECTS, LANGUAGES, TAG_LANGUAGES, frontend_language_tag, language
from .lexicon import Lexicon
from .tags import INTENSITIES, Tag, check_compatible, dedupe, parse_tags, resolve_tag
from .words import Word, word_timings

if TYPE_CHECKING:
    from .voice import Voice

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
    text: pipeline.TextSettings
    """How this request's text becomes phonemes (languages, accent, the voice's substitutions)."""

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
        lexicon: a pronunciation lexicon (a TSV file, see :mod:`steptts.lexicon`, or a
            :class:`~steptts.lexicon.Lexicon`): its words are said its way, over the G2P.
        split_first_clause: the first sentence of plain text, when long, is spoken as two chunks, cut
            after its first clause (``今天的天气很好，`` / ``我们去公园散步吧。``), so that a stream's first
            audio comes in about half the time; False keeps every sentence one chunk.
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
        lexicon: str | os.PathLike | Lexicon | None = None,
        split_first_clause: bool = True,
    ) -> None:
        if engine not in ("local", "remote"):
            raise StepTTSError(f"unknown engine '{engine}'; use 'local' or 'remote'")
        if lexicon is not None and engine == "remote":
            raise StepTTSError("lexicon= needs the local engine: a remote teacher does its own G2P")
        if lexicon is not None and not isinstance(lexicon, Lexicon):
            lexicon = Lexicon.load(lexicon)
        self.lexicon = lexicon
        self.split_first_clause = split_first_clause
        self.lexicon_phonemizer = lexicon.phonemizer(pipeline.frontend_phonemes) if lexicon else None
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
        from .engine import CUDA, Engine, requested_providers
        from .voice import load_voice

        self.voice = load_voice(voice)
        chosen = variant
        if variant == "auto":
            wants_cuda = CUDA in requested_providers(provider) and CUDA in _available_providers()
            chosen = "fp16" if wants_cuda and self.voice.has_variant("fp16") else "fp32"
        self.engine = Engine(self.voice.model_path(chosen), provider=provider, threads=threads)
        if variant == "auto" and chosen == "fp16" and self.engine.provider != CUDA:
            # The fp16 graph was chosen for CUDA, which did not start: the CPU runs the fp32 graph.
            # An fp16 asked for by name runs wherever it lands (onnxruntime's CPU provider runs it).
            chosen = "fp32"
            self.engine = Engine(self.voice.model_path(chosen), provider=provider, threads=threads)
        self.variant: str = chosen
        """The graph variant that actually runs: ``fp32``, ``fp16`` or ``int8``."""
        self.provider = self.engine.provider
        self.sample_rate_hz = self.voice.sample_rate_hz
        for code in self.voice.languages:  # so that the first sentence does not wait for jieba's dictionary
            LANGUAGES[code].load()

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
        return Audio(samples, self.sample_rate_hz, self.provider, timings, _joined_words(chunks))

    def stream(self, text: str, **controls) -> Iterator[Chunk]:
        """Yield audio sentence by sentence; the first chunk comes before later ones are computed.

        Validation (tags, controls, empty text) happens before the first chunk. Long text is never
        truncated: it is split at sentence, then clause, then word boundaries.
        """
        request, sentences = self._prepare(text, **controls)
        return self._generate(request, sentences)

    def phonemize(self, text: str, **controls) -> list[pipeline.Utterance]:
        """What :meth:`stream` would say, sentence by sentence: language runs, normalized text, phonemes.

        Takes the same text (tags, SSML) and controls; nothing is synthesized. The way to debug a
        pronunciation (``steptts phonemize``).
        """
        request, planned = self._prepare(text, **controls)
        return [pipeline.utterance(p.text, request.text, list(p.runs)) for p in planned if p.runs]

    @property
    def tag_keys(self) -> list[str]:
        """Tag keys this voice was trained on (all tags pass through for the remote engine)."""
        return self.voice.tag_keys if self.voice is not None else []

    # --------------------------------------------------------------------------------------- private
    def _prepare(self, text: str, *, emotion: str | None = None, intensity: int | None = None,
                 speed: float = 1.0, pitch: float = 0.0, energy: float = 0.0, accent: str | None = None,
                 language: str | None = None, style: str | None = None, melody: str | None = None,
                 bpm: float | None = None, speaker: str | None = None) -> tuple[Request, list[pipeline.Planned]]:
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
        settings = text_settings(tags, self.voice, self.lexicon_phonemizer)
        sentences = pipeline.plan(body, settings, self.split_first_clause)
        if any(not 0.25 <= float(speed) * p.speed <= 4.0 for p in sentences):
            raise StepTTSError("speed times SSML's prosody rate must stay between 0.25 and 4")
        if self.remote is not None:  # SSML prosody reaches the server too, or raises here
            prosody = {(p.speed, p.pitch_semitones, p.energy_db) for p in sentences if p.runs}
            for controls in prosody - {(1.0, 0.0, 0.0)}:
                self._check_remote_supports(tags, float(speed) * controls[0], float(pitch) + controls[1],
                                            float(energy) + controls[2], melody, bpm)
        request = Request(tuple(tags), float(speed), float(pitch), float(energy), speaker, parsed_melody,
                          float(bpm) if bpm is not None else None, settings)
        return request, sentences

    def _check_voice_supports(self, tags: list[Tag]) -> None:
        for tag in tags:
            if frontend_language_tag(tag.key, self.voice.languages):
                continue  # 中文/英文 for a voice that speaks the language: the frontend performs it
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

    def _generate(self, request: Request, planned: list[pipeline.Planned]) -> Iterator[Chunk]:
        note_offset = 0
        for index, item in enumerate(planned):
            started = time.perf_counter()
            if item.pause_s > 0:
                samples = np.zeros(round(item.pause_s * self.sample_rate_hz), np.float32)
                yield Chunk(samples, self.sample_rate_hz, index, "", 0.0, self.provider)
                continue
            words: list[Word] = []
            step = replace(request, speed=request.speed * item.speed,
                           pitch_semitones=request.pitch_semitones + item.pitch_semitones,
                           energy_db=request.energy_db + item.energy_db)
            if self.remote is not None:
                spoken = pipeline.normalized(item.text, list(item.runs))
                if not spoken.strip():
                    continue
                samples, rate, _ = self.remote.synthesize(spoken, list(request.tags), voice=request.speaker,
                                                          speed=step.speed, volume=_volume(step.energy_db))
                if rate != self.sample_rate_hz:
                    raise StepTTSError(f"remote server answered at {rate} Hz, asked for {self.sample_rate_hz}")
            else:
                said = pipeline.utterance(item.text, request.text, list(item.runs))
                spoken = said.normalized
                if not spoken.strip():
                    continue
                samples, note_offset, tokens, durations = self._render_local(said.phonemes, spoken, step,
                                                                             note_offset)
                words = word_timings(spoken, tokens, durations, self.voice.hop_length / self.sample_rate_hz)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            yield Chunk(samples, self.sample_rate_hz, index, spoken, elapsed_ms, self.provider, tuple(words))

    def _render_local(self, phonemes: str, spoken: str, request: Request,
                      note_offset: int) -> tuple[np.ndarray, int, list[str], np.ndarray]:
        """Audio of one sentence: (float32 [S] samples, next melody note, [T] tokens, int [T] frames)."""
        voice = self.voice
        ids, tokens = voice.phoneme_vocab.encode(phonemes)
        if len(ids) <= 2:
            return np.zeros(0, np.float32), note_offset, tokens, np.zeros(len(tokens), np.int64)
        learned, controls = voice.tag_inputs([t.key for t in request.tags], request.speed,
                                             request.pitch_semitones, request.energy_db)
        tag_ids = np.array(learned, np.int64)
        speaker_id = voice.speakers[request.speaker] if request.speaker else next(iter(voice.speakers.values()))
        controls = np.array(controls, np.float32)
        ids_array = np.array(ids, np.int64)
        first = self.engine.run(ids_array, tag_ids, speaker_id, controls)
        music_key = request.music_tag
        if music_key is None:
            return first.audio, note_offset, tokens, first.durations
        frame_rate_hz = voice.sample_rate_hz / voice.hop_length
        pitch_override = None
        if music_key == "哼唱":
            n_syllables = max(1, len(music.syllable_nuclei(tokens)))
            if request.melody is not None:  # a user's tune carries on across sentences
                melody = _rotate(request.melody, note_offset)
            else:
                melody = music.default_melody(spoken, n_syllables, request.bpm)
            duration_override, pitch_override = music.singing_overrides(
                tokens, first.durations, melody, frame_rate_hz)
            note_offset += n_syllables
        else:
            bpm = request.bpm or 90.0
            duration_override = music.rap_overrides(tokens, first.durations, bpm, frame_rate_hz)
        second = self.engine.run(ids_array, tag_ids, speaker_id, controls, duration_override, pitch_override)
        return second.audio, note_offset, tokens, second.durations


def _joined_words(chunks: list[Chunk]) -> list[Word]:
    """The chunks' words on one time line: each chunk's shifted by the audio before it."""
    words: list[Word] = []
    offset_s = 0.0
    for chunk in chunks:
        words += [word.shifted(offset_s) for word in chunk.words]
        offset_s += chunk.duration_s
    return words


def text_settings(tags: list[Tag], voice: Voice | None = None, phonemizer: pipeline.Phonemizer | None = None,
                  ) -> pipeline.TextSettings:
    """Languages and accent of a request's text, from its tags and the voice (None: no voice's checks).

    A language tag sets the language of text without letters and, for Cantonese and Japanese, of Han
    characters; an accent tag sets English runs' espeak-ng voice; a dialect tag (四川话) the rules its
    language's runs follow.
    """
    tag_language = next((TAG_LANGUAGES[t.key] for t in tags if t.key in TAG_LANGUAGES), None)
    accent = next((t.spec.espeak_voice for t in tags if t.kind == "accent"), None)
    voice_language = voice.language if voice is not None else "en-us"
    default = tag_language or language(voice_language).code
    english_variant = accent or (voice_language if voice_language.startswith("en") else "en-us")
    han = default if default in ("yue", "ja") else "zh"
    dialect = next((t.key for t in tags if t.key in DIALECTS), None)
    if voice is None:
        return pipeline.TextSettings(default, han, english_variant, phonemizer=phonemizer, dialect=dialect)
    return pipeline.TextSettings(default, han, english_variant, frozenset(voice.languages), voice.name,
                                 voice.phoneme_substitutions, phonemizer, dialect)


def phonemize(text: str, voice: str | Path | None = None, lexicon: str | Path | Lexicon | None = None,
              **controls) -> list[pipeline.Utterance]:
    """The sentences of ``text`` as a voice would say them, without synthesizing.

    With ``voice``, that voice's languages are checked and its substitutions applied
    (``TTS(voice).phonemize``); without, the language frontends alone (no onnxruntime needed).
    Controls: ``language`` and ``accent`` tags, as keyword arguments.
    """
    if voice is not None:
        return TTS(voice, lexicon=lexicon).phonemize(text, **controls)
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    if lexicon is not None and not isinstance(lexicon, Lexicon):
        lexicon = Lexicon.load(lexicon)
    inline, body = parse_tags(text)
    tags = dedupe(inline + _controls_to_tags(None, None, controls.pop("accent", None),
                                             controls.pop("language", None), None))
    if controls:
        raise StepTTSError(f"phonemize() takes language= and accent=, not {', '.join(sorted(controls))}")
    check_compatible(tags)
    if not body.strip():
        raise TextError("nothing to say: the text is empty" + (" after its tags" if inline else ""))
    settings = text_settings(tags, None, lexicon.phonemizer(pipeline.frontend_phonemes) if lexicon else None)
    return [pipeline.utterance(p.text, settings, list(p.runs)) for p in pipeline.plan(body, settings) if p.runs]


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
