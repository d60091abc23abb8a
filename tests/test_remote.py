"""The remote engine against a real, misbehaving HTTP server (tests/fault_server.py)."""

from __future__ import annotations

import email.utils
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from fault_server import Behaviour, FaultServer, ok, status_error, too_many_requests

from steptts.errors import RemoteError, StepTTSError, TagError, TextError
from steptts.remote import RemoteEngine, parse_retry_after
from steptts.tags import parse_tags

FAST = {"timeout_s": 0.3, "backoff_s": 0.01, "max_backoff_s": 0.05}


def dominant_hz(audio: np.ndarray, sample_rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / sample_rate_hz)[np.argmax(spectrum)])


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPFUN_API_KEY", raising=False)


# ---------------------------------------------------------------- success


def test_success_sends_the_api_body_and_decodes_real_audio() -> None:
    with FaultServer(["ok"]) as server:
        teacher = RemoteEngine(server.url, api_key="sk-test", voice="cixingnansheng", **FAST)
        audio, sample_rate_hz, durations = teacher.synthesize("Hello there.", volume=0.8)
    assert durations is None
    assert sample_rate_hz == 24000
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == int(0.25 * 24000)
    assert abs(dominant_hz(audio, sample_rate_hz) - 220.0) < 5.0
    assert 0.45 < np.abs(audio).max() <= 0.5
    [request] = server.requests
    assert request.method == "POST" and request.path == "/v1/audio/speech"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"].startswith("application/json")
    assert request.json == {
        "model": "step-tts-mini",
        "input": "Hello there.",
        "voice": "cixingnansheng",
        "response_format": "wav",
        "speed": 1.0,
        "volume": 0.8,
        "sample_rate": 24000,
    }


def test_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPFUN_API_KEY", "sk-env")
    with FaultServer(["ok"], api_key="sk-env") as server:
        RemoteEngine(server.url, **FAST).synthesize("hi")
    assert server.requests[0].headers["authorization"] == "Bearer sk-env"


def test_keyless_server_gets_no_authorization_header() -> None:
    with FaultServer(["ok"]) as server:
        RemoteEngine(server.url, **FAST).synthesize("hi")
    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize(
    ("text", "voice_label", "sent_input"),
    [
        ("(Cantonese)你好", {"language": "粤语"}, "你好"),
        ("（广东话）你好", {"language": "粤语"}, "你好"),
        ("(Sichuanese)你好", {"language": "四川话"}, "你好"),
        ("(happy)hello", {"emotion": "高兴"}, "hello"),
        ("(happy2)hello", {"emotion": "高兴"}, "(高兴2)hello"),  # a label names no intensity: inline too
        ("(粤语)(happy2)hello", {"language": "粤语"}, "(高兴2)hello"),
        ("(cute)hello", {"emotion": "撒娇"}, "hello"),
        ("(singing)la la", {"style": "哼唱"}, "la la"),
        ("(rap)yo", {"style": "RAP"}, "yo"),
        # two labels: the first is voice_label, the rest go inline as Step-Audio's prefix
        ("(粤语)(高兴2)你好", {"language": "粤语"}, "(高兴2)你好"),
        ("(sad)(rap)yo", {"emotion": "悲伤"}, "(RAP)yo"),
    ],
)
def test_tags_map_to_voice_label_and_inline_prefix(text: str, voice_label: dict, sent_input: str) -> None:
    tags, rest = parse_tags(text)
    with FaultServer(["ok"]) as server:
        RemoteEngine(server.url, **FAST).synthesize(rest, tags)
    body = server.requests[0].json
    assert body["voice_label"] == voice_label
    assert body["input"] == sent_input


