"""The WebSocket ``/v1/realtime/audio``, in StepFun's realtime shape, for voice agents.

Every message is ``{"type": …, "data": {"session_id": …, …}}``. In: ``tts.create`` (``voice_id``,
``response_format`` wav|mp3|flac|opus|aac|pcm, ``sample_rate``, ``speed``, ``volume``,
``voice_label``), ``tts.text.delta`` (``text``), ``tts.text.flush`` and ``tts.text.done``. Out:
``tts.connection.done``, ``tts.response.created``, per sentence ``tts.response.sentence.start``,
``tts.response.audio.delta`` (``audio``: base64 of that sentence as a whole file, ``duration``
in seconds, ``status`` "unfinished") and ``tts.response.sentence.end``; ``tts.text.flushed``,
``tts.response.audio.done`` and ``tts.response.error`` (``code``, ``message``).

Text is spoken as it arrives: each delta is added to a buffer, and every sentence that is followed
by more text is complete and goes to synthesis at once, so an LLM's tokens are voiced while they
stream. The last, possibly unfinished sentence waits for more text, a flush or done.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import dataclass

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from ..errors import StepTTSError
from ..sentences import split_sentences
from .encode import FORMATS, Resampler, encode_file, output_rate_hz
from .errors import APIError
from .pool import QueueFull
from .schemas import SpeechRequest
from .tagging import label_tag, tag_controls
from .voices import Speaker

router = APIRouter()
_END = object()
"""Queue marker: no more text."""


@dataclass
class Session:
    """One realtime session's settings, from ``tts.create``."""

    session_id: str
    """The id sent in tts.connection.done and echoed in every event."""
    speaker: Speaker
    """The voice that speaks."""
    settings: SpeechRequest
    """Format, rate, speed, volume and label, checked as the HTTP endpoint checks them."""
    rate_hz: int
    """Rate of the audio sent, in Hz."""


class Realtime:
    """Serves one WebSocket connection."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self.session_id = uuid.uuid4().hex
        self.session: Session | None = None
        self.buffer = ""
        self.sentences: asyncio.Queue = asyncio.Queue()
        self.speaker_task: asyncio.Task | None = None

    async def send(self, kind: str, **data) -> None:
        await self.ws.send_text(json.dumps({"type": kind, "data": {"session_id": self.session_id, **data}},
                                           ensure_ascii=False))

    async def error(self, code: str, message: str) -> None:
        await self.send("tts.response.error", code=code, message=message)

    async def serve(self) -> None:
        await self.ws.accept()
        await self.send("tts.connection.done")
        try:
            while True:
                message = await self._receive()
                if message is None:
                    continue
                kind, data = message
                if kind == "tts.create":
                    await self._create(data)
                elif self.session is None:
                    await self.error("no_session", f"send tts.create before {kind}")
                elif kind == "tts.text.delta":
                    self._add(str(data.get("text", "")), final=False)
                elif kind == "tts.text.flush":
                    self._add("", final=True)
                    await self.sentences.join()
                    await self.send("tts.text.flushed")
                elif kind == "tts.text.done":
                    self._add("", final=True)
                    self.sentences.put_nowait(_END)
                    await self.speaker_task
                    await self.send("tts.response.audio.done", status="finished")
                    await self.ws.close()
                    return
                else:
                    await self.error("unknown_event", f"unknown event type '{kind}'")
        except WebSocketDisconnect:
            pass
        finally:
            if self.speaker_task is not None and not self.speaker_task.done():
                self.speaker_task.cancel()

    async def _receive(self) -> tuple[str, dict] | None:
        raw = await self.ws.receive_text()
        try:
            message = json.loads(raw)
            kind, data = message["type"], message.get("data") or {}
            if not isinstance(data, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            await self.error("invalid_json", "each message must be JSON: {\"type\": …, \"data\": {…}}")
            return None
        return str(kind), data

    async def _create(self, data: dict) -> None:
        registry = self.ws.app.state.registry
        fields = {k: data[k] for k in ("response_format", "speed", "volume", "voice_label", "sample_rate")
                  if k in data}
        try:
            settings = SpeechRequest.model_validate({"input": "-", "voice": data.get("voice_id"), **fields})
            speaker = registry.resolve(settings.voice)
            label_tag(settings.voice_label)
            rate_hz = output_rate_hz(FORMATS[settings.response_format], speaker.tts.sample_rate_hz,
                                     settings.sample_rate)
        except ValidationError as error:
            await self.error("invalid_value", str(error.errors()[0]["msg"]))
            return
        except APIError as error:
            await self.error(error.code or "invalid_value", error.message)
            return
        except ValueError as error:
            await self.error("invalid_value", str(error))
            return
        self.session = Session(self.session_id, speaker, settings, rate_hz)
        if self.speaker_task is None:
            self.speaker_task = asyncio.create_task(self._speak_queue())
        await self.send("tts.response.created", voice_id=speaker.name, response_format=settings.response_format,
                        sample_rate=rate_hz)

    def _add(self, text: str, final: bool) -> None:
        """Add text; queue every sentence known to be complete (all of them when ``final``)."""
        self.buffer += text
        pieces = [p for p in split_sentences(self.buffer) if p.strip()] if self.buffer.strip() else []
        if not final:
            if len(pieces) < 2:
                return
            self.buffer = self.buffer[self.buffer.rfind(pieces[-1]):]  # the pieces are substrings
            pieces = pieces[:-1]
        else:
            self.buffer = ""
        for sentence in pieces:
            self.sentences.put_nowait(sentence)

    async def _speak_queue(self) -> None:
        while True:
            sentence = await self.sentences.get()
            try:
                if sentence is _END:
                    return
                await self._speak(sentence)
            finally:
                self.sentences.task_done()

    async def _speak(self, sentence: str) -> None:
        session = self.session
        settings = session.settings
        tags = [label_tag(settings.voice_label)] if settings.voice_label else []
        tts = session.speaker.tts
        await self.send("tts.response.sentence.start", text=sentence)
        try:
            slot = await self.ws.app.state.pool.acquire()
        except QueueFull:
            await self.error("queue_full", "the server is busy: every worker is taken and the queue is full")
            return
        try:
            audio = await slot.run(lambda: tts.synthesize(sentence, speed=settings.speed, speaker=session.speaker.speaker,
                                                          **tag_controls(tags)))
            resampler = Resampler(tts.sample_rate_hz, session.rate_hz)
            samples = resampler.process(audio.samples * settings.volume, last=True)
            data = await slot.run(encode_file, samples, FORMATS[settings.response_format], session.rate_hz)
        except StepTTSError as error:
            await self.error(type(error).__name__, str(error))
            return
        finally:
            slot.release()
        await self.send("tts.response.audio.delta", status="unfinished", audio=base64.b64encode(data).decode(),
                        duration=round(len(samples) / session.rate_hz, 4))
        await self.send("tts.response.sentence.end", text=sentence)


@router.websocket("/v1/realtime/audio")
async def realtime_audio(websocket: WebSocket) -> None:
    """StepFun's realtime TTS over a WebSocket (see the module's docstring)."""
    await Realtime(websocket).serve()
