"""``steptts distill clone``: its options → :func:`distill.clone.run_clone`; heavy imports run inside."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

EXIT_STAGE_NOT_BUILT = 3
"""Exit status when the run stops at a stage this version lacks (bad input exits 2)."""


def clone_command(
    audio: Annotated[list[str], typer.Option(
        "--audio", help="Recordings: audio files (wav, flac, mp3, ogg, …) or folders; more may follow.",
    )],
    out: Annotated[str, typer.Option("--out", help="Voice folder to write, e.g. voices/NAME.")],
    more_audio: Annotated[list[str] | None, typer.Argument(
        help="Further recordings (so `--audio A B` works).", show_default=False,
    )] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Voice name (default: the folder's name).",
    )] = None,
    transcripts: Annotated[str | None, typer.Option(
        "--transcripts", help="TSV of 'file name<TAB>transcript' lines; without it the audio is transcribed.",
    )] = None,
    language: Annotated[str, typer.Option("--language", help="Language of the recordings: en or zh.")] = "en",
    base: Annotated[str | None, typer.Option(
        "--base", help="Voice to adapt, by name or folder (default: the default voice).",
    )] = None,
    max_minutes: Annotated[float | None, typer.Option(
        "--max-minutes", help="Use at most this many minutes of speech (at least 1).",
    )] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run.")] = False,
    work: Annotated[str | None, typer.Option(
        "--work", help="Work folder (default: the --out folder's path + '.clone-work').",
    )] = None,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Progress bars (default: on a terminal).",
    )] = None,
) -> None:
    """Clone a voice from a few minutes of recordings (only with the speaker's consent)."""
    from pathlib import Path

    from steptts.errors import StepTTSError

    from .clone import CloneConfig, StageNotBuiltError, run_clone

    config = CloneConfig(
        audio=(*audio, *(more_audio or [])),
        out=Path(out),
        name=name,
        transcripts=Path(transcripts) if transcripts else None,
        language=language,
        base=base,
        max_minutes=max_minutes,
        resume=resume,
        work_dir=Path(work) if work else None,
        progress=progress,
    )
    try:
        run_clone(config)
    except StageNotBuiltError as error:
        if error.result is not None:
            typer.echo(error.result.prepared.format())
            if error.result.ignored:
                names = ", ".join(path.name for path in error.result.ignored[:5])
                typer.echo(f"  passed over {len(error.result.ignored)} files that are not audio: {names}")
            if error.result.aligned is not None:
                typer.echo(f"align: {error.result.aligned} utterances aligned in {error.result.aligned_dir}")
                for source, reason in error.result.align_skipped:
                    typer.echo(f"  left out an utterance of {source}: {reason}")
        typer.echo(f"steptts: error: {error}", err=True)
        raise typer.Exit(EXIT_STAGE_NOT_BUILT) from None
    except StepTTSError as error:
        typer.echo(f"steptts: error: {error}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("steptts: interrupted; run the same command with --resume to continue", err=True)
        sys.exit(130)