def test_speed_tags_become_the_speed_field_and_keys_are_accepted() -> None:
    with FaultServer(["ok", "ok"]) as server:
        teacher = RemoteEngine(server.url, **FAST)
        teacher.synthesize("quick", ["快速2"])
        teacher.synthesize("slow", parse_tags("(slow)(angry)x")[0], speed=1.5)
    first, second = (r.json for r in server.requests)
    assert first["speed"] == pytest.approx(1 / 0.75, abs=1e-3)
    assert "voice_label" not in first and first["input"] == "quick"
    assert second["speed"] == pytest.approx(1.5 / 1.15, abs=1e-3)
    assert second["voice_label"] == {"emotion": "生气"}


@pytest.mark.parametrize("response_format", ["flac", "pcm"])
def test_other_formats_decode(response_format: str) -> None:
    with FaultServer(["ok"]) as server:
        teacher = RemoteEngine(server.url, response_format=response_format, sample_rate_hz=16000, **FAST)
        audio, sample_rate_hz, _ = teacher.synthesize("hi", voice="other")
    assert sample_rate_hz == 16000 and len(audio) == 4000
    assert abs(dominant_hz(audio, sample_rate_hz) - 220.0) < 5.0
    assert server.requests[0].json["voice"] == "other"
    assert server.requests[0].json["sample_rate"] == 16000


def test_base_url_with_v1_suffix_is_not_doubled() -> None:
    with FaultServer(["ok"]) as server:
        RemoteEngine(server.url + "/v1/", **FAST).synthesize("hi")
    assert server.requests[0].path == "/v1/audio/speech"


# ---------------------------------------------------------------- faults that heal


def test_429_retry_after_is_honoured() -> None:
    with FaultServer([too_many_requests("1"), "ok"]) as server:
        teacher = RemoteEngine(server.url, timeout_s=2.0, backoff_s=0.01, max_backoff_s=5.0)
        audio, _, _ = teacher.synthesize("hi")
    assert len(audio) > 0
    first, second = server.requests
    assert first.behaviour == "429" and second.behaviour == "ok"
    assert second.received_s - first.answered_s >= 1.0


def test_retry_after_is_capped_by_max_backoff() -> None:
    with FaultServer([too_many_requests("3600"), "ok"]) as server:
        RemoteEngine(server.url, timeout_s=2.0, max_backoff_s=0.1).synthesize("hi")
    first, second = server.requests
    assert 0.1 <= second.received_s - first.answered_s < 3.0


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("0.25", now) == 0.25
    assert parse_retry_after(email.utils.formatdate(now + 12, usegmt=True), now) == pytest.approx(12.0)
    assert parse_retry_after(email.utils.formatdate(now - 50, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize("fault", ["500", "503", "stall", "truncated", "reset", "empty", "garbage"])
def test_transient_fault_then_success(fault: str) -> None:
    with FaultServer([fault, "ok"]) as server:
        start = time.monotonic()
        audio, sample_rate_hz, _ = RemoteEngine(server.url, **FAST).synthesize("hi")
        elapsed_s = time.monotonic() - start
    assert len(audio) == int(0.25 * sample_rate_hz)
    assert [r.behaviour for r in server.requests] == [fault, "ok"]
    if fault == "stall":
        assert elapsed_s >= 0.3  # the client waited for its time-out, not for the 2 s stall


def test_trickling_server_hits_the_whole_reply_time_out() -> None:
    # Each piece comes 0.1 s after the last, so a per-read time-out of 0.3 s never fires; the
    # client bounds the whole attempt instead.
    with (
        FaultServer(["trickle"]) as server,
        pytest.raises(RemoteError, match=r"timed out after 0.3 s.*after 1 attempt") as caught,
    ):
        RemoteEngine(server.url, max_retries=0, timeout_s=0.3).synthesize("hi")
    assert caught.value.retryable
    assert len(server.requests) == 1


# ---------------------------------------------------------------- faults that do not heal


def test_retries_exhausted_raise_with_the_server_message_and_count() -> None:
    with FaultServer(default="500") as server:
        teacher = RemoteEngine(server.url, max_retries=2, **FAST)
        with pytest.raises(RemoteError) as caught:
            teacher.synthesize("hi")
    error = caught.value
    assert isinstance(error, StepTTSError)
    assert error.retryable and error.status == 500
    assert "upstream fault 500 (scripted)" in str(error)
    assert "after 3 attempts" in str(error)
    assert len(server.requests) == 3


def test_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    teacher = RemoteEngine(f"http://127.0.0.1:{port}", max_retries=1, **FAST)
    with pytest.raises(RemoteError, match="connection failed.*after 2 attempts") as caught:
        teacher.synthesize("hi")
    assert caught.value.retryable and caught.value.status is None


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("html", "non-audio content type 'text/html': Welcome to the hotel wifi"),
        ("json200", "non-audio content type 'application/json': model is loading (scripted)"),
    ],
)
def test_non_audio_reply_is_an_error_and_not_retried(fault: str, words: str) -> None:
    with (
        FaultServer([fault, "ok"]) as server,
        pytest.raises(RemoteError, match="after 1 attempt") as caught,
    ):
        RemoteEngine(server.url, **FAST).synthesize("hi")
    assert words in str(caught.value)
    assert len(server.requests) == 1


