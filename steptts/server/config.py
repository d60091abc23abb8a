"""The server's settings, as `steptts serve` takes them."""

from __future__ import annotations

from dataclasses import dataclass, field

API_KEY_ENV = "STEPTTS_API_KEY"
"""Environment variable read for the API key when ``--api-key`` is not given."""


@dataclass(frozen=True)
class ServerConfig:
    """How one server runs."""

    host: str = "127.0.0.1"
    """Interface to bind; loopback unless told otherwise."""
    port: int = 8000
    """TCP port."""
    voices: tuple[str, ...] = ()
    """Voice names or folders to load at start; empty for the embedded default voice. The first is
    the default, and the target of OpenAI's voice names."""
    max_concurrency: int = 2
    """Syntheses that run at once (worker threads)."""
    queue: int = 8
    """Requests that may wait for a worker; beyond this a request gets 503 with Retry-After."""
    api_key: str | None = None
    """Bearer key every /v1 request must carry; None for an open server."""
    max_input_chars: int = 10_000
    """Longest ``input`` accepted, in characters."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call from a browser (CORS); empty for none."""
    max_body_bytes: int = 1_000_000
    """Largest request body, in bytes; beyond it a request gets 413."""
    provider: str = "auto"
    """onnxruntime provider for the voices: auto, cpu or cuda."""
    threads: int | None = 1
    """onnxruntime intra-op threads per synthesis; None lets onnxruntime choose."""
    retry_after_s: int = 1
    """The Retry-After sent with a 503, in seconds."""
    graceful_timeout_s: float = 30.0
    """How long SIGTERM waits for requests in flight, in seconds."""
    extra_voice_names: dict[str, str] = field(default_factory=dict)
    """More names → loaded voice (``voice`` or ``voice:speaker``), added to the built-in table."""
