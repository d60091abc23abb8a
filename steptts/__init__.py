"""steptts: a small, fast text-to-speech student distilled from a big teacher.

    from steptts import TTS
    tts = TTS()                                   # the embedded default voice
    audio = tts.synthesize("(happy)Hello there!")
    audio.save("hello.wav")

The runtime needs numpy, onnxruntime, phonemizer, espeakng-loader, soundfile and typer; never torch.
"""

from .api import TTS, synthesize
from .audio import Audio, Chunk, SentenceTiming
from .errors import (
    MusicError,
    ProviderError,
    StepTTSError,
    TagError,
    TeacherError,
    TextError,
    VoiceError,
)
from .voice import Voice, VoiceInfo, list_voices, load_voice

__version__ = "0.1.0"

__all__ = [
    "TTS", "synthesize", "Audio", "Chunk", "SentenceTiming", "Voice", "VoiceInfo", "list_voices",
    "load_voice", "StepTTSError", "TextError", "TagError", "VoiceError", "ProviderError", "MusicError",
    "TeacherError", "__version__",
]
