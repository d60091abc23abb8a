"""`steptts distill …`: data, train and eval commands. Heavy imports happen inside each command."""

from __future__ import annotations

from typing import Any

import typer

app = typer.Typer(help="Distil a student from a teacher: make data, train, evaluate.", no_args_is_help=True)


@app.command("data")
def data_command(
    teacher: str = typer.Option("piper", "--teacher", help="piper, espeak, remote, kokoro or student."),
    texts: list[str] = typer.Option(
        ..., "--texts", help="Corpus files: text (a line each) or TSV (id<TAB>text); more may follow it."
    ),
    more_texts: list[str] = typer.Argument(
        None, help="Further corpus files (so `--texts A B` works).", show_default=False
    ),
    out: str = typer.Option(..., "--out", help="Dataset folder (created; an existing one is completed)."),
    limit: int = typer.Option(None, "--limit", help="Use only the first N corpus lines."),
    workers: int = typer.Option(2, "--workers", help="Worker processes, each with its own teacher."),
    tag_plan: str = typer.Option(
        "default", "--tag-plan", help="default, mandarin (no accents), none, or a JSON file tag → fraction."
    ),
    seed: int = typer.Option(0, "--seed", help="Seeds tag assignment and audio edits."),
    model: str = typer.Option(
        None, "--model", help="piper: the voice's .onnx; remote: the model name; kokoro: an .onnx; "
        "student: a steptts voice (folder or name)."
    ),
    voice: str = typer.Option(
        None, "--voice", help="Speaker (piper; kokoro: jm_kumo…, or a blend such as jf_alpha*0.25+jm_kumo*0.75), "
        "server voice (remote), language (espeak)."
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="remote: the speech API, e.g. https://api.stepfun.com."
    ),
    api_key: str = typer.Option(
        None, "--api-key", envvar="STEPFUN_API_KEY", show_envvar=True, help="remote: Bearer key."
    ),
    max_retries: int = typer.Option(None, "--max-retries", help="remote: retries per item (default 5)."),
    timeout_s: float = typer.Option(None, "--timeout-s", help="remote: time-out per request in seconds."),
    tone_edit: float = typer.Option(
        None, "--tone-edit", help="kokoro: pull Mandarin F0 toward each syllable's tone (0–1, default 0)."
    ),
    min_chars: int = typer.Option(3, "--min-chars", help="Shortest normalized line kept."),
    max_chars: int = typer.Option(400, "--max-chars", help="Longest normalized line kept."),
    allow_dev: bool = typer.Option(
        False, "--allow-dev", help="Allow held-out dev files (evaluation sets only)."
    ),
    mixed_lines: int = typer.Option(
        0, "--mixed-lines", help="Add up to N Mandarin lines with an English word (distill/corpus.py)."
    ),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
) -> None:
    """Render a corpus with a teacher under a tag plan into a resumable dataset (manifest.jsonl + FLAC)."""
    from pathlib import Path

    from steptts.errors import StepTTSError

    from .corpus import CorpusConfig
    from .data_engine import DataConfig, format_report, run_datagen

    if tone_edit is not None and teacher != "kokoro":
        typer.echo("steptts: error: --tone-edit is an option of --teacher kokoro", err=True)
        raise typer.Exit(2)
    remote = {"base_url": base_url, "api_key": api_key, "max_retries": max_retries, "timeout_s": timeout_s}
    options, voice = _teacher_options(teacher, model, voice, tone_edit, remote)
    config = DataConfig(
        texts=[Path(t) for t in [*texts, *(more_texts or [])]],
        out_dir=Path(out),
        teacher=teacher,
        teacher_options={k: v for k, v in options.items() if v is not None},
        voice=voice,
        limit=limit,
        workers=workers,
        tag_plan=tag_plan,
        seed=seed,
        corpus=CorpusConfig(min_chars=min_chars, max_chars=max_chars, allow_dev=allow_dev,
                            mixed_lines=mixed_lines),
        progress=progress,
    )
    try:
        report = run_datagen(config)
    except StepTTSError as error:
        typer.echo(f"steptts: error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(format_report(report, Path(out)))
    raise typer.Exit(report.exit_code)



def _teacher_options(
    teacher: str, model: str | None, voice: str | None, tone_edit: float | None, remote: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The teacher's constructor options from ``steptts distill data``'s flags, and the voice the data
    engine records (None for espeak, whose ``--voice`` is its language)."""
    if teacher == "piper":
        return {"model_path": model}, voice
    if teacher == "student":
        return {"model_path": model, "speaker": voice}, voice
    if teacher == "kokoro":
        return {"model_path": model, "tone_strength": tone_edit}, voice
    if teacher == "espeak":
        return {"language": voice}, None
    return {**remote, "model": model, "voice": voice}, voice


@app.command("retone")
def retone_command(
    data: str = typer.Option(..., "--data", help="The rendered dataset (left unchanged)."),
    out: str = typer.Option(..., "--out", help="The new dataset (created; an existing one is completed)."),
    strength: float = typer.Option(0.7, "--strength", help="How far F0 moves toward each tone (0–1]."),
    voices: list[str] = typer.Option(None, "--voice", help="Edit only this speaker's records (repeatable)."),
    workers: int = typer.Option(2, "--workers", help="Processes running the edit."),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
) -> None:
    """Give a rendered dataset's Mandarin records the tone edit (`--tone-edit`) into a new dataset."""
    from pathlib import Path

    from steptts.errors import StepTTSError

    from .retone import RetoneConfig, retone_dataset

    config = RetoneConfig(source=Path(data), out=Path(out), strength=strength, voices=tuple(voices or ()),
                          workers=workers, progress=progress)
    try:
        report = retone_dataset(config)
    except StepTTSError as error:
        typer.echo(f"steptts: error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(report.format(config.out))


@app.command("timbre")
def timbre_command(
    data: str = typer.Option(..., "--data", help="The rendered dataset (left unchanged)."),
    out: str = typer.Option(..., "--out", help="The new dataset (created; an existing one is completed)."),
    shifts: list[str] = typer.Option(
        ..., "--shift", help="A pseudo-speaker, RATIO:SEMITONES[:TILT]: formants × RATIO, F0 + SEMITONES, "
        "spectral tilt + TILT dB/octave (repeatable), e.g. 1.15:+8."),
    voices: list[str] = typer.Option(None, "--voice", help="Use only this speaker's records (repeatable)."),
    per_record: int = typer.Option(1, "--per-record", help="Shifts each record is given."),
    workers: int = typer.Option(2, "--workers", help="Processes running the edit."),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: terminal)."),
) -> None:
    """New speakers from a rendered one: its records with formants and F0 moved, one per shift."""
    from pathlib import Path

    from steptts.errors import StepTTSError

    from .timbre import TimbreConfig, TimbreShift, timbre_dataset

    try:
        parsed = tuple(TimbreShift.parse(spec) for spec in shifts)
        config = TimbreConfig(source=Path(data), out=Path(out), shifts=parsed, voices=tuple(voices or ()),
                              per_record=per_record, workers=workers, progress=progress)
        report = timbre_dataset(config)
    except StepTTSError as error:
        typer.echo(f"steptts: error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(report.format(config.out))


@app.command("train")
def train_command(
    data: list[str] = typer.Option(
        ..., "--data", help="Dataset folders (manifest.jsonl + FLAC); more may follow."
    ),
    more_data: list[str] = typer.Argument(
        None, help="Further dataset folders (so `--data A B` works).", show_default=False
    ),
    out: str = typer.Option(
        ..., "--out", help="Run folder: checkpoint.pt, metrics.csv, val/ (keep it out of git)."
    ),
    preset: str = typer.Option("nano", "--preset", help="Student size: tiny, nano, small, base or 3b."),
    steps: int = typer.Option(20_000, "--steps", help="Optimizer steps in all (a resumed run counts on)."),
    batch_seconds: float = typer.Option(
        40.0, "--batch-seconds", help="Padded audio seconds per global batch."
    ),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (linear warm-up, then cosine decay)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the initial weights and the data order."),
    threads: int = typer.Option(
        None, "--threads", help="torch threads per process (default: its share of cores)."
    ),
    workers: int = typer.Option(
        None, "--workers", help="Processes computing the feature cache (default: all cores)."
    ),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Steps between checkpoints."),
    val_every: int = typer.Option(500, "--val-every", help="Steps between validations (loss and wavs)."),
    fsdp: bool = typer.Option(
        False, "--fsdp", help="Shard with FSDP2 under torchrun even for a small preset."
    ),
    light_start: bool = typer.Option(
        True, "--light-start/--full-start",
        help="Under FSDP, build each shard unit on the meta device and keep only this rank's shard "
             "(--full-start builds the whole model on every rank first).",
    ),
    vocoder_predicted_from: float = typer.Option(
        0.6, "--vocoder-predicted-from",
        help="Fraction of the steps after which the vocoder also learns from the student's own features.",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
    init_from: str = typer.Option(
        None, "--init-from",
        help="Start a new run from a checkpoint file or a voice (folder or name): its weights and vocabularies, grown with the data's new phonemes, tags and speakers (optimizer and schedule anew).",
    ),
    adversarial_from: int = typer.Option(
        None, "--adversarial-from",
        help="From this step on, fine-tune the vocoder adversarially too (multi-period and multi-resolution "
             "discriminators, feature matching).",
    ),
) -> None:
    """Train a student on datasets; under `torchrun --nproc_per_node N -m distill train …` on N processes."""
    import sys

    from steptts.errors import StepTTSError

    from .train import TrainConfig, train

    config = TrainConfig(
        data_dirs=[*data, *(more_data or [])],
        out_dir=out,
        preset=preset,
        steps=steps,
        batch_seconds=batch_seconds,
        lr=lr,
        seed=seed,
        threads=threads,
        workers=workers,
        checkpoint_every=checkpoint_every,
        val_every=val_every,
        fsdp=fsdp,
        light_start=light_start,
        vocoder_predicted_from=vocoder_predicted_from,
        resume=resume,
        init_from=init_from,
        adversarial_from_step=adversarial_from,
        command=list(sys.argv),
    )
    try:
        train(config)
    except StepTTSError as error:
        typer.echo(f"steptts: error: {error}", err=True)
        raise typer.Exit(2) from None


@app.command("eval")
def eval_command(
    voice: str = typer.Option(
        None,
        "--voice",
        help="Student voice (name or folder); 'teacher:KIND' (e.g. teacher:piper, teacher:kokoro) or "
        "'teacher:piper+edits' evaluates a teacher itself.",
    ),
    run: str = typer.Option(None, "--run", help="Or a training run folder holding an exported voice."),
    texts: list[str] = typer.Option(
        ..., "--texts", help="Held-out lines: text (a line each) or TSV (id<TAB>text); repeat for more files."
    ),
    out: str = typer.Option(..., "--out", help="Report folder: report.json, report.md, plots/, audio/."),
    tags: bool = typer.Option(
        False, "--tags", help="Also measure every tag the voice declares (tags.json, tags.md)."
    ),
    limit: int = typer.Option(None, "--limit", help="Evaluate only the first N lines (of each --texts file)."),
    threads: int = typer.Option(
        None, "--threads", help="onnxruntime threads for both systems (default: its own)."
    ),
    tag_lines: int = typer.Option(8, "--tag-lines", help="--tags: lines (first sentence of each) per tag."),
    tag_keys: str = typer.Option(
        None, "--tag-keys", help="--tags: only these tags, comma-separated (e.g. 高兴2,RAP)."
    ),
    melody: str = typer.Option("C4:1 D4:1 E4:1 F4:1 G4:2", "--melody", help="--tags: melody sung with 哼唱."),
    bpm: float = typer.Option(90.0, "--bpm", help="--tags: tempo of the melody and of RAP."),
    latency_runs: int = typer.Option(7, "--latency-runs", help="First-chunk runs (median, after a warm-up)."),
    variant: str = typer.Option("auto", "--variant", help="Student graph: auto (fp32 on CPU), fp32 or int8."),
    plot_lines: int = typer.Option(3, "--plot-lines", help="Lines drawn to plots/line_XX.png."),
    language: str = typer.Option(
        "auto", "--language", help="Language of the lines: en, zh, or auto (each line by its script)."
    ),
    teacher: str = typer.Option(
        None,
        "--teacher",
        help="piper, kokoro, espeak, or several (kokoro,piper: all measured, the first is the teacher).",
    ),
    speaker: str = typer.Option(None, "--speaker", help="The student voice's speaker (default: its first)."),
    teacher_voice: str = typer.Option(
        None, "--teacher-voice", help="Kokoro's voice (jm_kumo…); default: --speaker if it is one, else jm_kumo."
    ),
) -> None:
    """Student against its teacher: Whisper WER (English) or CER (Mandarin), pocketsphinx WER, DNSMOS,
    MCD, F0 RMSE, RTF and first-chunk latency."""
    import sys
    from pathlib import Path

    from steptts.errors import StepTTSError

    from .evaluate import EvalConfig, run_eval

    config = EvalConfig(
        texts_path=Path(texts[0]),
        more_texts=[Path(path) for path in texts[1:]],
        out_dir=Path(out),
        voice=voice,
        run=Path(run) if run else None,
        limit=limit,
        threads=threads,
        tags=tags,
        tag_lines=tag_lines,
        tag_keys=[key.strip() for key in tag_keys.split(",") if key.strip()] if tag_keys else None,
        melody=melody,
        bpm=bpm,
        latency_runs=latency_runs,
        variant=variant,
        plot_lines=plot_lines,
        language=language,
        teacher=teacher,
        speaker=speaker,
        teacher_voice=teacher_voice,
        command=list(sys.argv),
    )
    try:
        report = run_eval(config)
    except StepTTSError as error:
        typer.echo(f"steptts: error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo((Path(out) / "report.md").read_text(encoding="utf-8").split("\n## How")[0].rstrip())
    if "tags" in report:
        typer.echo(
            f"\nTags: {report['tags']['passed']} bars passed, {report['tags']['failed']} failed "
            f"(see {Path(out) / 'tags.md'})"
        )


from .clone_command import clone_command  # registered last; its heavy imports run inside it

app.command("clone")(clone_command)
