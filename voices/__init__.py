"""Voice packages that ship inside the steptts wheel (installed as ``steptts.voices``)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_VOICE = "joe-nano"
"""Name of the embedded default voice (a folder beside this file)."""


def packaged_voices_dir() -> Path:
    """The folder holding the voice packages shipped with steptts."""
    return Path(__file__).resolve().parent
