"""The front door, as one ASGI middleware: request id, API key, body limit, one log line and the
metrics of each request.

A route fills ``request.state.record`` (a :class:`RequestRecord`) with what it knows (voice,
characters, audio seconds); the middleware adds status and timings and writes the line
``id=… path=… status=… voice=… chars=… audio_s=… ttfb_ms=… total_ms=…`` to the ``steptts.server``
logger when the last byte has left (or the client has).
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from dataclasses import dataclass

from .errors import APIError, send_error
from .metrics import Metrics

log = logging.getLogger("steptts.server")

OPEN_PATHS = frozenset({"/", "/health", "/metrics", "/favicon.ico"})
"""Paths served without the API key (the playground page asks for the key itself)."""
METRIC_PATHS = frozenset({"/", "/health", "/metrics", "/v1/models", "/v1/audio/voices", "/v1/audio/speech",
                          "/v1/audio/captioned_speech", "/v1/realtime/audio"})
"""Paths counted under their own label; any other counts as ``other``."""


@dataclass
class RequestRecord:
    """What one request did, for its log line."""

    request_id: str
    """Short random id, also sent back as X-Request-Id."""
    voice: str = "-"
    """The voice that spoke (or ``-``)."""
    chars: int = 0
    """Characters of input."""
    audio_s: float = 0.0
    """Seconds of audio sent."""
    disconnected: bool = False
    """True when the client left before the end."""


class BodyTooLarge(Exception):
    """The request body passed the limit while being read."""


class FrontDoor:
    """ASGI middleware: key check on /v1, body limit, request id, log line, metrics."""

    def __init__(self, app, *, api_key: str | None, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        preflight = scope["type"] == "http" and scope.get("method") == "OPTIONS"  # CORS: carries no key
        if self.api_key and path not in OPEN_PATHS and not preflight and not self._authorized(scope):
            error = APIError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                             code="invalid_api_key")
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "invalid_api_key"})
            else:
                await send_error(send, error)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send, path)

    def _authorized(self, scope) -> bool:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        token = given[7:].strip() if given[:7].lower() == "bearer " else headers.get(b"x-api-key", b"").decode(
            "latin-1")
        return hmac.compare_digest(token.encode(), self.api_key.encode())

    async def _http(self, scope, receive, send, path: str) -> None:
        record = RequestRecord(uuid.uuid4().hex[:12])
        scope.setdefault("state", {})["record"] = record
        started = time.perf_counter()
        timing = {"status": 500, "first_byte": None, "done": False}

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                timing["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", record.request_id.encode())]}
            elif message["type"] == "http.response.body":
                if timing["first_byte"] is None and message.get("body"):
                    timing["first_byte"] = time.perf_counter() - started
                if not message.get("more_body", False):
                    timing["done"] = True
            await send(message)

        too_large = _declared_length(scope) > self.max_body_bytes
        try:
            if too_large:
                raise BodyTooLarge
            await self.app(scope, self._limited(receive), sending)
        except BodyTooLarge:
            await send_error(sending, APIError(413, f"the request body is larger than {self.max_body_bytes:,} "
                                               "bytes", code="body_too_large"))
        finally:
            self._finish(path, record, timing, started)

    def _limited(self, receive):
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        return limited

    def _finish(self, path: str, record: RequestRecord, timing: dict, started: float) -> None:
        total_s = time.perf_counter() - started
        first = timing["first_byte"]
        record.disconnected = record.disconnected or not timing["done"]
        self.metrics.observe(path if path in METRIC_PATHS else "other", timing["status"], total_s, first,
                             record.audio_s)
        ttfb = f"{first * 1000:.0f}" if first is not None else "-"
        log.info("id=%s path=%s status=%s voice=%s chars=%d audio_s=%.2f ttfb_ms=%s total_ms=%.0f%s",
                 record.request_id, path, timing["status"], record.voice, record.chars, record.audio_s, ttfb,
                 total_s * 1000, " disconnected" if record.disconnected else "")


def _declared_length(scope) -> int:
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
