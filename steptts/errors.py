"""Typed errors. Every user mistake raises a subclass of :class:`StepTTSError` with one clear line."""

from __future__ import annotations


class StepTTSError(Exception):
    """Base class of every error steptts raises on purpose; the CLI prints it as one line, exit 2."""


class TextError(StepTTSError, ValueError):
    """The text is empty, or nothing speakable is left after the tags."""


class TagError(StepTTSError, ValueError):
    """A tag is unknown, malformed, has a bad intensity, or the voice was not trained on it."""


class VoiceError(StepTTSError):
    """A voice cannot be found, or its package is corrupt (checksum, schema, missing file)."""


class ProviderError(StepTTSError):
    """onnxruntime is missing, or the requested execution provider cannot run."""


class MusicError(StepTTSError, ValueError):
    """A melody or tempo given for singing or rap cannot be parsed."""


class RenderError(StepTTSError):
    """A synthesis backend (a speech server, a teacher) failed to render an utterance.

    Attributes:
        retryable: True when the same request may succeed later (429, 5xx, time-out, truncated body).
        status: HTTP status code when the fault came from an HTTP server, else None.
    """

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class RemoteError(RenderError):
    """The remote engine's server failed to render an utterance, or a control is out of its range."""
