"""The systems an evaluation judges: a student voice through :class:`steptts.TTS`, or a teacher (Piper
for English, Kokoro-82M or espeak-ng for Mandarin).

Both speak a line sentence by sentence, through the runtime's own sentence splitter and text
frontend (:func:`steptts.frontend.speak`), and concatenate the audio.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from steptts.errors import StepTTSError

TEACHER_SPEC_PREFIX = "teacher:"
"""``--voice teacher:KIND`` (``teacher:piper``, ``teacher:kokoro``…) evaluates a teacher as if it were the
student: a harness self-check (MCD 0, speed ratio 1) and, with ``+edits`` (``teacher:piper+edits``), the
tag targets the data engine trains a student on."""
EVAL_TEACHERS = ("piper", "kokoro", "espeak")
"""Teachers an evaluation can run (kinds of :func:`distill.teachers.make_teacher`)."""
DEFAULT_TEACHER = {"en": "piper", "zh": "kokoro"}
"""The teacher a student is compared with, by the language of the held-out lines."""
TEACHER_LANGUAGES: dict[str, tuple[str, ...]] = {
    "piper": ("en",),
    "kokoro": ("en", "zh"),
    "espeak": ("en", "zh"),
}
"""The judged languages each teacher kind speaks; a line needing another is left out of its column."""


def parse_teachers(spec: str | None) -> list[str] | None:
    """``--teacher``'s kinds in order (``"kokoro,piper"`` → ``["kokoro", "piper"]``); None when not given.

    The first is *the* teacher (closeness is measured against it); each is measured side by side.
    """
    if spec is None:
        return None
    kinds = [kind.strip() for kind in spec.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in EVAL_TEACHERS]
    if not kinds or unknown:
        raise StepTTSError(
            f"unknown --teacher '{','.join(unknown) or spec}'; choose one or more of: {', '.join(EVAL_TEACHERS)}"
        )
    if len(set(kinds)) != len(kinds):
        raise StepTTSError(f"--teacher names a teacher twice: {spec}")
    return kinds


def kokoro_voice_for(speaker: str | None, teacher_voice: str | None) -> str | None:
    """Kokoro's voice to compare a student speaker with: ``teacher_voice``, else ``speaker`` when it
    names a Kokoro voice (a speaker distilled from one keeps its name), else None (Kokoro's default)."""
    from distill.kokoro_teacher import KOKORO_VOICES

    if teacher_voice is not None:
        return teacher_voice
    return speaker if speaker in KOKORO_VOICES else None


@dataclass
class Rendered:
    """One synthesis: audio and the wall time it took."""

    audio: np.ndarray
    """float32 [S]."""
    sample_rate_hz: int
    """Rate of ``audio`` in Hertz."""
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

    def __init__(
        self,
        voice: str | os.PathLike,
        threads: int | None = None,
        variant: str = "auto",
        speaker: str | None = None,
    ) -> None:
        """``speaker``: one of the voice's speakers (``TTS(speaker=…)``); None: its first."""
        from steptts import TTS

        self.tts = TTS(voice=str(voice), provider="cpu", threads=threads, variant=variant)
        speakers = self.tts.voice.speakers
        if speaker is not None and speaker not in speakers:
            raise StepTTSError(
                f"voice '{self.tts.voice.name}' has no speaker '{speaker}'; it has: {', '.join(speakers)}"
            )
        self.speaker = speaker
        self.languages = tuple(self.tts.voice.languages)
        self.name = f"student:{self.tts.voice.name}" + (f":{speaker}" if speaker else "")
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
            "provenance": voice.provenance,
            "tag_keys": self.tag_keys,
            "speaker": self.speaker,
            "languages": list(self.languages),
        }

    def speaks(self, languages: set[str]) -> bool:
        """Whether the voice speaks every one of ``languages`` (judged codes: ``en``, ``zh``)."""
        return languages <= set(self.languages)

    def synthesize(self, text: str, **controls: Any) -> Rendered:
        if self.speaker is not None:
            controls.setdefault("speaker", self.speaker)
        started = time.perf_counter()
        audio = self.tts.synthesize(text, **controls)
        return Rendered(audio.samples, audio.sample_rate_hz, time.perf_counter() - started)

    def first_chunk_s(self, text: str) -> float:
        started = time.perf_counter()
        stream = self.tts.stream(text, speaker=self.speaker)
        next(iter(stream))
        elapsed = time.perf_counter() - started
        stream.close()
        return elapsed


