"""A steptts voice as a teacher: `steptts distill data --teacher student --model VOICE --voice SPEAKER`.

What a shipped student says today becomes training data. Fine-tuning a voice on new data (new
speakers, a new language) moves the weights its present speakers rely on; rehearsing its own
renderings of their lines beside the new data holds them where they are ("learning without
forgetting"), and it costs seconds where the original teachers' data costs hours to render again.

Each line goes through the runtime's own frontend for that voice (:func:`steptts.api.text_settings`,
:func:`steptts.languages.pipeline.utterance`: the voice's languages, accent and substitutions), then
one run of its graph (:class:`steptts.engine.Engine`), whose ``durations`` output gives white-box
frames per token. Tags the graph performs through its inputs (emotions, dialects, languages and the
speed controls of ``tag_controls``) it renders itself; singing and rap (a melody or beat grid laid
over the durations) are left to the data engine's audio edits, as for Piper.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from distill.teacher_base import Rendering, TeacherError, check_rendered, record_language
from steptts.errors import VoiceError
from steptts.graph import HOP_LENGTH
from steptts.phonemes import tokenize
from steptts.tags import Tag, resolve_tag

MUSIC_KINDS = ("music",)
"""Tag kinds the graph alone does not perform (they need a melody or beat grid over its durations)."""


class StudentTeacher:
    """A voice package (folder or name) speaking as a teacher, with exact durations."""

    def __init__(
        self, model_path: str | Path | None = None, speaker: str | None = None, threads: int = 1
    ) -> None:
        """``model_path``: the voice's folder or name (None: the default voice); ``speaker``: the one that
        speaks when a line names none (None: the voice's first); ``threads``: onnxruntime's."""
        from steptts.voice import load_voice

        self.voice = load_voice(model_path)
        self._check_speaker(speaker)
        self.speaker = speaker or next(iter(self.voice.speakers))
        self.threads = threads
        self.graph = self.voice.model_path("fp32")
        self.sample_rate_hz = self.voice.sample_rate_hz
        if self.voice.hop_length != HOP_LENGTH:
            raise VoiceError(f"voice '{self.voice.name}' has hop {self.voice.hop_length}; the data engine "
                             f"records frames of {HOP_LENGTH} samples")
        self.name = f"student:{self.voice.name}"
        self.white_box = True
        self._engine = None
        self._lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        # load_voice checked every file against the sha256 that voice.json records.
        return {"voice": self.voice.name, "graph_sha256": self.voice.files[self.graph.name]}

    def default_voice(self) -> str:
        return self.speaker

    def _check_speaker(self, speaker: str | None) -> None:
        if speaker is not None and speaker not in self.voice.speakers:
            raise VoiceError(f"voice '{self.voice.name}' has no speaker '{speaker}'; it has: "
                             f"{', '.join(self.voice.speakers)}")

    def renders(self, tag_key: str) -> bool:
        tag = resolve_tag(tag_key)
        if tag.kind in MUSIC_KINDS:
            return False
        if tag.kind in ("language", "accent"):
            return True  # the frontend reads them
        return tag.key in self.voice.tag_vocab or tag.key in self.voice.tag_controls

    def load(self) -> Any:
        """Build the onnxruntime session (once); returns the engine."""
        from steptts.engine import Engine

        with self._lock:
            if self._engine is None:
                self._engine = Engine(self.graph, "cpu", self.threads)
        return self._engine

    def render(self, text: str, tags: list[Tag], voice: str | None) -> Rendering:
        """``text`` → audio as the voice says it, with the phonemes and language of its durations."""
        from steptts.api import text_settings
        from steptts.languages.pipeline import utterance

        check_rendered(self, tags)
        speaker = voice or self.speaker
        self._check_speaker(speaker)
        settings = text_settings(tags, self.voice)
        said = utterance(text, settings)
        languages = {run.language for run in said.runs}
        if len(languages) != 1:
            raise TeacherError(f"the student teacher renders one language a line; this one mixes "
                               f"{', '.join(sorted(languages))}: {text[:60]!r}")
        phonemes = said.phonemes
        ids, tokens = self.voice.phoneme_vocab.encode(phonemes)
        if tokens != tokenize(phonemes):
            raise TeacherError(f"voice '{self.voice.name}' lacks some phonemes of {text[:60]!r}")
        tag_ids, controls = self.voice.tag_inputs([tag.key for tag in tags])
        out = self.load().run(np.array(ids, np.int64), np.array(tag_ids, np.int64),
                              self.voice.speakers[speaker], np.array(controls, np.float32))
        durations = [int(frames) for frames in out.durations]
        audio = np.pad(out.audio, (0, max(0, sum(durations) * HOP_LENGTH - len(out.audio))))
        audio = audio[: sum(durations) * HOP_LENGTH]
        language = record_language(languages.pop(), settings.english_variant)
        return Rendering(np.clip(audio, -1.0, 1.0), self.sample_rate_hz, durations, phonemes, language)

    def synthesize(
        self, text: str, tags: list[Tag], voice: str | None
    ) -> tuple[np.ndarray, int, list[int] | None]:
        rendering = self.render(text, tags, voice)
        return rendering.audio, rendering.sample_rate_hz, rendering.durations
