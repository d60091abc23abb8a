"""Training data for the student: vocabularies, the feature cache and length-bucketed batches.

Every utterance of every dataset is held in RAM: features as float32, audio as int16 (converted
per batch), about 2 GB for 10 hours. Features come from :func:`distill.features.extract_features`,
computed once per utterance and kept in ``<dataset>/.features-v<FEATURES_VERSION>/<id>.npz``.

Batches are planned globally (the same for every world size) and each rank takes its shard of
each, so one process and N processes see the same global batches in the same order.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.dataset_store import DatasetError, read_manifest
from distill.features import FEATURES_VERSION
from steptts.graph import HOP_LENGTH as HOP
from steptts.graph import SAMPLE_RATE_HZ
from steptts.phonemes import PhonemeVocab, tokenize
from steptts.tags import all_tag_keys

FEATURES_DIR = f".features-v{FEATURES_VERSION}"  # features.py bumps the version when its output changes
MAX_LEADING_SILENCE_FRAMES = 8
"""Frames (of HOP samples, 8 ≈ 93 ms) the start marker "^" may hold before the first phoneme. Piper
starts speaking after 4 (median; 9 at the 95th percentile); Kokoro pads ~37 frames (0.43 s) of silence,
which a student would learn and say before every sentence, first chunk included. Longer leads are cut
to this at load time, in the audio and its features alike (the dataset on disk is left as it is)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Vocabularies:
    """The symbol → id maps a student is trained with; they travel in the checkpoint and voice.json."""

    phoneme_vocab: PhonemeVocab
    """Phoneme symbol → id; id 0 is the pad."""
    tag_vocab: dict[str, int]
    """Tag key → id; id 0 is ``<none>`` (padding)."""
    speakers: dict[str, int]
    """Speaker (the dataset's ``voice``) → id."""
    language: str = "en-us"
    """espeak-ng voice for untagged text."""

    def to_json(self) -> dict:
        return {
            "phoneme_vocab": self.phoneme_vocab.to_json(),
            "tag_vocab": dict(self.tag_vocab),
            "speakers": dict(self.speakers),
            "language": self.language,
        }

    @classmethod
    def from_json(cls, data: dict) -> Vocabularies:
        return cls(
            PhonemeVocab(dict(data["phoneme_vocab"])),
            dict(data["tag_vocab"]),
            dict(data["speakers"]),
            data.get("language", "en-us"),
        )


@dataclass
class Record:
    """One manifest line and the dataset folder it came from."""

    fields: dict
    """The manifest line's JSON object (docs/CONTRACTS.md)."""
    dataset_dir: Path
    """The dataset folder holding it."""

    @property
    def id(self) -> str:
        return self.fields["id"]

    @property
    def audio_path(self) -> Path:
        return self.dataset_dir / self.fields["path"]

    @property
    def feature_path(self) -> Path:
        return self.dataset_dir / FEATURES_DIR / f"{self.id}.npz"


@dataclass
class Utterance:
    """One training example, ready to batch. T tokens, F frames of ``HOP`` samples."""

    id: str  # the dataset record id
    phoneme_ids: np.ndarray  # int64 [T]
    tag_ids: np.ndarray  # int64 [K]
    speaker_id: int  # index in the speaker vocabulary
    durations: np.ndarray | None  # int64 [T], frames per token, summing to F; None when unknown
    mel: np.ndarray  # float32 [F, 80]
    f0_hz: np.ndarray  # float32 [F], 0 = unvoiced
    energy: np.ndarray  # float32 [F]
    audio: np.ndarray  # int16 [F * HOP]

    @property
    def n_frames(self) -> int:
        return len(self.mel)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE_HZ


def read_records(data_dirs: Sequence[str | Path]) -> list[Record]:
    """Every record of every dataset, sorted by id; an id seen twice (ids are content hashes) counts once."""
    records: dict[str, Record] = {}
    for folder in data_dirs:
        folder = Path(folder)
        for fields in read_manifest(folder):
            records.setdefault(fields["id"], Record(fields, folder))
    if not records:
        raise DatasetError(f"no utterances in {', '.join(str(d) for d in data_dirs)}")
    # By id, not manifest order: a dataset written by parallel workers (or listed in another
    # order) still gives the same utterance indices, hence the same data order for a seed.
    return sorted(records.values(), key=lambda record: record.id)


def build_vocabularies(records: Sequence[Record], language: str = "en-us") -> Vocabularies:
    """Phoneme, tag and speaker vocabularies of everything in ``records``.

    Tags are ``<none>`` then the seen keys sorted; a key the tag grammar does not know is an error,
    since the runtime could never produce it.
    """
    symbols: set[str] = set()
    tags: set[str] = set()
    speakers: set[str] = set()
    for record in records:
        symbols.update(tokenize(record.fields["phonemes"]))
        tags.update(record.fields.get("tags") or [])
        speakers.add(record.fields["voice"])
    unknown = tags - set(all_tag_keys())
    if unknown:
        raise DatasetError(f"the data holds tag keys the tag grammar does not know: {sorted(unknown)}")
    tag_vocab = {"<none>": 0} | {key: index for index, key in enumerate(sorted(tags), start=1)}
    speaker_ids = {name: index for index, name in enumerate(sorted(speakers))}
    return Vocabularies(PhonemeVocab.build(symbols), tag_vocab, speaker_ids, language)


