"""`python -m export RUN --out voices/NAME [--fp16] [--int8] [--compact]` (what `steptts export` runs)."""

from __future__ import annotations

from pathlib import Path

import typer

from steptts.cli import run_app

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def export(
    run: Path = typer.Argument(..., help="Training run folder (holds checkpoint.pt)."),
    out: Path = typer.Option(..., "--out", help="Voice folder to write, e.g. voices/my-voice."),
    fp16: bool = typer.Option(False, "--fp16", help="Also write model.fp16.onnx for CUDA."),
    int8: bool = typer.Option(False, "--int8", help="Also write model.int8.onnx for CPU."),
    compact: bool = typer.Option(False, "--compact", help="Store the fp32 and fp16 graphs' weights in fp16 "
                                 "(about half the size, fp32 arithmetic; export/compact.py), if parity holds."),
    name: str | None = typer.Option(None, help="Voice name (default: the folder name)."),
    speed_tags: str = typer.Option("control", help="Perform speed tags through the exact speed control "
                                   "(control) or their trained tag ids (learned)."),
) -> None:
    """Export a trained student to an ONNX voice package."""
    from export.voice_export import export_voice

    export_voice(run, out, fp16=fp16, int8=int8, name=name, speed_tags=speed_tags)
    if compact:
        from export.compact import main as compact_main

        compact_main([str(out)])


if __name__ == "__main__":
    run_app(app, prog_name="steptts export")
