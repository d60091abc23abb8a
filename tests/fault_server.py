"""A real HTTP speech server that misbehaves on cue, for testing the remote engine and the data engine.

It speaks ``POST /v1/audio/speech`` (StepFun / OpenAI style) on 127.0.0.1 with an ephemeral port, in
a background thread, and answers each request with the next behaviour of a script::

    with FaultServer(["429", "500", "ok"]) as server:
        engine = RemoteEngine(server.url, timeout_s=0.3, backoff_s=0.01)
        audio, sample_rate_hz, _ = engine.synthesize("hello")
        assert len(server.requests) == 3

Script entries are :class:`Behaviour` objects or these names:

========== ==========================================================================
``ok``        200 with a real sine (wav, flac or pcm, as the request's response_format)
``429``       429 with ``Retry-After: 1`` and an error JSON
``500``       500 with an error JSON (``503``, ``502``, ``504`` likewise)
``stall``     say nothing for 2 s (longer than a test client's time-out), then answer ok
``truncated`` a Content-Length larger than what is sent, then close
``trickle``   200 audio sent in 10 pieces 0.1 s apart (no single read ever times out)
``reset``     close the connection without answering
``html``      200 with ``text/html``
``json200``   200 with an error JSON (application/json)
``error400``  400 with an error JSON
``401``       401 with an error JSON
``empty``     200 ``audio/wav`` with no body
``garbage``   200 ``audio/wav`` whose bytes are not audio
========== ==========================================================================

When the script runs out, ``default`` answers (``ok`` unless told). Every request is recorded
(:class:`RecordedRequest`: headers, body, parsed JSON, monotonic timestamps, behaviour), and
``max_in_flight`` counts the most requests that were being processed at once.
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import soundfile as sf

SPEECH_PATH = "/v1/audio/speech"


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one request."""

    name: str
    """Label recorded with the request."""
    status: int = 200
    """HTTP status sent."""
    audio: bool = False
    """Send a real sine in the requested format (body/content_type are then ignored)."""
    body: bytes = b""
    """Body sent when ``audio`` is False."""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers, e.g. ``(("Retry-After", "1"),)``."""
    delay_s: float = 0.0
    """Sleep before answering (counted as in flight); a stall when longer than the client's time-out."""
    truncate_to: float | None = None
    """Send only this fraction of the body, with the full Content-Length, then close."""
    reset: bool = False
    """Close the connection without any answer."""
    trickle_interval_s: float = 0.0
    """Send the body in 10 pieces with this pause between them (a slow, never-silent server)."""
    sine_hz: float = 220.0
    duration_s: float = 0.25


def error_json(message: str, kind: str) -> bytes:
    """The API's error body ``{"error": {"message", "type"}}``."""
    return json.dumps({"error": {"message": message, "type": kind}}).encode()


def ok(delay_s: float = 0.0, sine_hz: float = 220.0, duration_s: float = 0.25) -> Behaviour:
    return Behaviour("ok", audio=True, delay_s=delay_s, sine_hz=sine_hz, duration_s=duration_s)


def status_error(
    status: int, message: str | None = None, kind: str = "server_error", retry_after: str | None = None
) -> Behaviour:
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    message = message or f"scripted fault {status}"
    return Behaviour(str(status), status=status, body=error_json(message, kind), headers=headers)


def too_many_requests(retry_after: str = "1") -> Behaviour:
    return status_error(429, "rate limit reached (scripted)", "rate_limit_error", retry_after)


def stall(seconds: float = 2.0) -> Behaviour:
    return Behaviour("stall", audio=True, delay_s=seconds)


def named(name: str) -> Behaviour:
    """The behaviour a script name stands for (see the module docstring)."""
    if name == "ok":
        return ok()
    if name == "429":
        return too_many_requests()
    if name in ("500", "502", "503", "504"):
        return status_error(int(name), f"upstream fault {name} (scripted)")
    if name == "stall":
        return stall()
    if name == "truncated":
        return Behaviour("truncated", audio=True, truncate_to=0.5)
    if name == "trickle":
        return Behaviour("trickle", audio=True, trickle_interval_s=0.1)
    if name == "reset":
        return Behaviour("reset", reset=True)
    if name == "html":
        return Behaviour(
            "html",
            body=b"<html><body><h1>Welcome to the hotel wifi</h1></body></html>",
            content_type="text/html; charset=utf-8",
        )
    if name == "json200":
        return Behaviour("json200", body=error_json("model is loading (scripted)", "server_error"))
    if name == "error400":
        return status_error(400, "voice 'nobody' does not exist (scripted)", "invalid_request_error")
    if name == "401":
        return status_error(401, "invalid api key (scripted)", "authentication_error")
    if name == "empty":
        return Behaviour("empty", body=b"", content_type="audio/wav")
    if name == "garbage":
        return Behaviour("garbage", body=b"this is not audio" * 8, content_type="audio/wav")
    raise ValueError(f"unknown fault-server behaviour '{name}'")


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    """The body parsed as JSON, or None."""
    behaviour: str
    received_s: float
    """time.monotonic() when the request was read."""
    answered_s: float | None = None
    """time.monotonic() when the answer started (None for a reset)."""