def _read_audio_int16(record: Record) -> np.ndarray:
    """int16 [F * HOP]: the record's audio cut to whole frames."""
    import soundfile

    audio, sample_rate_hz = soundfile.read(record.audio_path, dtype="int16", always_2d=True)
    if sample_rate_hz != SAMPLE_RATE_HZ:
        raise DatasetError(
            f"{record.audio_path}: {sample_rate_hz} Hz, the student trains at {SAMPLE_RATE_HZ} Hz"
        )
    audio = audio[:, 0]
    return audio[: len(audio) // HOP * HOP]


def _cached_features(record: Record, audio: np.ndarray) -> dict[str, np.ndarray]:
    """The record's features from the cache, computed and stored (atomically) when missing."""
    path = record.feature_path
    if path.exists():
        with np.load(path) as stored:
            return {name: stored[name] for name in ("mel", "f0_hz", "energy")}
    from distill.features import extract_features

    features = extract_features(audio.astype(np.float32) / 32768.0, SAMPLE_RATE_HZ)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as file:
        np.savez(file, **features)
    os.replace(tmp, path)
    return features


def _load_one(job: tuple[Record, Vocabularies]) -> Utterance:
    record, vocab = job
    fields = record.fields
    audio = _read_audio_int16(record)
    features = _cached_features(record, audio)
    n_frames = len(audio) // HOP
    if len(features["mel"]) != n_frames:
        raise DatasetError(
            f"{record.feature_path}: {len(features['mel'])} frames, the audio has {n_frames}; "
            f"delete {record.dataset_dir / FEATURES_DIR} to recompute"
        )
    tokens = tokenize(fields["phonemes"])
    missing = sorted({token for token in tokens if token not in vocab.phoneme_vocab.symbol_to_id})
    if missing:
        raise DatasetError(f"utterance {record.id} has phonemes the vocabulary lacks: {missing}")
    unknown_tags = [key for key in fields.get("tags") or [] if key not in vocab.tag_vocab]
    if unknown_tags or fields["voice"] not in vocab.speakers:
        raise DatasetError(
            f"utterance {record.id}: tag {unknown_tags} or voice {fields['voice']!r} "
            "is not in the checkpoint's vocabularies"
        )
    durations = None
    if fields.get("durations") is not None:
        durations = np.asarray(fields["durations"], dtype=np.int64)
        if len(durations) != len(tokens):
            raise DatasetError(f"utterance {record.id}: {len(durations)} durations for {len(tokens)} tokens")
        # Audio cut to whole frames (or an edit's rounding) can leave the sum a frame or two off the
        # audio; the end marker "$" absorbs that so durations tile the frames. A larger gap is a
        # broken record: its row is aligned by the model (MAS) instead.
        gap = n_frames - int(durations.sum())
        if abs(gap) <= max(2, n_frames // 50) and durations[-1] + gap >= 0:
            durations[-1] += gap
        else:
            log.warning(
                "utterance %s: durations sum to %d frames, the audio has %d; aligned instead",
                record.id,
                durations.sum(),
                n_frames,
            )
            durations = None
    if durations is not None and durations[0] > MAX_LEADING_SILENCE_FRAMES:
        cut = int(durations[0]) - MAX_LEADING_SILENCE_FRAMES
        durations[0] = MAX_LEADING_SILENCE_FRAMES
        audio = audio[cut * HOP:]
        features = {name: values[cut:] for name, values in features.items()}
    return Utterance(
        id=record.id,
        phoneme_ids=np.array(vocab.phoneme_vocab.encode(fields["phonemes"])[0], dtype=np.int64),
        tag_ids=np.array([vocab.tag_vocab[key] for key in fields.get("tags") or []], dtype=np.int64),
        speaker_id=vocab.speakers[fields["voice"]],
        durations=durations,
        mel=features["mel"].astype(np.float32, copy=False),
        f0_hz=features["f0_hz"].astype(np.float32, copy=False),
        energy=features["energy"].astype(np.float32, copy=False),
        audio=audio,
    )


def load_utterances(
    records: Sequence[Record], vocab: Vocabularies, workers: int = 1, progress: bool = True
) -> list[Utterance]:
    """Every record as an :class:`Utterance`, computing missing features with ``workers`` processes."""
    jobs = [(record, vocab) for record in records]
    uncached = sum(not record.feature_path.exists() for record in records)
    label = f"features ({uncached} to compute)" if uncached else "loading data"
    if workers <= 1 or (uncached == 0 and len(jobs) < 256):  # a pool costs more than it saves
        results = map(_load_one, jobs)
        return _with_progress(results, len(jobs), label, progress)
    import multiprocessing

    # spawn, not fork: a forked copy of a process that already holds torch threads can deadlock.
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_one_thread) as pool:
        results = pool.imap(_load_one, jobs, chunksize=max(1, min(32, len(jobs) // (workers * 8))))
        return _with_progress(results, len(jobs), label, progress)


def _one_thread() -> None:
    import torch  # extract_features runs torch ops: one thread per worker, the workers fill the cores

    torch.set_num_threads(1)


def _with_progress(results, total: int, label: str, progress: bool) -> list:
    if not progress:
        return list(results)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        collected = []
        for result in results:
            collected.append(result)
            bar.advance(task)
    return collected


def split_validation(utterances: Sequence[Utterance], n_val: int) -> tuple[list[Utterance], list[Utterance]]:
    """(train, validation): the ``n_val`` utterances with the smallest id hashes are held out.

    Hashing the id makes the choice stable across runs and world sizes and unrelated to data order.
    """

    def rank(utterance: Utterance) -> str:
        return hashlib.sha256(utterance.id.encode()).hexdigest()

    held = {u.id for u in sorted(utterances, key=rank)[:n_val]}
    return [u for u in utterances if u.id not in held], [u for u in utterances if u.id in held]


def plan_epoch(
    durations_s: Sequence[float], batch_seconds: float, seed: int, epoch: int, min_items: int = 1
) -> list[list[int]]:
    """Global batches of one epoch, as lists of utterance indices.

    Utterances of similar length share a batch (sorted by length with a random jitter, so buckets
    change between epochs) and a batch holds at most ``batch_seconds`` of padded audio. The batch
    order is shuffled. The plan depends only on (durations, batch_seconds, seed, epoch); batches
    with fewer than ``min_items`` utterances (one per rank) are dropped.
    """
    rng = np.random.default_rng([seed, epoch])
    lengths = np.asarray(durations_s, dtype=np.float64)
    order = np.argsort(lengths * rng.uniform(0.9, 1.1, len(lengths)), kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0.0
    for index in order.tolist():
        candidate = max(longest, lengths[index])
        if current and candidate * (len(current) + 1) > batch_seconds:
            batches.append(current)
            current, candidate = [], lengths[index]
        current.append(index)
        longest = candidate
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return [batch for batch in batches if len(batch) >= min_items]


def shard(batch: Sequence[int], rank: int, world_size: int) -> list[int]:
    """This rank's part of a global batch."""
    return list(batch[rank::world_size])


def collate(utterances: Sequence[Utterance], device="cpu"):
    """A :class:`distill.model.TrainBatch` of ``utterances`` on ``device``, padded with 0 (mel: silence).

    Shapes: tokens [B,T], tags [B,K] (K >= 1), frames [B,F], mel [B,F,80], audio [B,F*HOP].
    """
    import torch

    from distill.features import SILENCE_LOG_MEL
    from distill.model import TrainBatch

    count = len(utterances)
    max_tokens = max(len(u.phoneme_ids) for u in utterances)
    max_tags = max(1, max(len(u.tag_ids) for u in utterances))
    max_frames = max(u.n_frames for u in utterances)
    phoneme_ids = np.zeros((count, max_tokens), np.int64)
    durations = np.zeros((count, max_tokens), np.int64)
    tag_ids = np.zeros((count, max_tags), np.int64)
    mel = np.full((count, max_frames, utterances[0].mel.shape[1]), SILENCE_LOG_MEL, np.float32)
    f0_hz = np.zeros((count, max_frames), np.float32)
    energy = np.zeros((count, max_frames), np.float32)
    audio = np.zeros((count, max_frames * HOP), np.float32)
    for row, u in enumerate(utterances):
        phoneme_ids[row, : len(u.phoneme_ids)] = u.phoneme_ids
        tag_ids[row, : len(u.tag_ids)] = u.tag_ids
        if u.durations is not None:
            durations[row, : len(u.durations)] = u.durations
        mel[row, : u.n_frames] = u.mel
        f0_hz[row, : u.n_frames] = u.f0_hz
        energy[row, : u.n_frames] = u.energy
        audio[row, : len(u.audio)] = u.audio * np.float32(1 / 32768)

    def tensor(array, dtype=None):
        return torch.as_tensor(array, dtype=dtype).to(device, non_blocking=True)

    return TrainBatch(
        phoneme_ids=tensor(phoneme_ids),
        phoneme_lengths=tensor([len(u.phoneme_ids) for u in utterances], torch.int64),
        tag_ids=tensor(tag_ids),
        speaker_ids=tensor([u.speaker_id for u in utterances], torch.int64),
        durations=tensor(durations),
        has_durations=tensor([u.durations is not None for u in utterances], torch.bool),
        mel=tensor(mel),
        f0_hz=tensor(f0_hz),
        energy=tensor(energy),
        frame_lengths=tensor([u.n_frames for u in utterances], torch.int64),
        audio=tensor(audio),
    )
