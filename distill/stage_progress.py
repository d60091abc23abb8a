"""One rich progress bar for a cloning stage: on a terminal only (silent in CI and when piped)."""

from __future__ import annotations

import os
import sys


class StageBar:
    """``label``, a bar, done/total, a free text and the elapsed time; use as a context manager."""

    def __init__(self, label: str, total: int, done: int = 0, enabled: bool | None = None) -> None:
        """``enabled`` None: only when stderr is a terminal and ``CI`` is unset."""
        if enabled is None:
            enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                 console=Console(stderr=True))
            self._task = self._bar.add_task("", total=total, completed=done, info="")

    def __enter__(self) -> StageBar:  # noqa: PYI034 - typing.Self needs Python 3.11
        if self._bar is not None:
            self._bar.start()
        return self

    def update(self, *, completed: int | None = None, advance: int = 0, info: str | None = None) -> None:
        """Set the count (``completed``) or add to it (``advance``); ``info`` replaces the text."""
        if self._bar is None:
            return
        fields = {} if info is None else {"info": info}
        if completed is not None:
            fields["completed"] = completed
        self._bar.update(self._task, advance=advance or None, **fields)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
