"""The voices a server speaks with, loaded once, and the names a request may use for them.

A request's ``voice`` is, in this order: a loaded voice's name; ``voice:speaker``; a speaker of a
loaded voice; or a name from :data:`VOICE_NAMES` (OpenAI's voice names, and StepFun's default voice,
so clients written for those APIs work unchanged). Any other name is an error that lists the names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import TTS
from ..tags import TAG_SPECS
from .config import ServerConfig
from .errors import APIError

OPENAI_VOICE_NAMES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
                      "verse", "marin", "cedar")
"""OpenAI's voices: each speaks with the server's first voice (its first speaker)."""
STEPFUN_VOICE_NAMES = ("cixingnansheng",)
"""StepFun's default voice (what `TTS(engine="remote")` asks for): the server's first voice too."""
VOICE_NAMES: dict[str, str] = {name: "" for name in (*OPENAI_VOICE_NAMES, *STEPFUN_VOICE_NAMES)}
"""Name → ``voice`` or ``voice:speaker`` it speaks with; ``""`` means the server's first voice."""


@dataclass(frozen=True)
class Speaker:
    """A voice and speaker a request resolved to."""

    name: str
    """The voice's name."""
    tts: TTS
    """The loaded voice."""
    speaker: str | None
    """The voice's speaker, or None for its first."""


class VoiceRegistry:
    """Loads each voice once and resolves request names to it. Read-only after start: thread-safe."""

    def __init__(self, config: ServerConfig) -> None:
        names = config.voices or (None,)
        self.voices: dict[str, TTS] = {}
        for name in names:
            tts = TTS(voice=name, provider=config.provider, threads=config.threads)
            self.voices[tts.voice.name] = tts
        self.default = next(iter(self.voices))
        self.names = {**VOICE_NAMES, **config.extra_voice_names}

    def resolve(self, name: str | None) -> Speaker:
        """The voice and speaker of a request's ``voice``; APIError 400 for an unknown name."""
        if not name:
            return Speaker(self.default, self.voices[self.default], None)
        if name in self.voices:
            return Speaker(name, self.voices[name], None)
        voice, _, speaker = name.partition(":")
        if speaker and voice in self.voices and speaker in self.voices[voice].voice.speakers:
            return Speaker(voice, self.voices[voice], speaker)
        for voice_name, tts in self.voices.items():
            if name in tts.voice.speakers:
                return Speaker(voice_name, tts, name)
        target = self.names.get(name.lower())
        if target is not None:
            return self.resolve(target) if target else Speaker(self.default, self.voices[self.default], None)
        raise APIError(400, f"unknown voice '{name}'; this server speaks: {', '.join(self.known_names())}",
                       param="voice", code="unknown_voice")

    def known_names(self) -> list[str]:
        """Every name a request may give, voices and speakers first."""
        names = list(self.voices)
        for voice_name, tts in self.voices.items():
            names += [f"{voice_name}:{speaker}" for speaker in tts.voice.speakers]
        return names + sorted(self.names)

    def describe(self) -> list[dict]:
        """What /v1/audio/voices lists: one entry per loaded voice."""
        entries = []
        for name, tts in self.voices.items():
            voice = tts.voice
            entries.append({
                "id": name, "name": name, "description": voice.description,
                # a voice that declares its languages lists them; an older one speaks its espeak voice
                "languages": list(getattr(voice, "languages", None) or [voice.language]),
                "speakers": list(voice.speakers), "tags": voice.tag_keys,
                "tag_names": {key: tag_name(key) for key in voice.tag_keys},
                "sample_rate": voice.sample_rate_hz, "size_bytes": voice.size_bytes,
                "provider": tts.provider, "default": name == self.default,
                "aliases": [alias for alias, target in self.names.items()
                            if (target or self.default).partition(":")[0] == name],
            })
        return entries


def tag_name(key: str) -> str:
    """The English name of a tag key, as the text may write it: 高兴2 → happy2, 慢速1 → slow."""
    for spec in TAG_SPECS:
        if key == spec.canonical:
            return spec.aliases[0] if spec.aliases and spec.kind != "accent" else key
        if spec.has_intensity and key.startswith(spec.canonical) and key[len(spec.canonical):].isdigit():
            return spec.aliases[0] + key[len(spec.canonical):]
    return key