def test_error_json_carries_the_server_message_and_is_not_retried() -> None:
    with FaultServer(["error400", "ok"]) as server, pytest.raises(RemoteError) as caught:
        RemoteEngine(server.url, **FAST).synthesize("hi")
    error = caught.value
    assert "voice 'nobody' does not exist (scripted)" in str(error)
    assert "invalid_request_error" in str(error)
    assert error.status == 400 and not error.retryable
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [403, 404, 422])
def test_other_client_errors_fail_at_once(status: int) -> None:
    with (
        FaultServer([status_error(status, "nope", "invalid_request_error"), "ok"]) as server,
        pytest.raises(RemoteError, match=f"HTTP {status}: nope") as caught,
    ):
        RemoteEngine(server.url, **FAST).synthesize("hi")
    assert caught.value.status == status and not caught.value.retryable
    assert len(server.requests) == 1


def test_401_without_key_says_how_to_set_it() -> None:
    with (
        FaultServer(["ok"], api_key="sk-real") as server,
        pytest.raises(RemoteError, match="no API key was given: set STEPFUN_API_KEY") as caught,
    ):
        RemoteEngine(server.url, **FAST).synthesize("hi")
    assert caught.value.status == 401 and not caught.value.retryable
    assert len(server.requests) == 1


def test_401_with_a_wrong_key_says_it_was_refused() -> None:
    with (
        FaultServer(["401"]) as server,
        pytest.raises(RemoteError, match="invalid api key.*refused the API key") as caught,
    ):
        RemoteEngine(server.url, api_key="sk-wrong", **FAST).synthesize("hi")
    assert caught.value.status == 401
    assert "sk-wrong" not in str(caught.value)


# ---------------------------------------------------------------- checked before any request


def test_long_input_raises_text_error_without_a_request() -> None:
    with FaultServer(["ok"]) as server:
        teacher = RemoteEngine(server.url, **FAST)
        teacher.synthesize("a" * 1000)  # the limit itself is fine
        with pytest.raises(TextError, match="1001 characters"):
            teacher.synthesize("a" * 1001)
        with pytest.raises(TextError, match=r"inline tags \(RAP\)"):
            teacher.synthesize("a" * 996, ["高兴1", "RAP"])
        with pytest.raises(TextError):
            teacher.synthesize("   ")
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"speed": 2.5}, RemoteError),
        ({"speed": 0.4}, RemoteError),
        ({"volume": 0.05}, RemoteError),
        ({"speed": 2.0, "tags": ["快速2"]}, RemoteError),
        ({"tags": ["British"]}, TagError),
        ({"tags": ["happy", "sad"]}, TagError),
        ({"tags": ["nonsense"]}, TagError),
    ],
)
def test_bad_controls_and_tags_fail_without_a_request(kwargs: dict, error: type) -> None:
    with FaultServer(["ok"]) as server, pytest.raises(error):
        RemoteEngine(server.url, **FAST).synthesize("hi", **kwargs)
    assert server.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "ftp://example.com"},
        {"base_url": "localhost:8000"},
        {"base_url": "http://127.0.0.1", "sample_rate_hz": 44100},
        {"base_url": "http://127.0.0.1", "response_format": "aiff"},
        {"base_url": "http://127.0.0.1", "max_concurrency": 0},
    ],
)
def test_bad_configuration_is_a_typed_error(kwargs: dict) -> None:
    with pytest.raises(RemoteError):
        RemoteEngine(**kwargs)


