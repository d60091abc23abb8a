"""`steptts serve` under load, with a key, through a disconnect storm and a SIGTERM: the real process."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import soundfile as sf
from server_helpers import ServerProcess

KEY = "test-key-123"
ORIGIN = "http://app.example"
AUTH = {"Authorization": f"Bearer {KEY}"}
SHORT = "Hello there. This is a load test."
LONG = " ".join(f"This is sentence number {n} of a much longer text." for n in range(1, 41))


@pytest.fixture(scope="module")
def server():
    process = ServerProcess("--max-concurrency", "2", "--queue", "4", "--api-key", KEY, "--cors", ORIGIN)
    yield process
    process.stop()


def busy(server) -> tuple[int, int]:
    health = httpx.get(f"{server.url}/health", timeout=10).json()
    return health["workers_busy"], health["queue_depth"]


def wait_idle(server, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while busy(server) != (0, 0):
        assert time.monotonic() < deadline, f"workers still busy: {busy(server)}"
        time.sleep(0.1)


def test_key_is_required_on_v1(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        response = httpx.post(f"{server.url}/v1/audio/speech", json={"input": SHORT}, headers=headers, timeout=30)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{server.url}/v1/models", timeout=30).status_code == 401
    assert httpx.get(f"{server.url}/health", timeout=30).status_code == 200
    ok = httpx.post(f"{server.url}/v1/audio/speech", json={"input": SHORT, "response_format": "wav"}, headers=AUTH,
                    timeout=30)
    assert ok.status_code == 200 and sf.info(io.BytesIO(ok.content)).duration > 1.0


def test_cors_preflight_and_allowed_origin(server):
    preflight = httpx.options(f"{server.url}/v1/audio/speech", timeout=30, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(f"{server.url}/v1/audio/speech", timeout=30, headers={
        "Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
    voices = httpx.get(f"{server.url}/v1/audio/voices", headers={**AUTH, "Origin": ORIGIN}, timeout=30)
    assert voices.headers["access-control-allow-origin"] == ORIGIN


def test_openai_client_with_key(server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    assert len(client.audio.speech.create(model="tts-1", voice="echo", input=SHORT).content) > 1000
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="nope", max_retries=0).audio.speech.create(
            model="tts-1", voice="echo", input=SHORT)


def test_48_concurrent_clients_get_only_200_429_or_503_and_the_server_stays_healthy(server):
    barrier = threading.Barrier(48)

    def one(index: int) -> tuple[int, str | None]:
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            response = client.post(f"{server.url}/v1/audio/speech", headers=AUTH,
                                   json={"input": f"{SHORT} Client {index}.", "response_format": "wav"})
            return response.status_code, response.headers.get("retry-after")

    with ThreadPoolExecutor(48) as pool:
        results = list(pool.map(one, range(48)))
    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 429, 503}, statuses
    assert statuses.count(200) >= 6 and statuses.count(503) >= 1  # 2 workers + 4 queued; the rest refused
    assert all(retry == "1" for status, retry in results if status == 503)
    wait_idle(server)
    after = httpx.post(f"{server.url}/v1/audio/speech", json={"input": SHORT}, headers=AUTH, timeout=60)
    assert after.status_code == 200


def test_a_disconnect_storm_leaks_no_worker(server):
    def leave_early(_: int) -> int:
        with httpx.Client(timeout=60) as client, client.stream(
                "POST", f"{server.url}/v1/audio/speech", headers=AUTH,
                json={"input": LONG, "response_format": "pcm", "stream_format": "audio"}) as response:
            if response.status_code != 200:
                return response.status_code
            next(response.iter_bytes())
            return 200  # closes the connection after the first bytes

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(leave_early, range(18)))
    assert set(statuses) <= {200, 503} and 200 in statuses
    wait_idle(server, timeout_s=15)
    log = server.log()
    gone = [line for line in log.splitlines() if "disconnected" in line and "path=/v1/audio/speech" in line]
    assert len(gone) >= statuses.count(200) - 1
    full_s = 40 * 2.5
    assert all(float(line.split("audio_s=")[1].split()[0]) < full_s / 2 for line in gone)  # stopped early
    assert httpx.post(f"{server.url}/v1/audio/speech", json={"input": SHORT}, headers=AUTH, timeout=60).status_code == 200


def test_sigterm_finishes_requests_in_flight_then_exits_0():
    process = ServerProcess("--max-concurrency", "1")
    try:
        received = {}

        def long_request() -> None:
            with httpx.Client(timeout=120) as client, client.stream(
                    "POST", f"{process.url}/v1/audio/speech",
                    json={"input": LONG, "response_format": "wav", "stream_format": "audio"}) as response:
                data = b""
                for piece in response.iter_bytes():
                    data += piece
                    received.setdefault("first", time.monotonic())
                received["data"] = data

        thread = threading.Thread(target=long_request)
        thread.start()
        while "first" not in received:
            time.sleep(0.02)
        code = process.terminate()
        thread.join(60)
        assert code == 0
        samples, rate = sf.read(io.BytesIO(received["data"]))
        assert len(samples) / rate > 60  # all 40 sentences arrived
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{process.url}/health", timeout=5)
    finally:
        process.stop()
