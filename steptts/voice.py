"""Voice packages: find, verify and describe them.

A voice is a folder with ``voice.json`` and ONNX graphs (see docs/CONTRACTS.md). Loading checks the
schema version and every file's sha256, so a corrupt or half-copied voice fails with one clear line.
Voices are found by explicit path, in ``$STEPTTS_VOICES`` (folders separated by ``os.pathsep``),
and in the installed package (the embedded default voice).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import VoiceError
from .graph import HOP_LENGTH
from .languages.base import voice_languages
from .phonemes import PhonemeVocab

SCHEMA_VERSION = 1
VOICE_FILE = "voice.json"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _packaged_dir() -> Path | None:
    try:
        from steptts.voices import packaged_voices_dir
    except ImportError:  # running from a checkout without the voices mapping
        here = Path(__file__).resolve().parent.parent / "voices"
        return here if here.is_dir() else None
    return packaged_voices_dir()


def default_voice_name() -> str:
    try:
        from steptts.voices import DEFAULT_VOICE
    except ImportError:
        return "joe-nano"
    return DEFAULT_VOICE


def search_paths() -> list[Path]:
    """Folders searched for voices by name, in order: ``$STEPTTS_VOICES``, then the package."""
    paths = [Path(p).expanduser() for p in os.environ.get("STEPTTS_VOICES", "").split(os.pathsep) if p]
    packaged = _packaged_dir()
    if packaged is not None:
        paths.append(packaged)
    return paths


@dataclass(frozen=True)
class Voice:
    """A verified voice package, ``voice.json`` parsed once (fields as in docs/CONTRACTS.md)."""

    path: Path
    """The voice folder."""
    name: str
    """The voice's name (``joe-nano``)."""
    description: str
    """One line about the voice (its teacher and size)."""
    sample_rate_hz: int
    """Rate of the graph's audio in Hertz."""
    hop_length: int
    """Samples per duration frame."""
    language: str
    """espeak-ng voice used to phonemize untagged text (``en-us``)."""
    languages: list[str]
    """Language codes the voice speaks (``en``, ``zh``…): ``voice.json``'s ``languages``, else derived
    from ``language`` and its language tags (:func:`steptts.languages.base.voice_languages`)."""
    phoneme_vocab: PhonemeVocab
    """Phoneme symbol → graph token id."""
    tag_vocab: dict[str, int]
    """Tag key (e.g. ``高兴2``) → graph tag id; id 0 means "no tag"."""
    speakers: dict[str, int]
    """Speaker name → graph speaker id; the first is the default."""
    tag_controls: dict[str, dict[str, float]]
    """Tags performed through the controls rather than a tag id: key → {control: value}.
    ``speed`` multiplies the tempo; ``pitch_semitones`` and ``energy_db`` add."""
    phoneme_substitutions: dict[str, str]
    """Symbols this voice never learned → the symbols it says instead (applied after espeak-ng)."""
    files: dict[str, str]
    """File name → sha256 (hex) of every file of the package."""
    variants: dict[str, str]
    """Graph variant (``fp32``, ``fp16``, ``int8``) → file name."""
    provenance: dict
    """Teacher, corpus, hours, steps, command and licence of the voice's training run."""
    parity: dict
    """Per variant: the graph against the torch student (``snr_db``, ``mel_snr_db`` in dB, …)."""

    @property
    def tag_keys(self) -> list[str]:
        """Every tag the voice performs: learned tag ids, then tags done through controls."""
        learned = [key for key, index in sorted(self.tag_vocab.items(), key=lambda kv: kv[1]) if index != 0]
        return learned + [key for key in self.tag_controls if key not in learned]

    @property
    def size_bytes(self) -> int:
        """Bytes on disk of the package's files."""
        return sum((self.path / name).stat().st_size for name in self.files)

    def tag_inputs(self, tag_keys: list[str], speed: float = 1.0, pitch_semitones: float = 0.0,
                   energy_db: float = 0.0) -> tuple[list[int], tuple[float, float, float]]:
        """The graph's tag ids and (speed, pitch_semitones, energy_db) controls for ``tag_keys``.

        A tag done through controls (``tag_controls``) scales the speed and adds to pitch and energy;
        a learned tag gives its id (in the order given); a tag the voice has neither way gives nothing.
        """
        tag_ids = []
        for key in tag_keys:
            deltas = self.tag_controls.get(key)
            if deltas is None:
                if key in self.tag_vocab:
                    tag_ids.append(self.tag_vocab[key])
                continue
            speed *= deltas.get("speed", 1.0)
            pitch_semitones += deltas.get("pitch_semitones", 0.0)
            energy_db += deltas.get("energy_db", 0.0)
        return tag_ids, (speed, pitch_semitones, energy_db)

    def model_path(self, variant: str = "fp32") -> Path:
        """Path of a graph variant (``fp32``, ``fp16``, ``int8``); VoiceError if the voice lacks it."""
        if variant not in self.variants:
            raise VoiceError(
                f"voice '{self.name}' has no {variant} variant; it has: {', '.join(sorted(self.variants))}"
            )
        return self.path / self.variants[variant]

    def has_variant(self, variant: str) -> bool:
        return variant in self.variants


