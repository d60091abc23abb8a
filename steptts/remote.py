"""The remote engine: text to audio through StepFun's speech API (Step-Audio), or any server that speaks it.

``POST {base_url}/v1/audio/speech`` with a Bearer key and a JSON body; the reply is raw audio
bytes, errors come back as ``{"error": {"message", "type"}}``. Every fault raises
:class:`~steptts.errors.RemoteError` (``retryable`` and ``status`` say what kind); bad input raises
:class:`TextError` or :class:`TagError` before any request is made.

Only the standard library speaks HTTP here (``http.client``), so the runtime gains no dependency.
This module never writes files.

Tags. The API takes one ``voice_label`` (``{"language"|"emotion"|"style": name}``). When the tags
need more than one label, the first goes into ``voice_label`` and the others are prefixed to the
input as Step-Audio's inline instructions, e.g. ``(高兴2)`` — the same grammar the model was trained
on, so nothing is dropped. A label names no intensity, so a strong emotion (intensity 2) is also
prefixed inline, e.g. ``voice_label: {"emotion": "高兴"}`` with the input ``(高兴2)…``. Speed tags
become the ``speed`` field (multiplied into ``speed=``).
Accent tags (British, Scottish, ...) have no Step-Audio counterpart and raise :class:`TagError`.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import os
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from datetime import timezone
from urllib.parse import urlsplit

import numpy as np

from .audio_io import AudioDecodeError, decode_audio
from .errors import RemoteError, TagError, TextError
from .tags import Tag, check_compatible, dedupe, resolve_tag

MAX_INPUT_CHARS = 1000
SAMPLE_RATES_HZ = (8000, 16000, 22050, 24000)
RESPONSE_FORMATS = ("wav", "mp3", "flac", "opus", "pcm")
SPEED_RANGE = (0.5, 2.0)
VOLUME_RANGE = (0.1, 2.0)
API_KEY_ENV = "STEPFUN_API_KEY"
SPEECH_PATH = "/v1/audio/speech"

# voice_label field per tag kind; speed tags go to the `speed` field, accents are refused.
_LABEL_FIELD = {"language": "language", "emotion": "emotion", "music": "style"}
_RETRYABLE_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
_MAX_ERROR_BODY_BYTES = 64 * 1024
_READ_CHUNK_BYTES = 64 * 1024


class _Fault(Exception):
    """One failed attempt; ``retryable`` decides whether the loop tries again."""

    def __init__(
        self, message: str, retryable: bool, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    ``now_s`` is the current Unix time (defaults to ``time.time()``). A date in the past gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)  # RFC 9110 says an integer; accept decimals too
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


def build_voice_label(tags: Sequence[Tag]) -> tuple[dict[str, str] | None, list[Tag], float]:
    """Map tags onto the API.

    Returns ``(voice_label, inline_tags, speed_factor)``: the first labelled tag as
    ``{"language"|"emotion"|"style": canonical}`` (or None), the other labelled tags (to prefix to
    the input as ``(key)``), and the product of the speed tags' factors. A strong emotion (intensity
    2) is inline too, even when it is the label, since a label has no intensity. Raises
    :class:`TagError` for a tag the API cannot render (accents).
    """
    voice_label: dict[str, str] | None = None
    inline: list[Tag] = []
    speed_factor = 1.0
    for tag in tags:
        if tag.kind == "speed":
            speed_factor *= tag.spec.speed_factor or 1.0
            continue
        field = _LABEL_FIELD.get(tag.kind)
        if field is None:
            raise TagError(
                f"the remote engine cannot render tag '{tag.key}' ({tag.kind}); it takes languages "
                "(中文, 英文, 日语, 韩语, 四川话, 粤语), emotions, speed, 哼唱 and RAP"
            )
        if voice_label is None:
            voice_label = {field: tag.spec.canonical}
            if (tag.intensity or 1) > 1:
                inline.append(tag)
        else:
            inline.append(tag)
    return voice_label, inline, speed_factor


class RemoteEngine:
    """Renders text with a remote Step-Audio speech API; safe to share across threads.

    Retries 408/429/5xx, connection errors, time-outs, truncated and undecodable replies with
    exponential backoff and full jitter, honouring ``Retry-After`` (capped by ``max_backoff_s``).
    Other 4xx answers and non-audio replies fail at once. Every failure raises
    :class:`RemoteError` carrying the server's message and the attempt count.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = "step-tts-mini",
        voice: str = "cixingnansheng",
        response_format: str = "wav",
        sample_rate_hz: int = 24000,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_concurrency: int = 4,
    ) -> None:
        """
        Args:
            base_url: ``http(s)://host[:port][/prefix]``; ``/v1/audio/speech`` is appended (a
                trailing ``/v1`` is not doubled).
            api_key: Bearer key; defaults to ``$STEPFUN_API_KEY``. A missing key is sent as no
                header at all, so keyless local servers work; a 401 then says to set it.
            timeout_s: limit for connecting and for the whole reply of one attempt.
            max_retries: attempts after the first (0 = one attempt only).
            backoff_s: base of the exponential backoff: attempt n sleeps
                uniform(0, min(max_backoff_s, backoff_s * 2**n)).
            max_concurrency: requests in flight at once across all threads sharing this object.
        """
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"remote engine base_url must be http(s)://host[:port], got '{base_url}'")
        try:
            parts.port  # noqa: B018 — raises ValueError on a bad port
        except ValueError:
            raise RemoteError(f"remote engine base_url has a bad port: '{base_url}'") from None
        response_format = response_format.lower()
        if response_format not in RESPONSE_FORMATS:
            raise RemoteError(
                f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, got '{response_format}'"
            )
        if sample_rate_hz not in SAMPLE_RATES_HZ:
            raise RemoteError(
                f"sample_rate_hz must be one of {', '.join(map(str, SAMPLE_RATES_HZ))}, got {sample_rate_hz}"
            )
        if timeout_s <= 0 or max_retries < 0 or backoff_s < 0 or max_backoff_s < 0 or max_concurrency < 1:
            raise RemoteError(
                "remote engine needs timeout_s > 0, max_retries >= 0, backoff_s >= 0, "
                "max_backoff_s >= 0 and max_concurrency >= 1"
            )
        prefix = parts.path.rstrip("/")
        prefix = prefix.removesuffix("/v1")
        self.base_url = base_url.strip().rstrip("/")
        self.url = f"{parts.scheme}://{parts.netloc}{prefix}{SPEECH_PATH}"
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._path = f"{prefix}{SPEECH_PATH}"
        self._api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        self.model = model
        self.voice = voice
        self.response_format = response_format
        self.sample_rate_hz = sample_rate_hz
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_concurrency = int(max_concurrency)
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._random = random.Random()
        self._random_lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return (
            f"RemoteEngine(url={self.url!r}, model={self.model!r}, voice={self.voice!r}, "
            f"key={'set' if self._api_key else 'none'})"
        )

    # ------------------------------------------------------------------ request

    @staticmethod
    def check(
        tags: Sequence[Tag | str] = (), speed: float = 1.0, volume: float = 1.0
    ) -> tuple[dict[str, str] | None, list[Tag], float]:
        """Validate what a request would carry; returns ``(voice_label, inline_tags, speed_sent)``.

        Raises :class:`TagError` for a tag the API cannot render and :class:`RemoteError` for a speed
        (with the speed tags multiplied in) or volume out of the API's range.
        """
        resolved = dedupe([resolve_tag(t) if isinstance(t, str) else t for t in tags])
        check_compatible(resolved)
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            raise RemoteError(f"speed must be within {SPEED_RANGE[0]}–{SPEED_RANGE[1]}, got {speed}")
        if not VOLUME_RANGE[0] <= volume <= VOLUME_RANGE[1]:
            raise RemoteError(f"volume must be within {VOLUME_RANGE[0]}–{VOLUME_RANGE[1]}, got {volume}")
        voice_label, inline, speed_factor = build_voice_label(resolved)
        speed_sent = round(float(speed) * speed_factor, 4)
        if not SPEED_RANGE[0] <= speed_sent <= SPEED_RANGE[1]:
            raise RemoteError(
                f"speed {speed} with the speed tag(s) gives {speed_sent}, outside "
                f"{SPEED_RANGE[0]}–{SPEED_RANGE[1]}"
            )
        return voice_label, inline, speed_sent

    def build_body(
        self,
        text: str,
        tags: Sequence[Tag | str] = (),
        voice: str | None = None,
        speed: float = 1.0,
        volume: float = 1.0,
    ) -> dict:
        """The JSON body for one utterance, validated; raises TextError/TagError/RemoteError."""
        if not text or not text.strip():
            raise TextError("remote engine got empty text")
        voice_label, inline, speed_sent = self.check(tags, speed, volume)
        prefix = "".join(f"({tag.key})" for tag in inline)
        payload_input = prefix + text
        if len(payload_input) > MAX_INPUT_CHARS:
            extra = f" (with the inline tags {prefix})" if prefix else ""
            raise TextError(
                f"remote engine input is {len(payload_input)} characters{extra}; the API takes at most "
                f"{MAX_INPUT_CHARS}: split the text into sentences first"
            )
        body: dict = {
            "model": self.model,
            "input": payload_input,
            "voice": voice or self.voice,
            "response_format": self.response_format,
            "speed": speed_sent,
            "volume": float(volume),
            "sample_rate": self.sample_rate_hz,
        }
        if voice_label is not None:
            body["voice_label"] = voice_label
        return body

    def synthesize(
        self,
        text: str,
        tags: Sequence[Tag | str] = (),
        voice: str | None = None,
        speed: float = 1.0,
        volume: float = 1.0,
    ) -> tuple[np.ndarray, int, None]:
        """Render one utterance (at most 1000 characters with its inline tags).

        Args:
            text: the text to speak, without leading tags.
            tags: resolved tags or tag keys (``高兴2``, ``粤语``, ``快速1``).
            voice: the server's voice name; defaults to the constructor's.
            speed: tempo multiplier 0.5–2 (speed tags multiply into it).
            volume: 0.1–2.

        Returns:
            ``(audio, sample_rate_hz, None)``: audio float32 [S] mono in [-1, 1], S > 0; the remote
            server is a black box, so there are no durations.

        Raises:
            TextError: empty text or more than 1000 characters (no request is made).
            TagError: a tag the API cannot render.
            RemoteError: any fault; ``retryable`` and ``status`` say what kind.
        """
        body = self.build_body(text, tags, voice=voice, speed=speed, volume=volume)
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                with self._slots:
                    return self._attempt(data)
            except _Fault as fault:
                if not fault.retryable or attempt == attempts:
                    tried = f"after {attempt} attempt{'s' if attempt > 1 else ''}"
                    raise RemoteError(
                        f"remote engine {self.url}: {fault.message} ({tried})",
                        retryable=fault.retryable,
                        status=fault.status,
                    ) from None
                time.sleep(self._delay_s(attempt, fault.retry_after_s))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        """Sleep before attempt ``attempt + 1``: Retry-After when given, else full jitter."""
        if retry_after_s is not None:
            return min(retry_after_s, self.max_backoff_s)
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        with self._random_lock:
            return self._random.uniform(0.0, ceiling)

    # ------------------------------------------------------------------ one attempt

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout_s, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)

    def _headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "audio/*, application/octet-stream, application/json",
            "User-Agent": "steptts-remote-engine",
            "Connection": "close",
        }
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _attempt(self, data: bytes) -> tuple[np.ndarray, int, None]:
        """One request; returns the decoded audio or raises :class:`_Fault`."""
        deadline = time.monotonic() + self.timeout_s
        conn = self._connection()
        try:
            try:
                conn.request("POST", self._path, body=data, headers=self._headers())
                # Keep the socket: getresponse() hands it to the response (conn.sock becomes None)
                # on "Connection: close", and the reads below still need its time-out shrunk.
                sock = conn.sock
                _shrink_timeout(sock, deadline)
                response = conn.getresponse()
                status = response.status
                content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
                retry_after_s = parse_retry_after(response.getheader("Retry-After"))
                limit = None if status == 200 else _MAX_ERROR_BODY_BYTES
                payload = self._read_body(sock, response, deadline, limit)
            except ssl.SSLCertVerificationError as exc:
                raise _Fault(f"TLS certificate rejected: {exc}", retryable=False) from None
            except TimeoutError:  # socket.timeout is an alias since 3.10
                raise _Fault(f"timed out after {self.timeout_s:g} s", retryable=True) from None
            except http.client.IncompleteRead as exc:
                raise _Fault(
                    f"truncated reply: got {len(exc.partial)} bytes, {exc.expected} more expected",
                    retryable=True,
                ) from None
            except (http.client.HTTPException, OSError) as exc:
                raise _Fault(f"connection failed: {type(exc).__name__}: {exc}", retryable=True) from None
        finally:
            conn.close()
        if status != 200:
            raise self._status_fault(status, content_type, payload, retry_after_s)
        return self._decode(content_type, payload)

    @staticmethod
    def _read_body(
        sock: socket.socket | None, response: http.client.HTTPResponse, deadline: float, limit: int | None
    ) -> bytes:
        """Read the reply by single socket reads, each bounded by what is left of the deadline.

        A per-read time-out alone never fires on a server that keeps trickling bytes, so the whole
        attempt is bounded by ``timeout_s``.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            _shrink_timeout(sock, deadline)
            chunk = response.read1(_READ_CHUNK_BYTES)  # read() would block until 64 KiB or EOF
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        # read1() returns short at EOF instead of raising IncompleteRead: check the length here.
        declared = response.getheader("Content-Length")
        if limit is None and declared is not None and declared.strip().isdigit() and size < int(declared):
            raise http.client.IncompleteRead(b"".join(chunks), int(declared) - size)
        return b"".join(chunks)

    def _status_fault(
        self, status: int, content_type: str, payload: bytes, retry_after_s: float | None
    ) -> _Fault:
        message = _server_message(content_type, payload) or http.client.responses.get(status, "")
        text = f"HTTP {status}: {message}"
        if status == 401:
            if self._api_key:
                text += f" — the server refused the API key (check {API_KEY_ENV} or api_key=)"
            else:
                text += f" — no API key was given: set {API_KEY_ENV} or pass api_key="
        elif status == 403:
            text += " — the API key lacks permission for this model or voice"
        return _Fault(text, retryable=status in _RETRYABLE_STATUS, status=status, retry_after_s=retry_after_s)

    def _decode(self, content_type: str, payload: bytes) -> tuple[np.ndarray, int, None]:
        if content_type.startswith("text/") or content_type.endswith("json") or "html" in content_type:
            message = _server_message(content_type, payload) or "no message"
            # A JSON error with status 200 or an HTML page (captive portal, wrong URL) will not heal.
            raise _Fault(
                f"HTTP 200 with non-audio content type '{content_type}': {message}",
                retryable=False,
                status=200,
            )
        try:
            audio, sample_rate_hz = decode_audio(payload, self.response_format, self.sample_rate_hz)
        except AudioDecodeError as exc:
            # A 200 that does not decode is most often a broken transfer: worth another try.
            raise _Fault(f"reply is not usable audio: {exc}", retryable=True, status=200) from None
        return audio, sample_rate_hz, None


def _shrink_timeout(sock: socket.socket | None, deadline: float) -> None:
    """Give the socket only the time left before ``deadline``; raise TimeoutError when none is."""
    left_s = deadline - time.monotonic()
    if left_s <= 0:
        raise TimeoutError
    if sock is not None:
        sock.settimeout(left_s)


def _server_message(content_type: str, payload: bytes) -> str:
    """The server's own words: ``error.message`` (+ type) from JSON, else the start of the text."""
    text = payload.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and error.get("message"):
            kind = error.get("type")
            return f"{error['message']}" + (f" [{kind}]" if kind else "")
        if isinstance(error, str):
            return error
        if "detail" in parsed:  # FastAPI's default error shape
            return str(parsed["detail"])
        if "message" in parsed:
            return str(parsed["message"])
    if "html" in content_type or text.startswith("<"):
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


__all__ = [
    "API_KEY_ENV",
    "MAX_INPUT_CHARS",
    "RESPONSE_FORMATS",
    "SAMPLE_RATES_HZ",
    "RemoteEngine",
    "build_voice_label",
    "parse_retry_after",
]
