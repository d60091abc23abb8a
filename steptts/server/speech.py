"""The speech endpoints: ``POST /v1/audio/speech`` (one file, chunked audio, or SSE) and
``POST /v1/audio/captioned_speech`` (audio with word times, whole or one JSON line per sentence).

A request is checked in full before any work (voice, tags, rate, text), then takes a worker slot
(or a 503 when the queue is full) and is synthesized sentence by sentence on the worker threads.
Each sentence waits for either its step or the client's disconnect: a client that leaves frees
its worker when the running sentence returns, and nothing more is computed for it.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..audio import Chunk
from ..errors import StepTTSError
from ..words import Word
from .encode import FORMATS, AudioFormat, Resampler, StreamEncoder, encode_file, output_rate_hz
from .errors import APIError
from .middleware import BodyTooLarge, RequestRecord
from .pool import QueueFull, Slot
from .schemas import SpeechRequest, parse_speech_request
from .tagging import ignored_header, instruction_tags, label_tag, tag_controls

router = APIRouter()
SAMPLE_RATE_HEADER = "X-StepTTS-Sample-Rate"
"""Response header giving the audio's sample rate in Hz (raw pcm carries none)."""


class ClientGone(Exception):
    """The client closed the connection."""


@dataclass
class Plan:
    """A checked request, ready to synthesize."""

    voice: str
    """The voice that speaks."""
    chunks: Iterator[Chunk]
    """The voice's sentence stream (validated, not started)."""
    voice_rate_hz: int
    """Rate the voice makes, in Hz."""
    audio_format: AudioFormat
    """The response format."""
    rate_hz: int
    """Rate the response carries, in Hz."""
    volume: float
    """Gain multiplier."""
    headers: dict[str, str]
    """Headers to send back (sample rate, ignored instruction words)."""


def plan_speech(body: SpeechRequest, registry) -> Plan:
    """Check a request against the voices; APIError 400 for anything a user got wrong."""
    speaker = registry.resolve(body.voice)
    tags, ignored = instruction_tags(body.instructions)
    label = label_tag(body.voice_label)
    controls = tag_controls(tags + ([label] if label else []))
    audio_format = FORMATS[body.response_format]
    try:
        rate_hz = output_rate_hz(audio_format, speaker.tts.sample_rate_hz, body.sample_rate)
    except ValueError as error:
        raise APIError(400, str(error), param="sample_rate", code="invalid_value") from None
    try:
        chunks = speaker.tts.stream(body.input, speed=body.speed, speaker=speaker.speaker, **controls)
    except StepTTSError as error:
        raise APIError(400, str(error), param="input", code=type(error).__name__) from None
    headers = {SAMPLE_RATE_HEADER: str(rate_hz), **ignored_header(ignored)}
    return Plan(speaker.name, chunks, speaker.tts.sample_rate_hz, audio_format, rate_hz, body.volume, headers)