def find_voice(name_or_path: str | os.PathLike | None = None) -> Path:
    """Folder of a voice given by path or by name; the default voice when None."""
    if name_or_path is None:
        name_or_path = default_voice_name()
    candidate = Path(name_or_path).expanduser()
    if candidate.is_dir() and (candidate / VOICE_FILE).exists():
        return candidate
    if candidate.name == VOICE_FILE and candidate.exists():
        return candidate.parent
    name = str(name_or_path)
    for folder in search_paths():
        if (folder / name / VOICE_FILE).exists():
            return folder / name
    known = sorted(info.name for info in list_voices())
    hint = f"installed voices: {', '.join(known)}" if known else "no voice is installed"
    if os.sep in name or candidate.exists():
        raise VoiceError(f"'{name}' is not a voice folder (no {VOICE_FILE}); {hint}")
    raise VoiceError(f"unknown voice '{name}'; {hint} (search path: $STEPTTS_VOICES, then the package)")


def load_voice(name_or_path: str | os.PathLike | None = None, verify: bool = True) -> Voice:
    """Load and verify a voice: schema version, required fields, and every file's sha256."""
    folder = find_voice(name_or_path)
    try:
        config = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VoiceError(f"voice at {folder}: cannot read {VOICE_FILE}: {error}") from None
    if not isinstance(config, dict):
        raise VoiceError(f"voice at {folder}: {VOICE_FILE} is not a JSON object")
    version = config.get("schema_version")
    if version != SCHEMA_VERSION:
        raise VoiceError(
            f"voice at {folder}: schema_version {version!r} is not supported (this steptts reads "
            f"{SCHEMA_VERSION}); re-export the voice or upgrade steptts"
        )
    missing = [key for key in ("name", "sample_rate", "phoneme_vocab", "tag_vocab", "speakers", "files")
               if key not in config]
    if missing:
        raise VoiceError(f"voice at {folder}: {VOICE_FILE} lacks {', '.join(missing)}")
    _check_substitutions(folder, config)
    if verify:
        for file_name, expected in config["files"].items():
            file_path = folder / file_name
            if not file_path.exists():
                raise VoiceError(f"voice '{config['name']}': file {file_name} is missing from {folder}")
            actual = sha256_file(file_path)
            if actual != expected:
                raise VoiceError(
                    f"voice '{config['name']}': checksum mismatch for {file_name} (expected "
                    f"{expected[:12]}…, got {actual[:12]}…): the file is corrupt or was modified"
                )
    return _parse(folder, config)


def _parse(folder: Path, config: dict) -> Voice:
    return Voice(
        path=folder,
        name=str(config["name"]),
        description=str(config.get("description", "")),
        sample_rate_hz=int(config["sample_rate"]),
        hop_length=int(config.get("hop_length", HOP_LENGTH)),
        language=str(config.get("language", "en-us")),
        languages=voice_languages(config),
        phoneme_vocab=PhonemeVocab(dict(config["phoneme_vocab"])),
        tag_vocab={str(k): int(v) for k, v in config["tag_vocab"].items()},
        speakers={str(k): int(v) for k, v in config["speakers"].items()},
        tag_controls={str(k): dict(v) for k, v in config.get("tag_controls", {}).items()},
        phoneme_substitutions=dict(config.get("phoneme_substitutions", {})),
        files=dict(config["files"]),
        variants=dict(config.get("variants", {"fp32": "model.onnx"})),
        provenance=dict(config.get("provenance", {})),
        parity=dict(config.get("parity", {})),
    )


def _check_substitutions(folder: Path, config: dict) -> None:
    table = config.get("phoneme_substitutions", {})
    vocab = config["phoneme_vocab"]
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and len(k) == len(v) and all(c in vocab for c in v)
        for k, v in table.items()
    ):
        raise VoiceError(
            f"voice at {folder}: phoneme_substitutions must map phoneme strings to strings of as many "
            f"symbols of its phoneme_vocab, got {table!r}"
        )


@dataclass(frozen=True)
class VoiceInfo:
    """What `steptts voices` shows about one voice."""

    name: str
    """The voice's name (its folder's name when it cannot be loaded)."""
    path: Path
    """The voice folder."""
    sample_rate_hz: int
    """Rate of its audio in Hertz (0 when it cannot be loaded)."""
    size_bytes: int
    """Bytes on disk of its files (0 when it cannot be loaded)."""
    tag_keys: list[str]
    """Tags it performs (see :attr:`Voice.tag_keys`)."""
    description: str
    """One line about the voice."""
    problem: str | None = None
    """Why the voice cannot be used, or None when it loads."""
    languages: tuple[str, ...] = ()
    """Language codes it speaks (see :attr:`Voice.languages`)."""


def list_voices() -> list[VoiceInfo]:
    """Every voice in the search path (first one wins per name), verified."""
    seen: dict[str, VoiceInfo] = {}
    for folder in search_paths():
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.name in seen or not (child / VOICE_FILE).exists():
                continue
            try:
                voice = load_voice(child)
                seen[child.name] = VoiceInfo(voice.name, child, voice.sample_rate_hz, voice.size_bytes,
                                             voice.tag_keys, voice.description, languages=tuple(voice.languages))
            except VoiceError as error:
                seen[child.name] = VoiceInfo(child.name, child, 0, 0, [], "", problem=str(error))
    return list(seen.values())


def voices_speaking(code: str) -> list[str]:
    """Names of the installed, loadable voices that speak language ``code``."""
    return [info.name for info in list_voices() if info.problem is None and code in info.languages]
