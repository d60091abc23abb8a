"""Cloning through the teacher (``--teacher remote``): the speaker's reference becomes a voice of the
Step-Audio speech API, and that voice reads a corpus for the student, as Step-Audio's data engine does.

1. :func:`create_remote_voice` uploads the reference, ``POST {base}/v1/files`` (multipart, ``file`` and
   ``purpose=storage``) → ``{"id": file id}``, then ``POST {base}/v1/audio/voices`` with JSON
   ``{"model", "file_id", "text"?}`` → ``{"id": voice id}``. Errors come back as
   ``{"error": {"message", "type"}}``; 408, 429 and 5xx answers, time-outs and broken connections are
   retried with exponential backoff (honouring ``Retry-After``), anything else fails at once with one
   line (:class:`steptts.errors.RemoteError`).
2. :func:`render_corpus` has the data engine (:mod:`distill.data_engine`) render the corpus with the
   remote teacher and that voice into a dataset: resumable, as every data engine run.

The voice id is kept in the work folder (:data:`REMOTE_VOICE`), so a resumed clone does not upload
again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from steptts.errors import RemoteError

FILES_PATH = "/v1/files"
VOICES_PATH = "/v1/audio/voices"
REMOTE_VOICE = "remote-voice.json"
"""Work-folder file holding the created voice (:class:`RemoteVoice` as JSON)."""
RENDERED = "rendered"
"""Work-folder dataset of the teacher's renders."""
_RETRYABLE = frozenset({408, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class RemoteVoice:
    """A voice created on the speech API from the speaker's reference."""

    voice_id: str
    """The API's voice id (the ``voice`` of speech requests)."""
    file_id: str
    """The uploaded reference's file id."""
    reference_sha256: str
    """sha256 of the uploaded bytes."""
    base_url: str
    """The API, ``http(s)://host[:port]``."""
    model: str
    """The speech model the voice belongs to."""


def _api_root(base_url: str) -> str:
    """``http://host:port[/prefix]`` without a trailing ``/v1`` (the paths carry it)."""
    return base_url.strip().rstrip("/").removesuffix("/v1")


def _post(client, url: str, attempts: int, backoff_s: float, **request) -> dict:
    """POST with retries; the reply's JSON object. Raises RemoteError with the server's message."""
    import httpx

    from steptts.remote import parse_retry_after

    for attempt in range(1, attempts + 1):
        wait_s = backoff_s * 2 ** (attempt - 1)
        try:
            response = client.post(url, **request)
        except httpx.HTTPError as error:
            problem, retryable = f"connection failed: {type(error).__name__}: {error}", True
        else:
            if response.status_code == 200:
                try:
                    reply = response.json()
                except ValueError:
                    reply = None
                if isinstance(reply, dict) and reply.get("id"):
                    return reply
                problem, retryable = f"HTTP 200 without an id: {response.text[:200]!r}", False
            else:
                problem = f"HTTP {response.status_code}: {_message(response)}"
                retryable = response.status_code in _RETRYABLE
                wait_s = parse_retry_after(response.headers.get("Retry-After")) or wait_s
        if not retryable or attempt == attempts:
            tried = f"after {attempt} attempt{'s' if attempt > 1 else ''}"
            raise RemoteError(f"remote teacher {url}: {problem} ({tried})", retryable=retryable)
        time.sleep(min(wait_s, 30.0))
    raise AssertionError("unreachable")


def _message(response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or error)
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase


def create_remote_voice(
    base_url: str, model: str, reference: Path, text: str | None = None, api_key: str | None = None,
    timeout_s: float = 60.0, max_retries: int = 2, backoff_s: float = 0.5,
) -> RemoteVoice:
    """Upload ``reference`` (an audio file) and create a voice from it; see the module docstring.

    Args:
        text: what the reference says, when known (the API takes it as a hint).
        api_key: Bearer key; None: ``$STEPFUN_API_KEY`` (no header when unset, for local servers).
    Raises:
        RemoteError: a bad URL, or any fault once the retries are spent (one line).
    """
    import os

    import httpx

    from steptts.remote import API_KEY_ENV
    from steptts.voice import sha256_file

    root = _api_root(base_url)
    if not root.startswith(("http://", "https://")):
        raise RemoteError(f"--base-url must be http(s)://host[:port], got '{base_url}'")
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    attempts = max_retries + 1
    with httpx.Client(headers=headers, timeout=timeout_s) as client:
        upload = _post(client, root + FILES_PATH, attempts, backoff_s, data={"purpose": "storage"},
                       files={"file": (reference.name, reference.read_bytes(), "audio/flac")})
        body = {"model": model, "file_id": upload["id"]} | ({"text": text} if text else {})
        voice = _post(client, root + VOICES_PATH, attempts, backoff_s, json=body)
    return RemoteVoice(str(voice["id"]), str(upload["id"]), sha256_file(reference), root, model)


def saved_or_created_voice(work: Path, base_url: str, model: str, reference: Path, text: str | None) -> RemoteVoice:
    """The voice an earlier run of this clone created (same API, model and reference), else a new one."""
    from steptts.voice import sha256_file

    path = work / REMOTE_VOICE
    if path.exists():
        saved = RemoteVoice(**json.loads(path.read_text(encoding="utf-8")))
        if (saved.base_url, saved.model, saved.reference_sha256) == (
                _api_root(base_url), model, sha256_file(reference)):
            return saved
    voice = create_remote_voice(base_url, model, reference, text)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(voice), indent=1), encoding="utf-8")
    temporary.replace(path)
    return voice


def render_corpus(voice: RemoteVoice, texts: Path, out_dir: Path, progress: bool | None) -> list[dict]:
    """The corpus read by the remote voice, as a dataset in ``out_dir``; its records in corpus order.

    Raises:
        RemoteError: the teacher failed on every line, or the run was interrupted.
    """
    from distill.data_engine import DataConfig, run_datagen
    from distill.dataset_store import read_manifest

    report = run_datagen(DataConfig(
        texts=[texts], out_dir=out_dir, teacher="remote",
        teacher_options={"base_url": voice.base_url, "model": voice.model, "max_retries": 2},
        voice=voice.voice_id, tag_plan="none", workers=2, progress=progress,
    ))
    if report.exit_code != 0 or report.failures:
        causes = ", ".join(f"{count} {cause}" for cause, count in report.failures.items()) or "interrupted"
        raise RemoteError(
            f"the remote teacher rendered {report.total_records} of {report.planned} corpus lines ({causes}); "
            f"see {out_dir / 'failures.jsonl'}, then run the same command with --resume"
        )
    return read_manifest(out_dir)
