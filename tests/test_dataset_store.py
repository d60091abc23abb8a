"""The dataset writer: atomic FLAC + manifest writes, and recovery from every interrupted state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distill.dataset_store import (
    AUDIO_DIR,
    FAILURES,
    LOCK,
    MANIFEST,
    RECORD_FIELDS,
    DatasetError,
    DatasetWriter,
    read_manifest,
    record_id,
)

SAMPLE_RATE_HZ = 22050
HOP = 256


def tone(frames: int, hz: float = 220.0) -> np.ndarray:
    """float32 [frames × 256] sine at 0.5 amplitude."""
    t = np.arange(frames * HOP) / SAMPLE_RATE_HZ
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def make_record(text: str, durations: list[int] | None = (10, 20, 10)) -> dict:
    item_id = record_id("piper:test", {"scales": [0, 1, 0]}, "joe", text, [], None)
    return {
        "id": item_id,
        "text": text,
        "phonemes": "a",
        "tags": [],
        "voice": "joe",
        "teacher": "piper:test",
        "language": "en-us",
        "sample_rate": SAMPLE_RATE_HZ,
        "durations": list(durations) if durations is not None else None,
        "edits": [],
    }


def test_record_id_is_a_stable_content_hash() -> None:
    base = ("piper:joe", {"scales": [0, 1, 0]}, "joe", "Hello.", ["高兴1"], {"tag": "高兴1", "seed": 7})
    assert record_id(*base) == record_id(*base)
    assert len(record_id(*base)) == 64
    # Dict order does not matter; every component does.
    assert record_id(
        "piper:joe", {"scales": [0, 1, 0]}, "joe", "Hello.", ["高兴1"], {"seed": 7, "tag": "高兴1"}
    ) == record_id(*base)
    variants = [
        ("piper:other", *base[1:]),
        (base[0], {"scales": [0.667, 1, 0.8]}, *base[2:]),
        (*base[:2], "amy", *base[3:]),
        (*base[:3], "Hello!", *base[4:]),
        (*base[:4], ["高兴2"], base[5]),
        (*base[:5], {"tag": "高兴1", "seed": 8}),
    ]
    assert len({record_id(*v) for v in variants} | {record_id(*base)}) == len(variants) + 1


def test_write_stores_pcm16_flac_and_a_complete_record(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "ds") as writer:
        record = writer.write(make_record("one"), tone(40))
        again = writer.write(make_record("one"), tone(40, hz=440.0))  # same id: not written twice
    assert again == record
    assert list(record)[: len(RECORD_FIELDS)] == list(RECORD_FIELDS)
    assert record["path"] == f"{AUDIO_DIR}/{record['id']}.flac"
    assert record["duration"] == pytest.approx(40 * HOP / SAMPLE_RATE_HZ)
    audio, sample_rate_hz = sf.read(tmp_path / "ds" / record["path"], dtype="float32")
    assert sample_rate_hz == SAMPLE_RATE_HZ and len(audio) == 40 * HOP
    assert np.max(np.abs(audio - tone(40))) < 2e-4  # PCM_16 rounding only
    assert sf.info(tmp_path / "ds" / record["path"]).subtype == "PCM_16"
    assert read_manifest(tmp_path / "ds") == [record]
    assert (tmp_path / "ds" / MANIFEST).read_bytes().count(b"\n") == 1


def test_loud_audio_is_clipped_not_wrapped(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path) as writer:
        record = writer.write(make_record("loud"), 3.0 * tone(8))
    audio, _ = sf.read(tmp_path / record["path"], dtype="float32")
    assert audio.max() > 0.99 and audio.min() < -0.99
    assert np.all(np.sign(audio[np.abs(tone(8)) > 0.2]) == np.sign(tone(8)[np.abs(tone(8)) > 0.2]))


def test_reopen_repairs_every_interrupted_state(tmp_path: Path) -> None:
    dataset = tmp_path / "ds"
    with DatasetWriter(dataset) as writer:
        kept = writer.write(make_record("kept"), tone(20))
        lost_flac = writer.write(make_record("flac deleted"), tone(20))
    (dataset / lost_flac["path"]).unlink()
    # What a SIGKILL can leave: a torn last line, a temporary FLAC, a FLAC renamed but not in the manifest.
    torn = make_record("torn")
    with open(dataset / MANIFEST, "ab") as handle:
        handle.write(json.dumps(torn, ensure_ascii=False).encode()[:37])
    (dataset / AUDIO_DIR / f".{torn['id']}.flac.tmp-12345").write_bytes(b"fLaC partial")
    sf.write(dataset / AUDIO_DIR / f"{torn['id']}.flac", tone(4), SAMPLE_RATE_HZ, subtype="PCM_16")
    (dataset / f".{MANIFEST}.tmp-999").write_text("half a rewrite")

    with DatasetWriter(dataset) as writer:
        assert writer.repair.torn_lines and writer.repair.dropped_records == 1
        assert writer.repair.removed_temp == 1 and writer.repair.removed_orphans == 1
        assert set(writer.done) == {kept["id"]}
        writer.write(make_record("after"), tone(12))
    records = read_manifest(dataset)
    assert [r["text"] for r in records] == ["kept", "after"]
    assert sorted(p.name for p in (dataset / AUDIO_DIR).iterdir()) == sorted(
        Path(r["path"]).name for r in records
    )
    assert sorted(p.name for p in dataset.iterdir()) == sorted([AUDIO_DIR, MANIFEST, FAILURES, LOCK])
    for line in (dataset / MANIFEST).read_text(encoding="utf-8").splitlines():
        json.loads(line)

    with DatasetWriter(dataset) as writer:  # a clean folder needs no repair
        assert writer.repair.torn_lines is False and writer.repair.removed_orphans == 0


def test_duplicate_manifest_lines_are_dropped_on_open(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path) as writer:
        record = writer.write(make_record("twice"), tone(8))
    with open(tmp_path / MANIFEST, "ab") as handle:
        handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
    assert len(read_manifest(tmp_path)) == 1
    with DatasetWriter(tmp_path) as writer:
        assert writer.repair.dropped_records == 1
    assert (tmp_path / MANIFEST).read_bytes().count(b"\n") == 1


def test_failures_are_kept_until_their_item_is_written(tmp_path: Path) -> None:
    a, b = make_record("a"), make_record("b")
    with DatasetWriter(tmp_path) as writer:
        writer.record_failure(a["id"], "http_503", "server busy", text="a")
        writer.record_failure(b["id"], "http_503", "server busy", text="b")
        writer.record_failure(b["id"], "timeout", "timed out", text="b")
        assert [f["cause"] for f in writer.compact_failures()] == ["http_503", "timeout"]
    with DatasetWriter(tmp_path) as writer:
        assert {f["id"] for f in writer.previous_failures()} == {a["id"], b["id"]}
        writer.write(a, tone(8))
        remaining = writer.compact_failures()
    assert [f["id"] for f in remaining] == [b["id"]]
    lines = (tmp_path / FAILURES).read_text().splitlines()
    assert [json.loads(line)["cause"] for line in lines] == ["timeout"]


def test_bad_folders_and_manifests_raise_dataset_errors(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        DatasetWriter(not_a_folder)
    with pytest.raises(DatasetError, match="not a steptts dataset"):
        read_manifest(tmp_path)


def test_two_writers_on_one_folder_are_refused(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path) as writer:
        with pytest.raises(DatasetError, match="another run"):
            DatasetWriter(tmp_path)
        writer.write(make_record("still fine"), tone(8))
    with DatasetWriter(tmp_path) as writer:  # released on close (and by the kernel on any death)
        assert len(writer.done) == 1