class TeacherSystem:
    """A teacher speaking sentence by sentence like the runtime: Piper (deterministic scales, the
    default), Kokoro-82M or espeak-ng (:data:`EVAL_TEACHERS`).

    It renders the tags the teacher renders natively (speeds, English accents). With ``edit_tags`` it
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
        kind: str = "piper",
        language: str = "en",
        voice: str | None = None,
    ) -> None:
        """``kind``: one of :data:`EVAL_TEACHERS`; ``language``: of the lines it reads ("en" or "zh"),
        which sets espeak-ng's voice (``model_path`` and ``length_scale`` are Piper's); ``voice``:
        Kokoro's voice (:data:`distill.kokoro_teacher.KOKORO_VOICES`; None: its default)."""
        from steptts.graph import SAMPLE_RATE_HZ
        from steptts.tags import all_tag_keys

        if voice is not None and kind != "kokoro":
            raise StepTTSError(f"the {kind} teacher takes no voice (--teacher-voice is Kokoro's)")
        self.teacher = _make_eval_teacher(kind, language, threads, model_path, length_scale, voice)
        self.kind = kind
        self.languages = TEACHER_LANGUAGES[kind]
        self.edit_tags = edit_tags
        self.phoneme_substitutions = getattr(self.teacher, "phoneme_substitutions", {})
        self.voice = getattr(self.teacher, "voice", None) if kind == "kokoro" else None
        self.name = (
            self.teacher.name + (f":{self.voice}" if self.voice else "") + ("+edits" if edit_tags else "")
        )
        # Teachers render at the student's rate, except a Piper voice of another rate.
        self.sample_rate_hz = getattr(self.teacher, "sample_rate_hz", SAMPLE_RATE_HZ)
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
            "threads": getattr(self.teacher, "threads", None),
            "edit_tags": self.edit_tags,
            "tag_keys": self.tag_keys,
            "voice": self.voice,
            "languages": list(self.languages),
        }

    def speaks(self, languages: set[str]) -> bool:
        """Whether this teacher speaks every one of ``languages`` (:data:`TEACHER_LANGUAGES`)."""
        return languages <= set(self.languages)

    def _prepare(self, text: str, controls: dict[str, Any]) -> tuple[list, list, Iterator[Any]]:
        """(native tags, edited tags, sentences as :class:`steptts.frontend.Spoken`) of a request."""
        from steptts.errors import TagError, TextError
        from steptts.frontend import speak
        from steptts.sentences import split_sentences
        from steptts.tags import dedupe, parse_tags, resolve_tag

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
        spoken = (speak(s, self._frontend_language(s)) for s in split_sentences(body) if s.strip())
        return native, edited, (s for s in spoken if s.text.strip())

    def _frontend_language(self, sentence: str) -> str:
        """The runtime frontend's language for a sentence: Mandarin by script, else the teacher's own."""
        from distill.asr_scores import script_language

        if script_language(sentence) == "zh":
            return "cmn"
        return getattr(self.teacher, "language", "en-us")

    def _render(self, spoken: Any, native: list, edited: list, info: dict) -> np.ndarray:
        """Audio float32 [S] of one :class:`steptts.frontend.Spoken` sentence, its edited tags applied."""
        if self._mixed(spoken):
            audio, durations, phonemes = self._render_mixed(spoken, native)
        elif not edited:
            return self.teacher.synthesize(spoken.text, native, None)[0]
        else:
            rendering = self.teacher.render(spoken.text, native, None)
            audio, durations, phonemes = rendering.audio, rendering.durations, rendering.phonemes
        if not edited:
            return audio
        from distill.edits import apply_tag_edit
        from steptts.phonemes import tokenize

        tokens = tokenize(phonemes)
        for tag in edited:
            result = apply_tag_edit(
                audio, self.sample_rate_hz, durations, tokens, tag.key, seed=0, text=spoken.text
            )
            audio, durations = result.audio, result.durations
            for op in result.ops:
                info.update({k: v for k, v in op.items() if k in ("bpm", "melody")})
        return audio

    def _mixed(self, spoken: Any) -> bool:
        """Whether Kokoro reads a sentence of several languages (Han and Latin runs): its own
        :meth:`~distill.kokoro_teacher.KokoroTeacher.render` takes one language a call."""
        return self.kind == "kokoro" and len({run.language for run, _ in spoken.runs}) > 1

    def _render_mixed(self, spoken: Any, native: list) -> tuple[np.ndarray, list[int], str]:
        """Kokoro on the runtime's phonemes of a mixed sentence (each run in its language's
        inventory, joined as the student reads them), English symbols mapped onto Kokoro's."""
        from distill.kokoro_teacher import KOKORO_IPA
        from distill.teacher_base import speed_factor_of

        return self.teacher.synthesize_phonemes(spoken.phonemes, KOKORO_IPA, None, speed_factor_of(native))

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
    """The voice to evaluate from ``--voice`` (name, folder or ``teacher:KIND``) or ``--run``.

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


def _make_eval_teacher(
    kind: str,
    language: str,
    threads: int | None,
    model_path: str | os.PathLike | None,
    length_scale: float,
    voice: str | None = None,
):
    """The teacher of :class:`TeacherSystem`, built through :func:`distill.teachers.make_teacher`."""
    from distill.teachers import make_teacher

    if kind not in EVAL_TEACHERS:
        raise StepTTSError(f"unknown evaluation teacher '{kind}'; choose one of: {', '.join(EVAL_TEACHERS)}")
    if kind == "piper":
        # threads 0: onnxruntime's default, as for the student when --threads is not given.
        return make_teacher(
            "piper",
            model_path=model_path,
            noise_scale=0.0,
            length_scale=length_scale,
            noise_w=0.0,
            threads=int(threads or 0),
        )
    if kind == "espeak":
        return make_teacher("espeak", language="cmn" if language == "zh" else "en-us")
    return make_teacher(kind, threads=int(threads or 0), voice=voice)


def make_student(
    voice: str,
    threads: int | None = None,
    variant: str = "auto",
    language: str = "en",
    speaker: str | None = None,
    teacher_voice: str | None = None,
):
    """The system ``--voice`` names: a voice through TTS (its ``speaker``), or a teacher
    (``teacher:KIND[+edits]``, see :data:`TEACHER_SPEC_PREFIX`; Kokoro's ``teacher_voice``) reading
    lines in ``language``."""
    if voice.startswith(TEACHER_SPEC_PREFIX):
        kind, _, edits = voice[len(TEACHER_SPEC_PREFIX) :].partition("+")
        if edits not in ("", "edits"):
            raise StepTTSError(f"unknown teacher spec '{voice}': write teacher:KIND or teacher:KIND+edits")
        if speaker is not None:
            raise StepTTSError(
                f"--speaker picks a student voice's speaker; {voice} has none (see --teacher-voice)"
            )
        return TeacherSystem(
            threads=threads,
            edit_tags=bool(edits),
            kind=kind,
            language=language,
            voice=teacher_voice if kind == "kokoro" else None,
        )
    return StudentSystem(voice, threads=threads, variant=variant, speaker=speaker)