class Watch:
    """Notices when the client of an HTTP request disconnects (reads the ASGI receive channel)."""

    def __init__(self, request: Request) -> None:
        self._receive = request.receive
        self.gone = asyncio.ensure_future(self._wait())

    async def _wait(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass

    def stop(self) -> None:
        self.gone.cancel()


async def synthesize(plan: Plan, slot: Slot, watch: Watch) -> AsyncIterator[tuple[Chunk | None, np.ndarray]]:
    """Yield ``(chunk, samples)`` per sentence, samples float32 at ``plan.rate_hz`` with the volume
    applied; a last ``(None, tail)`` flushes the resampler. Raises ClientGone when the client leaves."""
    resampler = Resampler(plan.voice_rate_hz, plan.rate_hz)
    while True:
        step = asyncio.ensure_future(slot.run(next, plan.chunks, None))
        done, _ = await asyncio.wait({step, watch.gone}, return_when=asyncio.FIRST_COMPLETED)
        if step not in done:
            step.cancel()
            raise ClientGone
        chunk = step.result()
        if chunk is None:
            break
        yield chunk, resampler.process(chunk.samples * plan.volume)
    yield None, resampler.process(np.zeros(0, np.float32), last=True)


async def admit(request: Request) -> Slot:
    """A worker slot for this request, or APIError 503 with Retry-After when the queue is full."""
    try:
        return await request.app.state.pool.acquire()
    except QueueFull:
        retry = str(request.app.state.config.retry_after_s)
        raise APIError(503, "the server is busy: every worker is taken and the queue is full; retry later",
                       code="queue_full", headers={"Retry-After": retry}) from None


class SlotResponse(StreamingResponse):
    """A streaming response that always gives its worker slot back, however the stream ends."""

    def __init__(self, content, slot: Slot, watch: Watch, **kwargs) -> None:
        super().__init__(content, **kwargs)
        self._slot = slot
        self._watch = watch

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()
            self._watch.stop()


async def read_request(request: Request) -> tuple[SpeechRequest, RequestRecord]:
    """The parsed body and this request's log record (voice and characters filled in later)."""
    try:
        raw = await request.body()
    except BodyTooLarge:
        limit = request.app.state.config.max_body_bytes
        raise APIError(413, f"the request body is larger than {limit:,} bytes", code="body_too_large") from None
    body = parse_speech_request(raw, request.app.state.config.max_input_chars)
    record: RequestRecord = request.state.record
    record.chars = len(body.input)
    return body, record


@router.post("/v1/audio/speech")
async def speech(request: Request) -> Response:
    """OpenAI's speech endpoint: one file, or chunked audio (``stream_format: audio``), or SSE."""
    body, record = await read_request(request)
    plan = plan_speech(body, request.app.state.registry)
    record.voice = plan.voice
    slot = await admit(request)
    watch = Watch(request)
    if body.stream_format is None:
        try:
            samples = await _collect(plan, slot, watch, record)
            data = await slot.run(encode_file, samples, plan.audio_format, plan.rate_hz)
        finally:
            slot.release()
            watch.stop()
        return Response(data, media_type=plan.audio_format.media_type, headers=plan.headers)
    if body.stream_format == "sse":
        return SlotResponse(_sse(plan, slot, watch, record, len(body.input)), slot, watch,
                            media_type="text/event-stream", headers={**plan.headers, "Cache-Control": "no-cache"})
    return SlotResponse(_encoded(plan, slot, watch, record), slot, watch,
                        media_type=plan.audio_format.media_type, headers=plan.headers)


async def _collect(plan: Plan, slot: Slot, watch: Watch, record: RequestRecord) -> np.ndarray:
    pieces = []
    try:
        async for _, samples in synthesize(plan, slot, watch):
            pieces.append(samples)
    except ClientGone:
        record.disconnected = True
        raise
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    record.audio_s = len(samples) / plan.rate_hz
    return samples


async def _encoded(plan: Plan, slot: Slot, watch: Watch, record: RequestRecord) -> AsyncIterator[bytes]:
    """The response's bytes as they are encoded, sentence by sentence; ends quietly if the client left."""
    encoder = StreamEncoder(plan.audio_format, plan.rate_hz)
    try:
        async for _, samples in synthesize(plan, slot, watch):
            record.audio_s += len(samples) / plan.rate_hz
            data = await slot.run(encoder.push, samples)
            if data:
                yield data
        data = await slot.run(encoder.finish)
        if data:
            yield data
    except ClientGone:
        record.disconnected = True
    finally:
        slot.release()
        slot.when_idle(encoder.close)  # never close FFmpeg's state under a running push


async def _sse(plan: Plan, slot: Slot, watch: Watch, record: RequestRecord, chars: int) -> AsyncIterator[bytes]:
    """OpenAI's SSE: ``speech.audio.delta`` events with base64 audio, then ``speech.audio.done``."""
    async for data in _encoded(plan, slot, watch, record):
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")}
        yield f"data: {json.dumps(event)}\n\n".encode()
    if not record.disconnected:
        done = {"type": "speech.audio.done",
                "usage": {"input_tokens": chars, "output_tokens": 0, "total_tokens": chars}}
        yield f"data: {json.dumps(done)}\n\n".encode()


@router.post("/v1/audio/captioned_speech")
async def captioned_speech(request: Request) -> Response:
    """Audio with word times: ``{audio, format, sample_rate, words}``, or with ``stream: true`` one JSON
    line per sentence (its own audio file, its words on the whole response's time line)."""
    body, record = await read_request(request)
    if body.stream_format is not None:
        raise APIError(400, "captioned_speech streams with 'stream': true, not stream_format",
                       param="stream_format", code="invalid_value")
    plan = plan_speech(body, request.app.state.registry)
    record.voice = plan.voice
    slot = await admit(request)
    watch = Watch(request)
    if body.stream:
        return SlotResponse(_caption_lines(plan, slot, watch, record), slot, watch,
                            media_type="application/x-ndjson", headers=plan.headers)
    try:
        pieces, words = [], []
        async for chunk, samples in synthesize(plan, slot, watch):
            offset_s = sum(len(p) for p in pieces) / plan.rate_hz
            words += [w.shifted(offset_s) for w in (chunk.words if chunk else ())]
            pieces.append(samples)
        samples = np.concatenate(pieces)
        data = await slot.run(encode_file, samples, plan.audio_format, plan.rate_hz)
    except ClientGone:
        record.disconnected = True
        raise
    finally:
        slot.release()
        watch.stop()
    record.audio_s = len(samples) / plan.rate_hz
    return JSONResponse(_caption(data, plan, words), headers=plan.headers)


def _caption(data: bytes, plan: Plan, words: list[Word], **extra) -> dict:
    return {"audio": base64.b64encode(data).decode("ascii"), "format": plan.audio_format.name,
            "sample_rate": plan.rate_hz, **extra,
            "words": [{"word": w.word, "start_s": round(w.start_s, 4), "end_s": round(w.end_s, 4)} for w in words]}


async def _caption_lines(plan: Plan, slot: Slot, watch: Watch, record: RequestRecord) -> AsyncIterator[bytes]:
    offset_s = 0.0
    try:
        async for chunk, samples in synthesize(plan, slot, watch):
            if chunk is None or len(samples) == 0:
                continue  # the resampler's tail is a few samples of silence: not worth a line
            data = await slot.run(encode_file, samples, plan.audio_format, plan.rate_hz)
            words = [w.shifted(offset_s) for w in chunk.words]
            line = _caption(data, plan, words, index=chunk.index, text=chunk.text, offset_s=round(offset_s, 4))
            offset_s += len(samples) / plan.rate_hz
            record.audio_s = offset_s
            yield (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
    except ClientGone:
        record.disconnected = True
    finally:
        slot.release()