def sine_audio(
    response_format: str, sample_rate_hz: int, sine_hz: float, duration_s: float
) -> tuple[bytes, str]:
    """A real sine, encoded as the client asked: returns (bytes, content type)."""
    t = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    samples = (0.5 * np.sin(2 * np.pi * sine_hz * t)).astype(np.float32)
    if response_format == "pcm":
        return (samples * 32767).astype("<i2").tobytes(), "audio/pcm"
    fmt, subtype, mime = {"flac": ("FLAC", "PCM_16", "audio/flac")}.get(
        response_format, ("WAV", "PCM_16", "audio/wav")
    )
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate_hz, format=fmt, subtype=subtype)
    return buffer.getvalue(), mime


class FaultServer:
    """A scripted speech server on 127.0.0.1; use as a context manager.

    Args:
        script: behaviours (or names) for the first requests, in order.
        default: what answers once the script is used up.
        api_key: when set, a request without ``Authorization: Bearer <api_key>`` gets a 401.
    """

    def __init__(
        self,
        script: list[str | Behaviour] | None = None,
        default: str | Behaviour = "ok",
        api_key: str | None = None,
    ) -> None:
        self._script = [named(b) if isinstance(b, str) else b for b in (script or [])]
        self._default = named(default) if isinstance(default, str) else default
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FaultServer:
        handler = type("Handler", (_Handler,), {"fault_server": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-server", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes stalled handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:  # noqa: PYI034 — typing.Self needs 3.11
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123`` (the client appends /v1/audio/speech)."""
        return f"http://127.0.0.1:{self.port}"

    # -- used by the handler

    def _next(self, headers: dict[str, str]) -> Behaviour:
        with self._lock:
            behaviour = self._script.pop(0) if self._script else self._default
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return status_error(401, "incorrect api key provided", "authentication_error")
        return behaviour

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fault_server: FaultServer  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._send(
            404, b'{"error": {"message": "not found", "type": "invalid_request_error"}}', "application/json"
        )

    def do_POST(self) -> None:
        server = self.fault_server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        behaviour = server._next(headers)
        if self.path != SPEECH_PATH:
            behaviour = status_error(404, f"no route {self.path}", "invalid_request_error")
        record = RecordedRequest(
            self.command, self.path, headers, body, parsed, behaviour.name, time.monotonic()
        )
        with server._lock:
            server.requests.append(record)

        server._enter()
        try:
            if behaviour.delay_s:
                server._closing.wait(behaviour.delay_s)
        finally:
            # Leave before answering: the client frees its slot only after the answer, so a new
            # request can never overlap this one's count.
            server._leave()
        if server._closing.is_set() and behaviour.delay_s:
            return
        if behaviour.reset:
            self.close_connection = True
            return
        record.answered_s = time.monotonic()
        payload, content_type = behaviour.body, behaviour.content_type
        if behaviour.audio:
            request = parsed if isinstance(parsed, dict) else {}
            response_format = str(request.get("response_format", "wav"))
            if response_format not in ("wav", "flac", "pcm"):
                self._send(
                    400,
                    error_json(f"fault server cannot encode {response_format}", "invalid_request_error"),
                    "application/json",
                )
                return
            payload, content_type = sine_audio(
                response_format,
                int(request.get("sample_rate", 24000)),
                behaviour.sine_hz,
                behaviour.duration_s,
            )
        try:
            self._send(
                behaviour.status,
                payload,
                content_type,
                behaviour.headers,
                behaviour.truncate_to,
                behaviour.trickle_interval_s,
            )
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (time-out): nothing to answer

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: tuple[tuple[str, str], ...] = (),
        truncate_to: float | None = None,
        trickle_interval_s: float = 0.0,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        if truncate_to is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        sent = payload if truncate_to is None else payload[: int(len(payload) * truncate_to)]
        if trickle_interval_s <= 0:
            self.wfile.write(sent)
            self.wfile.flush()
            return
        step = max(1, -(-len(sent) // 10))
        for start in range(0, len(sent), step):
            if start and self.fault_server._closing.wait(trickle_interval_s):
                return
            self.wfile.write(sent[start : start + step])
            self.wfile.flush()
