"""``steptts distill clone``: its options → :func:`distill.clone.run_clone`; heavy imports run inside."""

from __future__ import annotations

import sys
from typing import Annotated

import typer


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
    language: Annotated[str | None, typer.Option(
        "--language", help="Language of the recordings: en or zh (default: detected).",
    )] = None,
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
    steps: Annotated[int, typer.Option(
        "--steps", help="Adaptation steps at most (it stops earlier once held-out utterances stop improving).",
    )] = 400,
    checkpoint_every: Annotated[int, typer.Option(
        "--checkpoint-every", help="Adaptation steps between checkpoints (and held-out scores).",
    )] = 25,
    stop_after: Annotated[str | None, typer.Option(
        "--stop-after", help="Stop after this stage: prepare, transcribe, align, adapt.",
    )] = None,
    teacher: Annotated[str | None, typer.Option(
        "--teacher", help="'remote': clone through the speech API (upload the reference, render --texts).",
    )] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="The remote speech API.")] = None,
    model: Annotated[str, typer.Option("--model", help="The remote speech model.")] = "step-tts-mini",
    texts: Annotated[str | None, typer.Option(
        "--texts", help="Corpus (text or TSV) that the remote voice reads (--teacher remote).",
    )] = None,
    adversarial: Annotated[bool, typer.Option(
        "--adversarial", help="Adapt the vocoder against discriminators too (slower per step).",
    )] = False,
    start_speaker: Annotated[str | None, typer.Option(
        "--start-speaker", help="The base speaker the clone starts from (default: chosen by --start-rule).",
    )] = None,
    start_rule: Annotated[str, typer.Option(
        "--start-rule", help="Without --start-speaker: 'aligned' (the base speaker most recordings aligned "
        "to) or 'lowest-loss' (the one whose voice fits the recordings best before any step).",
    )] = "aligned",
) -> None:
    """Clone a voice from a few minutes of recordings (only with the speaker's consent)."""
    from pathlib import Path

    from .clone import CloneConfig

    _run(CloneConfig(
        audio=(*audio, *(more_audio or [])), out=Path(out), name=name,
        transcripts=Path(transcripts) if transcripts else None, language=language, base=base,
        max_minutes=max_minutes, resume=resume, work_dir=Path(work) if work else None, progress=progress,
        steps=steps, checkpoint_every=checkpoint_every, stop_after=stop_after, teacher=teacher,
        base_url=base_url, model=model, texts=Path(texts) if texts else None, adversarial=adversarial,
        start_speaker=start_speaker, start_rule=start_rule,
    ))


def _run(config) -> None:
    """Run the clone; one line and exit 2 for bad input."""
    from steptts.errors import StepTTSError

    from .clone import run_clone

    try:
        _report(run_clone(config))
    except StepTTSError as error:
        typer.echo(f"steptts: error: {error}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("steptts: interrupted; run the same command with --resume to continue", err=True)
        sys.exit(130)


def _report(result) -> None:
    """What each stage that ran did, a few lines each."""
    typer.echo(result.prepared.format())
    if result.ignored:
        names = ", ".join(path.name for path in result.ignored[:5])
        typer.echo(f"  passed over {len(result.ignored)} files that are not audio: {names}")
    if result.transcribed is not None:
        typer.echo(result.transcribed.format())
    if result.remote_voice is not None:
        typer.echo(f"remote: voice {result.remote_voice.voice_id} read the corpus")
    if result.aligned is not None:
        typer.echo(f"align: {result.aligned} utterances aligned in {result.aligned_dir}")
        for source, reason in result.align_skipped:
            typer.echo(f"  left out an utterance of {source}: {reason}")
    adapted = result.adapted
    if adapted is not None:
        how = "stopped early: held-out loss no longer improving" if adapted.stopped_early else "step limit"
        typer.echo(
            f"adapt: {adapted.steps} steps ({how}), kept step {adapted.best_step}: held-out loss "
            f"{adapted.first_val_loss:.3f} -> {adapted.best_val_loss:.3f}; {adapted.train_utterances} train / "
            f"{adapted.val_utterances} held-out utterances"
            + (f"; resumed from step {adapted.resumed_from}" if adapted.resumed_from is not None else "")
        )
    if result.voice_dir is not None:
        typer.echo(f"export: voice written to {result.voice_dir} (try: steptts say --voice {result.voice_dir} …)")
