"""A real loopback server speaking the Step-Audio API's voice cloning, for ``steptts distill clone --teacher remote``.

Routes (on 127.0.0.1, an ephemeral port, in a background thread):

- ``POST /v1/files`` (multipart: ``file``, ``purpose``) → ``{"id": "file-N", "object": "file", ...}``;
- ``POST /v1/audio/voices`` (JSON ``model``, ``file_id``, ``text``?) → ``{"id": "voice-N", ...}``;
  an unknown ``file_id`` gets a 400;
- ``POST /v1/audio/speech`` → real speech: the text read by the shipped voice, shifted by
  ``pitch_semitones`` (the "cloned" speaker), as WAV; an unknown ``voice`` gets a 400.

``faults`` maps a path to the status codes its next answers carry (an error JSON, as the API sends),
e.g. ``{"/v1/audio/voices": [500, 500, 500]}``. Every request is recorded in :attr:`requests`.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import soundfile as sf


@dataclass
class Received:
    """One request."""

    path: str
    headers: dict[str, str]
    json: dict | None = None
    """The JSON body, when it is JSON."""
    form: dict[str, bytes] = field(default_factory=dict)
    """Multipart fields (name → bytes), when it is a form."""
    status: int = 0
    """The status answered."""


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()}


class VoiceCloneServer:
    """Use as a context manager; :attr:`url` is the base URL."""

    def __init__(self, pitch_semitones: float = 3.0, faults: dict[str, list[int]] | None = None) -> None:
        self.pitch_semitones = pitch_semitones
        self.faults = {path: list(codes) for path, codes in (faults or {}).items()}
        self.requests: list[Received] = []
        self.files: dict[str, bytes] = {}
        self.voices: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._tts = None
        self._httpd: ThreadingHTTPServer | None = None

    def __enter__(self) -> VoiceCloneServer:  # noqa: PYI034 - typing.Self needs Python 3.11
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def speak(self, text: str) -> bytes:
        """WAV bytes of ``text`` in the cloned voice (the shipped voice, pitch-shifted)."""
        with self._lock:
            if self._tts is None:
                from steptts import TTS

                self._tts = TTS()
            audio = self._tts.synthesize(text, pitch=self.pitch_semitones)
        buffer = io.BytesIO()
        sf.write(buffer, np.asarray(audio.samples, np.float32), audio.sample_rate_hz, format="WAV", subtype="PCM_16")
        return buffer.getvalue()

    def answer(self, received: Received) -> tuple[int, bytes, str]:
        """(status, body, content type) for one request."""
        with self._lock:
            codes = self.faults.get(received.path)
            if codes:
                status = codes.pop(0)
                return status, _error(f"scripted fault {status}", "server_error"), "application/json"
            if received.path == "/v1/files":
                if received.form.get("purpose") != b"storage" or "file" not in received.form:
                    return 400, _error("expected file and purpose=storage", "invalid_request_error"), "application/json"
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = received.form["file"]
                return 200, json.dumps({"id": file_id, "object": "file", "purpose": "storage"}).encode(), "application/json"
            if received.path == "/v1/audio/voices":
                body = received.json or {}
                if body.get("file_id") not in self.files or not body.get("model"):
                    return 400, _error("unknown file_id or no model", "invalid_request_error"), "application/json"
                voice_id = f"voice-{len(self.voices) + 1}"
                self.voices[voice_id] = body
                return 200, json.dumps({"id": voice_id, "object": "audio.voice"}).encode(), "application/json"
            if received.path != "/v1/audio/speech":
                return 404, _error(f"no route {received.path}", "invalid_request_error"), "application/json"
            body = received.json or {}
            if body.get("voice") not in self.voices:
                return 400, _error(f"voice {body.get('voice')!r} does not exist", "invalid_request_error"), \
                    "application/json"
        return 200, self.speak(body["input"]), "audio/wav"


def _error(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind}}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: VoiceCloneServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        received = Received(self.path, {k.lower(): v for k, v in self.headers.items()})
        if content_type.startswith("multipart/form-data"):
            received.form = _multipart(content_type, body)
        else:
            try:
                received.json = json.loads(body)
            except ValueError:
                pass
        state = self.server_state
        with state._lock:
            state.requests.append(received)
        status, payload, kind = state.answer(received)
        received.status = status
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
