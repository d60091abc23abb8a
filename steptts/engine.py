"""The onnxruntime engine: token ids in, audio out. It knows nothing of text.

Providers are an explicit list; ``auto`` means CUDA then CPU. The provider that actually runs is
read back from the session, so callers can report it truthfully.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ProviderError
from .graph import INPUT_NAMES, OUTPUT_NAMES

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_ALIASES = {"cpu": [CPU], "cuda": [CUDA, CPU], "auto": [CUDA, CPU]}
_INSTALL_HINT = ("install one of: pip install 'steptts[cpu]' (onnxruntime, CPU) or "
                 "pip install 'steptts[gpu]' (onnxruntime-gpu, CUDA) — never both")


def import_onnxruntime():
    """The onnxruntime module, or a ProviderError naming both install commands."""
    try:
        import onnxruntime
    except ImportError:
        raise ProviderError(f"onnxruntime is not installed; {_INSTALL_HINT}") from None
    if not hasattr(onnxruntime, "InferenceSession"):  # both wheels installed over each other
        raise ProviderError(f"onnxruntime is broken (were onnxruntime and onnxruntime-gpu both "
                            f"installed?); uninstall both, then {_INSTALL_HINT}")
    return onnxruntime


def requested_providers(provider: str | list[str]) -> list[str]:
    """Expand ``auto``/``cpu``/``cuda`` or pass an explicit provider list through."""
    if isinstance(provider, str):
        key = provider.strip().lower()
        if key in _ALIASES:
            return list(_ALIASES[key])
        if key.endswith("executionprovider"):
            return [provider]
        raise ProviderError(f"unknown provider '{provider}'; use auto, cpu, cuda or an onnxruntime "
                            "provider name such as CUDAExecutionProvider")
    return list(provider)


@dataclass(frozen=True)
class EngineOutput:
    """One utterance out of the graph."""

    audio: np.ndarray
    """float32 [S] samples."""
    durations: np.ndarray
    """int64 [T] frames per token."""


class Engine:
    """Runs one voice graph with onnxruntime. Safe to share across threads."""

    def __init__(self, model_path: Path, provider: str | list[str] = "auto", threads: int | None = None):
        ort = import_onnxruntime()
        wanted = requested_providers(provider)
        available = ort.get_available_providers()
        explicit_cuda = isinstance(provider, str) and provider.lower() == "cuda"
        if explicit_cuda and CUDA not in available:
            raise ProviderError(
                "CUDA was requested but this onnxruntime has no CUDA execution provider "
                f"(available: {', '.join(available)}); pip uninstall onnxruntime, then pip install "
                "'steptts[gpu]'")
        usable = [name for name in wanted if name in available]
        if not isinstance(provider, str) and CUDA in wanted and CUDA not in available:
            warnings.warn("CUDAExecutionProvider is not in this onnxruntime build (install "
                          "'steptts[gpu]' for CUDA); running on CPU", RuntimeWarning, stacklevel=2)
        if not usable:
            raise ProviderError(f"none of the providers {wanted} is available (available: "
                                f"{', '.join(available)})")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # keep onnxruntime's own warnings off the user's terminal
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        self.session = self._create(ort, model_path, options, usable)
        self.providers: list[str] = self.session.get_providers()
        self.provider: str = self.providers[0]
        """The execution provider that actually runs the graph."""
        if CUDA in usable and self.provider != CUDA:
            message = ("CUDA execution provider could not start (no GPU or CUDA libraries missing); "
                       "running on CPU")
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        self.input_names = {item.name for item in self.session.get_inputs()}

    @staticmethod
    def _create(ort, model_path: Path, options, providers: list[str]):
        # onnxruntime-gpu on a machine without a usable GPU prints a burst of errors from the provider
        # bridge before falling back; silence the process logger just for session creation.
        quiet = CUDA in providers
        if quiet:
            with _ORT_LOGGER_LOCK:
                ort.set_default_logger_severity(4)
                try:
                    return _silenced_stderr(lambda: ort.InferenceSession(
                        str(model_path), sess_options=options, providers=providers))
                finally:
                    ort.set_default_logger_severity(2)
        return ort.InferenceSession(str(model_path), sess_options=options, providers=providers)

    def run(
        self,
        phoneme_ids: np.ndarray,
        tag_ids: np.ndarray,
        speaker_id: int,
        controls: np.ndarray,
        duration_override: np.ndarray | None = None,
        pitch_override: np.ndarray | None = None,
    ) -> EngineOutput:
        """Synthesize one utterance.

        Args:
            phoneme_ids: int64 [T] token ids.
            tag_ids: int64 [K] tag ids (K may be 0).
            speaker_id: speaker index.
            controls: float32 [3]: speed, pitch_semitones, energy_db.
            duration_override: float32 [T] frames per token, < 0 to predict; None predicts all.
            pitch_override: float32 [T] MIDI note per token, <= 0 to predict; None predicts all.
        """
        length = len(phoneme_ids)
        if duration_override is None:
            duration_override = np.full(length, -1.0, np.float32)
        if pitch_override is None:
            pitch_override = np.zeros(length, np.float32)
        tags = np.asarray(tag_ids, np.int64).reshape(1, -1)
        if tags.shape[1] == 0:
            tags = np.zeros((1, 1), np.int64)
        values = (
            np.asarray(phoneme_ids, np.int64).reshape(1, -1),
            np.array([length], np.int64),
            tags,
            np.array([speaker_id], np.int64),
            np.asarray(controls, np.float32).reshape(1, -1),
            np.asarray(duration_override, np.float32).reshape(1, -1),
            np.asarray(pitch_override, np.float32).reshape(1, -1),
        )
        feeds = {name: value for name, value in zip(INPUT_NAMES, values) if name in self.input_names}
        audio, audio_lengths, durations = self.session.run(list(OUTPUT_NAMES), feeds)
        samples = np.asarray(audio[0, : int(audio_lengths[0])], np.float32)
        return EngineOutput(samples, np.asarray(durations[0], np.int64))


_ORT_LOGGER_LOCK = threading.Lock()


def _silenced_stderr(create):
    """Run ``create`` with file descriptor 2 pointed at /dev/null (native libraries write there)."""
    try:
        saved = os.dup(2)
    except OSError:
        return create()
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            return create()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