# ---------------------------------------------------------------- sharing across threads


def test_concurrency_limit_is_respected_across_threads() -> None:
    with FaultServer(default=ok(delay_s=0.15)) as server:
        teacher = RemoteEngine(server.url, max_concurrency=2, timeout_s=5.0)
        results: list[int] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                results.append(len(teacher.synthesize("hi")[0]))
            except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert errors == []
    assert results == [6000] * 6
    assert len(server.requests) == 6
    assert server.max_in_flight == 2


def test_repr_hides_the_key() -> None:
    teacher = RemoteEngine("http://127.0.0.1:1", api_key="sk-secret")
    assert "sk-secret" not in repr(teacher)


def test_remote_module_does_not_import_torch() -> None:
    code = "import sys, steptts.remote; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_behaviour_objects_compose() -> None:
    custom = Behaviour("slow-ok", audio=True, delay_s=0.05, sine_hz=440.0)
    with FaultServer([custom]) as server:
        audio, sample_rate_hz, _ = RemoteEngine(server.url, **FAST).synthesize("hi")
    assert abs(dominant_hz(audio, sample_rate_hz) - 440.0) < 5.0
    assert server.requests[0].behaviour == "slow-ok"


# ---------------------------------------------------------------- every TTS control through the remote engine


@pytest.mark.parametrize(
    ("controls", "expected"),
    [
        ({"emotion": "happy"}, {"voice_label": {"emotion": "高兴"}}),
        (
            {"emotion": "happy", "intensity": 2},
            {"voice_label": {"emotion": "高兴"}, "input": "(高兴2)Hello there."},
        ),
        ({"language": "Cantonese"}, {"voice_label": {"language": "粤语"}, "input": "Hello there."}),
        ({"style": "rap"}, {"voice_label": {"style": "RAP"}}),
        ({"style": "slow"}, {"speed": round(1 / 1.15, 4)}),
        ({"speed": 1.5}, {"speed": 1.5}),
        ({"energy": -6.0}, {"volume": round(10 ** (-6 / 20), 4)}),
        ({"speaker": "tianmeinvsheng"}, {"voice": "tianmeinvsheng"}),
    ],
)
def test_every_tts_control_reaches_the_server(controls: dict, expected: dict) -> None:
    from steptts import TTS

    with FaultServer(["ok"]) as server:
        tts = TTS(engine="remote", base_url=server.url, remote_voice="cixingnansheng")
        audio = tts.synthesize("Hello there.", **controls)
    assert audio.duration_s > 0
    [request] = server.requests
    for key, value in expected.items():
        assert request.json.get(key) == value, (key, request.json)


@pytest.mark.parametrize(
    ("controls", "error", "named"),
    [
        ({"pitch": 2.0}, StepTTSError, "pitch"),
        ({"style": "singing", "melody": "C4:1 E4:1"}, StepTTSError, "melody"),
        ({"style": "rap", "bpm": 100}, StepTTSError, "bpm"),
        ({"energy": 12.0}, StepTTSError, "energy"),
        ({"accent": "British"}, TagError, "British"),
        ({"speed": 3.0}, RemoteError, "speed"),
    ],
)
def test_tts_controls_the_server_cannot_take_raise_before_any_request(
    controls: dict, error: type, named: str
) -> None:
    from steptts import TTS

    with FaultServer(["ok"]) as server:
        tts = TTS(engine="remote", base_url=server.url)
        with pytest.raises(error, match=named):
            tts.stream("Hello there.", **controls)
    assert server.requests == []
