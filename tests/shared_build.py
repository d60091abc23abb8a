"""Build an expensive test artefact once per pytest run, whichever pytest-xdist worker asks first.

The suite runs on two workers (``-n 2`` in pyproject's addopts). Each worker is its own process with
its own session fixtures and its own base temp folder (``…/pytest-N/popen-gw0``); what they share is
the run's folder above them. A worker that needs an artefact takes the artefact's file lock there,
builds it unless it is already there, and releases the lock; the other worker waits on the lock, then
finds it built. Without xdist the run's base temp folder is the shared one and the lock costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock


def shared_root(base: Path) -> Path:
    """The folder of this pytest run that all its workers see, from a worker's base temp folder
    (``tmp_path_factory.getbasetemp()``); without xdist, that folder itself."""
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def built_once(root: Path, name: str) -> Iterator[Path]:
    """``root / name``, with the artefact's lock held: build it in the block if it is not there yet."""
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{name}.lock")):
        yield root / name
