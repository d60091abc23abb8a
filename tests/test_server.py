"""`steptts serve` against the real server process: the official openai client, httpx, the remote
engine and a WebSocket client, all on loopback, with the shipped joe-nano voice."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import soundfile as sf
from server_helpers import ServerProcess

openai = pytest.importorskip("openai")
REPO = Path(__file__).resolve().parents[1]

TEXT = "Hello there. This is a short test of the speech server."
LONG_TEXT = " ".join(f"This is sentence number {n} of a longer text." for n in range(1, 9))


@pytest.fixture(scope="module")
def server():
    process = ServerProcess("--max-concurrency", "2", "--queue", "8")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)


def decode(data: bytes, fmt: str, rate_hz: int = 22050) -> tuple[np.ndarray, int]:
    """Decode with libsndfile, or FFmpeg for aac; raw pcm at ``rate_hz``."""
    if fmt == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768, rate_hz
    if fmt == "aac":
        container = av.open(io.BytesIO(data))
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
        return np.concatenate(frames).astype(np.float32), container.streams.audio[0].rate
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return samples, rate


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_openai_client_gets_decodable_audio_in_every_format(client, fmt):
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format=fmt)
    rate = int(response.response.headers["x-steptts-sample-rate"])
    samples, decoded_rate = decode(response.content, fmt, rate)
    assert decoded_rate == rate == (24000 if fmt == "opus" else 22050)
    assert 2.0 < len(samples) / rate < 6.0
    assert np.abs(samples).max() > 0.05


def test_stream_first_bytes_arrive_well_before_the_last(client):
    arrivals, data = [], b""
    started = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=LONG_TEXT, response_format="mp3", stream_format="audio") as response:
        for piece in response.iter_bytes():
            arrivals.append(time.perf_counter() - started)
            data += piece
    assert len(arrivals) >= 4
    assert arrivals[0] < 0.5 * arrivals[-1]
    samples, rate = decode(data, "mp3")
    assert len(samples) / rate > 15


def test_sse_gives_deltas_then_done(client):
    events = []
    with client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="nova", input=TEXT, response_format="wav", stream_format="sse") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "speech.audio.done" and set(kinds[:-1]) == {"speech.audio.delta"} and len(kinds) >= 3
    audio = b"".join(base64.b64decode(event["audio"]) for event in events[:-1])
    samples, rate = decode(audio, "wav")
    assert rate == 22050 and len(samples) / rate > 2.0


def test_stepfun_sample_rate_volume_and_label(client):
    quiet = client.audio.speech.create(model="step-tts-mini", voice="joe-nano", input=TEXT, response_format="wav",
                                       extra_body={"sample_rate": 16000, "volume": 0.5})
    full = client.audio.speech.create(model="step-tts-mini", voice="joe-nano", input=TEXT, response_format="wav",
                                      extra_body={"sample_rate": 16000})
    quiet_samples, quiet_rate = decode(quiet.content, "wav")
    full_samples, full_rate = decode(full.content, "wav")
    assert quiet_rate == full_rate == 16000
    assert abs(len(full_samples) / 16000 - len(decode(client.audio.speech.create(
        model="x", voice="alloy", input=TEXT, response_format="wav").content, "wav")[0]) / 22050) < 0.01
    ratio = np.sqrt(np.mean(quiet_samples ** 2) / np.mean(full_samples ** 2))
    assert 0.45 < ratio < 0.55
    happy = client.audio.speech.create(model="x", voice="joe-nano", input=TEXT, response_format="wav",
                                       extra_body={"voice_label": {"emotion": "高兴"}})
    assert len(decode(happy.content, "wav")[0]) > 0


def test_instructions_become_tags_and_unknown_words_are_reported(server):
    body = {"input": TEXT, "voice": "alloy", "response_format": "wav",
            "instructions": "Speak in a very happy British voice, slow"}
    plain = httpx.post(f"{server.url}/v1/audio/speech", json={**body, "instructions": None}, timeout=60)
    tagged = httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=60)
    assert tagged.status_code == 200, tagged.text
    assert tagged.headers["x-steptts-ignored-instructions"] == "Speak in a voice"
    slow = httpx.post(f"{server.url}/v1/audio/speech", json={**body, "instructions": "slow"}, timeout=60)
    plain_s = len(decode(plain.content, "wav")[0]) / 22050
    slow_s = len(decode(slow.content, "wav")[0]) / 22050
    assert "x-steptts-ignored-instructions" not in slow.headers
    assert slow_s > 1.1 * plain_s  # "slow" arrived: the voice performs it as speed 0.87


@pytest.mark.parametrize(("body", "status", "param", "code"), [
    ({"input": ""}, 400, "input", "empty_input"),
    ({"input": "x" * 10_001}, 400, "input", "input_too_long"),
    ({"input": "Hi.", "voice": "bob"}, 400, "voice", "unknown_voice"),
    ({"input": "Hi.", "response_format": "ogg"}, 400, "response_format", "invalid_value"),
    ({"input": "Hi.", "speed": 5}, 400, "speed", "invalid_value"),
    ({"input": "Hi.", "volume": 3}, 400, "volume", "invalid_value"),
    ({"input": "Hi.", "sample_rate": 44100}, 400, "sample_rate", "invalid_value"),
    ({"input": "Hi.", "sample_rate": 22050, "response_format": "opus"}, 400, "sample_rate", "invalid_value"),
    ({"input": "Hi.", "voice_label": {"mood": "happy"}}, 400, "voice_label", "invalid_value"),
    ({"input": "Hi.", "instructions": "Cantonese"}, 400, "input", "TagError"),
    ({"input": "(grumpy)Hi."}, 400, "input", "TagError"),
    ({"input": "Hi.", "colour": "blue"}, 400, "colour", "invalid_value"),
    ({"voice": "alloy"}, 400, "input", "invalid_value"),
    ([1, 2], 400, None, "invalid_body"),
])
def test_user_errors_are_400_in_openai_shape(server, body, status, param, code):
    response = httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=30)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert "Traceback" not in response.text and error["message"]


def test_malformed_json_is_422_and_a_large_body_413(server):
    bad = httpx.post(f"{server.url}/v1/audio/speech", content=b'{"input": "Hi', timeout=30,
                     headers={"content-type": "application/json"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_json"
    huge = httpx.post(f"{server.url}/v1/audio/speech", json={"input": "x" * 1_100_000}, timeout=30)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: the limit holds while the body streams in
        for _ in range(20):
            yield b"x" * 100_000

    streamed = httpx.post(f"{server.url}/v1/audio/speech", content=chunks(), timeout=30)
    assert streamed.status_code == 413
    missing = httpx.get(f"{server.url}/v1/nothing", timeout=30)
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}


def test_info_endpoints(server, client):
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    assert "tts-1" in [model.id for model in client.models.list().data]
    voices = httpx.get(f"{server.url}/v1/audio/voices").json()["voices"]
    assert voices[0]["name"] == "joe-nano" and voices[0]["sample_rate"] == 22050
    assert voices[0]["speakers"] == ["joe"] and "高兴1" in voices[0]["tags"] and voices[0]["size_bytes"] > 1e6
    assert "alloy" in voices[0]["aliases"]
    metrics = httpx.get(f"{server.url}/metrics").text
    for name in ("steptts_requests_total", "steptts_errors_total", "steptts_queue_depth",
                 "steptts_request_seconds_bucket", "steptts_first_byte_seconds_bucket"):
        assert name in metrics
    assert 'steptts_requests_total{path="/v1/audio/speech",status="200"}' in metrics


def test_each_request_logs_one_line(server):
    response = httpx.post(f"{server.url}/v1/audio/speech", json={"input": TEXT, "response_format": "wav"}, timeout=60)
    request_id = response.headers["x-request-id"]
    deadline = time.monotonic() + 10  # the line is written once the last byte has left
    while not (lines := [line for line in server.log().splitlines() if f"id={request_id}" in line]):
        assert time.monotonic() < deadline, "no log line"
        time.sleep(0.05)
    assert len(lines) == 1
    assert "voice=joe-nano" in lines[0] and f"chars={len(TEXT)}" in lines[0] and "status=200" in lines[0]
    assert "ttfb_ms=" in lines[0] and float(lines[0].split("audio_s=")[1].split()[0]) > 2.0


def test_captioned_speech_whole_and_streamed(server):
    whole = httpx.post(f"{server.url}/v1/audio/captioned_speech",
                       json={"input": TEXT, "voice": "alloy", "response_format": "wav"}, timeout=60).json()
    samples, rate = decode(base64.b64decode(whole["audio"]), "wav")
    assert whole["format"] == "wav" and whole["sample_rate"] == rate == 22050
    words = whole["words"]
    assert [w["word"] for w in words] == ["Hello", "there", "This", "is", "a", "short", "test", "of", "the", "speech", "server"]
    assert all(w["start_s"] < w["end_s"] for w in words)
    assert all(a["end_s"] <= b["start_s"] + 1e-6 for a, b in pairwise(words))
    assert words[-1]["end_s"] <= len(samples) / rate
    lines = []
    with httpx.stream("POST", f"{server.url}/v1/audio/captioned_speech", timeout=60,
                      json={"input": TEXT, "voice": "alloy", "response_format": "pcm", "stream": True}) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
    assert [line["index"] for line in lines] == [0, 1]
    streamed_words = [w for line in lines for w in line["words"]]
    assert [w["word"] for w in streamed_words] == [w["word"] for w in words]
    assert lines[1]["offset_s"] == pytest.approx(len(base64.b64decode(lines[0]["audio"])) / 2 / 22050, abs=1e-3)
    assert streamed_words[3]["start_s"] >= lines[1]["offset_s"]


def test_remote_engine_round_trip(server):
    from steptts import TTS

    remote = TTS(engine="remote", base_url=server.url, model="step-tts-mini", remote_voice="joe-nano")
    audio = remote.synthesize("(happy)Hello there. This came through the server.")
    assert audio.sample_rate_hz == 24000 and 2.0 < audio.duration_s < 6.0
    default_voice = TTS(engine="remote", base_url=f"{server.url}/v1")  # StepFun's default voice name
    assert default_voice.synthesize("One more.").duration_s > 0.3


def test_distill_data_with_the_server_as_remote_teacher(server, tmp_path):
    texts = tmp_path / "lines.txt"
    texts.write_text("The quick brown fox jumps over the lazy dog.\nA second line for the remote teacher.\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("STEPFUN_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "steptts", "distill", "data", "--teacher", "remote", "--base-url", server.url,
         "--voice", "joe-nano", "--texts", str(texts), "--out", str(tmp_path / "ds"), "--workers", "1",
         "--no-progress"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["teacher"].startswith("remote:") for r in records)
    for record in records:
        samples, rate = sf.read(tmp_path / "ds" / record["path"])
        assert rate == record["sample_rate"] and len(samples) / rate == pytest.approx(record["duration"], abs=0.01)


def test_websocket_speaks_text_as_it_arrives(server):
    from websockets.sync.client import connect

    deltas = ["Hello there, ", "this is the first", " sentence. And here", " comes the second", " one."]
    with connect(f"ws://127.0.0.1:{server.port}/v1/realtime/audio", open_timeout=30) as ws:
        hello = json.loads(ws.recv(timeout=30))
        assert hello["type"] == "tts.connection.done"
        session = hello["data"]["session_id"]
        ws.send(json.dumps({"type": "tts.create", "data": {"session_id": session, "voice_id": "alloy",
                                                           "response_format": "wav"}}))
        assert json.loads(ws.recv(timeout=30))["type"] == "tts.response.created"
        for text in deltas:
            ws.send(json.dumps({"type": "tts.text.delta", "data": {"session_id": session, "text": text}}))
        before_done = []
        while not any(e["type"] == "tts.response.audio.delta" for e in before_done):
            before_done.append(json.loads(ws.recv(timeout=30)))  # the first sentence, before any flush or done
        ws.send(json.dumps({"type": "tts.text.flush", "data": {"session_id": session}}))
        while before_done[-1]["type"] != "tts.text.flushed":
            before_done.append(json.loads(ws.recv(timeout=30)))
        ws.send(json.dumps({"type": "tts.text.done", "data": {"session_id": session}}))
        after = [json.loads(ws.recv(timeout=30))]
    assert [e["type"] for e in after] == ["tts.response.audio.done"]
    events = before_done + after
    audio = [e["data"] for e in events if e["type"] == "tts.response.audio.delta"]
    spoken = [e["data"]["text"] for e in events if e["type"] == "tts.response.sentence.start"]
    assert spoken == ["Hello there, this is the first sentence.", "And here comes the second one."]
    assert len(audio) == 2 and all(e["data"]["session_id"] == session for e in events)
    for delta in audio:
        samples, rate = decode(base64.b64decode(delta["audio"]), "wav")
        assert len(samples) / rate == pytest.approx(delta["duration"], abs=1e-3) and delta["duration"] > 1.0


def test_the_server_never_imports_torch():
    code = ("import sys; import steptts.server.app, steptts.server.main; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.stdout.strip() == "ok", result.stderr


def test_serve_refuses_bad_options_and_a_taken_port_with_one_line(server):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for args in (["--max-concurrency", "0"], ["--port", str(server.port)], ["--host", "no.such.host.invalid"]):
        result = subprocess.run([sys.executable, "-m", "steptts", "serve", *args], env=env, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("steptts: error:"), result.stderr
