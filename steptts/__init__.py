"""steptts: a small, fast text-to-speech student distilled from a big teacher.

    from steptts import TTS
    tts = TTS()                                   # the embedded default voice
    audio = tts.synthesize("(happy)Hello there!")
    audio.save("hello.wav")

The runtime needs numpy, onnxruntime, phonemizer, espeakng-loader, soundfile and typer; never torch.
Public names are imported lazily, so `import steptts.tags` stays light.
"""

from __future__ import annotations

import importlib

from .errors import (
    MusicError,
    ProviderError,
    RemoteError,
    StepTTSError,
    TagError,
    TextError,
    VoiceError,
)

__version__ = "0.1.0"

_LAZY = {
    "TTS": "api", "synthesize": "api",
    "Audio": "audio", "Chunk": "audio", "SentenceTiming": "audio",
    "Voice": "voice", "VoiceInfo": "voice", "list_voices": "voice", "load_voice": "voice",
}

__all__ = [*_LAZY, "StepTTSError", "TextError", "TagError", "VoiceError", "ProviderError", "MusicError",
           "RemoteError", "__version__"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'steptts' has no attribute '{name}'")
    return getattr(importlib.import_module(f".{module}", __name__), name)
