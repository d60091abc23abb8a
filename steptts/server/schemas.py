"""The speech request body: OpenAI's fields plus StepFun's, parsed and checked.

Malformed JSON is a 422; a body that parses but breaks a rule (a wrong type, a value out of range,
an unknown field) is a 400 that names the field.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import APIError

SAMPLE_RATES_HZ = (8000, 16000, 22050, 24000, 48000)
"""StepFun's ``sample_rate`` values (Hz), plus 48 kHz."""


class SpeechRequest(BaseModel):
    """``POST /v1/audio/speech`` (and ``/v1/audio/captioned_speech``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    model: str = "steptts"
    """Any string; the list is at /v1/models."""
    input: str
    """The text (inline tags and SSML as in the CLI), at most ``--max-input-chars`` characters."""
    voice: str | None = None
    """A voice, ``voice:speaker``, a speaker, or a name from the voice table; None for the default."""
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    """Audio format; pcm is 16-bit little-endian mono at the response's sample rate."""
    speed: float = Field(1.0, ge=0.25, le=4.0)
    """Tempo multiplier, 0.25–4."""
    instructions: str | None = None
    """Free text whose tag words (happy, British, slow, …) become tags."""
    stream_format: Literal["audio", "sse"] | None = None
    """``audio``: chunked bytes, sentence by sentence; ``sse``: speech.audio.delta events; None: one file."""
    volume: float = Field(1.0, ge=0.1, le=2.0)
    """StepFun: gain multiplier, 0.1–2."""
    voice_label: dict[str, str] | None = None
    """StepFun: ``{"language"|"emotion"|"style": name}``."""
    sample_rate: Literal[8000, 16000, 22050, 24000, 48000] | None = None
    """StepFun: output rate in Hz (resampled); None for the voice's own."""
    stream: bool = False
    """captioned_speech only: one JSON line per sentence."""


def parse_speech_request(raw: bytes, max_input_chars: int) -> SpeechRequest:
    """The request in ``raw``; APIError 422 for malformed JSON, 400 for a bad field or input."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise APIError(422, f"the body is not valid JSON: {error}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, "the body must be a JSON object", code="invalid_body")
    try:
        request = SpeechRequest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"unknown field '{field}'"
        elif first["type"] == "missing":
            message = f"'{field}' is required"
        else:
            message = f"'{field}': {message}"
        raise APIError(400, message, param=field, code="invalid_value") from None
    if not request.input.strip():
        raise APIError(400, "'input' is empty: give text to speak", param="input", code="empty_input")
    if len(request.input) > max_input_chars:
        raise APIError(400, f"'input' has {len(request.input):,} characters; this server takes at most "
                       f"{max_input_chars:,}", param="input", code="input_too_long")
    return request
