"""Clone stage 5, export: the adapted student → a voice package like any other (:mod:`export.voice_export`).

The weights are stage 4's ``best.pt``; the package is written to a temporary folder beside ``--out``
and renamed into place when complete, so an interrupted export leaves no half voice. Its
``voice.json`` provenance says that it was cloned from user audio (the sha256 and minutes of each
source file), the minutes used, the steps, where the transcripts came from and the base voice.

Every tag of the base voice keeps working: the export performs the speed tags through the graph's
speed control as for any voice, the learned tags keep their ids (the tag table was frozen), and
the base voice's phoneme substitutions (accent symbols it never learned) and languages are carried
over.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from steptts.errors import StepTTSError

EXPORT_CHECKPOINT = "export.pt"
"""The checkpoint handed to :func:`export.voice_export.export_voice`: ``best.pt`` plus the provenance."""
CONSENT = "a voice may be cloned only with its speaker's consent"


class CloneExportError(StepTTSError):
    """The adapted student cannot be packaged, or the package lost a tag of its base voice."""


def clone_provenance(
    *, teacher: str, base, sources: list[dict], minutes_used: float, steps: int, transcripts: str,
    adapt: dict, extra: dict | None = None,
) -> dict:
    """The provenance of a cloned voice.

    Args:
        teacher: ``user-audio`` (trained on the recordings) or ``remote:MODEL`` (on the teacher's renders).
        base: the base :class:`steptts.voice.Voice`.
        sources: per recording ``{"file", "sha256", "minutes"}`` (minutes kept from it).
        minutes_used: minutes of audio the adaptation trained and validated on.
        steps: optimizer steps of the kept weights.
        transcripts: ``whisper``, ``tsv`` or ``teacher`` (the remote teacher read a corpus).
        adapt: stage 4's figures. extra: more fields (e.g. the remote voice id).
    """
    from steptts.voice import sha256_file

    base_licence = (base.provenance or {}).get("licence", "unknown")
    return {
        "teacher": [teacher],
        "cloned_from_user_audio": True,
        "consent": CONSENT,
        "sources": sources,
        "minutes_used": round(minutes_used, 3),
        "hours": round(minutes_used / 60, 4),
        "steps": int(steps),
        "transcripts": transcripts,
        "base_voice": {"name": base.name, "model_sha256": sha256_file(base.model_path("fp32")),
                       "licence": base_licence},
        "licence": base_licence,
        "adapt": adapt,
        "command": " ".join(sys.argv),
        **(extra or {}),
    }


def export_clone(best: Path, out: Path, name: str, base, provenance: dict) -> dict:
    """Package ``best`` (stage 4's ``best.pt``) as the voice folder ``out``; returns its voice.json.

    Raises:
        CloneExportError: the package lacks a tag the base voice has.
    """
    import torch

    from export.voice_export import export_voice

    checkpoint = torch.load(best, map_location="cpu", weights_only=False)
    checkpoint["provenance"] = provenance
    staged = best.with_name(EXPORT_CHECKPOINT)
    temporary = staged.with_name(f".{staged.name}.tmp-{os.getpid()}")
    torch.save(checkpoint, temporary)
    os.replace(temporary, staged)
    building = out.with_name(f".{out.name}.export-tmp")
    shutil.rmtree(building, ignore_errors=True)
    licence = provenance.get("licence", "unknown")
    description = f"clone of a user's voice ('{name}'), adapted from the voice '{base.name}'"
    export_voice(staged, building, name=name, description=description, licence=licence)
    config = _carry_over(building, base)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # an empty folder, or what an earlier interrupted run left: no voice.json in it
        shutil.rmtree(out)
    os.replace(building, out)
    return config


def _carry_over(folder: Path, base) -> dict:
    """Give the package the base voice's phoneme substitutions and languages; check its tags."""
    from steptts.voice import VOICE_FILE, load_voice

    path = folder / VOICE_FILE
    config = json.loads(path.read_text(encoding="utf-8"))
    config["phoneme_substitutions"] = dict(base.phoneme_substitutions)
    config["languages"] = list(base.languages)  # a clone speaks what its base speaks (declared or derived)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    lost = sorted(set(base.tag_keys) - set(load_voice(folder).tag_keys))
    if lost:
        raise CloneExportError(f"the clone lost tags of its base voice '{base.name}': {', '.join(lost)}")
    return config
