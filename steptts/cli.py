"""The `steptts` command: say, voices, tags, info, serve; `distill …` and `export` run from a checkout.

User mistakes exit with code 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from .errors import StepTTSError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="steptts: small, fast text-to-speech with Step-Audio's instruction tags.")

SOURCE_HINT = ("runs from a source checkout: git clone the steptts repository, then "
               "pip install torch==2.13.0 && pip install -e '.[cpu,train]' inside it")
_VARIANT_HELP = "Graph variant: auto (fp16 on CUDA when the voice has it, else fp32), fp32, fp16 or int8."


def _fail(message: str) -> None:
    typer.echo(f"steptts: error: {message}", err=True)
    raise SystemExit(2)


def _read_text(text: str) -> str:
    if text == "-":
        data = sys.stdin.read()
        return data
    return text


@app.command()
def say(
    text: str = typer.Argument(..., help="Text to speak, with optional leading tags like (happy2); - reads stdin."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output .wav or .flac file."),
    voice: str | None = typer.Option(None, "--voice", "-v", help="Voice name or folder (default: embedded)."),
    speed: float = typer.Option(1.0, help="Tempo multiplier (1.2 = 20% faster)."),
    pitch: float = typer.Option(0.0, help="Pitch shift in semitones."),
    energy: float = typer.Option(0.0, help="Energy change in dB."),
    emotion: str | None = typer.Option(None, help="Emotion tag, e.g. happy, sad, 高兴."),
    intensity: int | None = typer.Option(None, help="Emotion intensity: 1 (mild) or 2 (strong)."),
    accent: str | None = typer.Option(None, help="Accent tag, e.g. British, Scottish."),
    speaker: str | None = typer.Option(None, help="Speaker of a multi-speaker voice (default: its first)."),
    melody: str | None = typer.Option(None, help='Melody for (singing), e.g. "C4:1 C4:1 G4:1 G4:1 A4:1 A4:1 G4:2".'),
    bpm: float | None = typer.Option(None, help="Tempo in beats per minute for singing and rap."),
    provider: str = typer.Option("auto", help="auto (CUDA then CPU), cpu or cuda."),
    variant: str = typer.Option("auto", help=_VARIANT_HELP),
    threads: int | None = typer.Option(None, help="onnxruntime intra-op threads."),
    stream: bool = typer.Option(False, "--stream", help="Write raw PCM to stdout, sentence by sentence."),
    pcm_format: str = typer.Option("f32", "--format", help="PCM sample format for --stream: f32 or s16."),
    base_url: str | None = typer.Option(None, help="Use a remote StepFun-compatible speech API instead."),
    model: str = typer.Option("step-tts-mini", help="Remote model name (with --base-url)."),
    subtitles: Path | None = typer.Option(None, "--subtitles", help="Also write word-timed subtitles: a .srt "
                                          "or .vtt file."),
    lexicon: Path | None = typer.Option(None, help="Pronunciation lexicon: TSV of word, IPA or pinyin[, language]."),
) -> None:
    """Speak TEXT into a .wav/.flac file, or stream raw PCM to stdout."""
    import time

    import numpy as np

    from .api import TTS
    from .audio import AudioFileWriter, check_output_path
    from .subtitles import check_subtitle_path, write_subtitles

    if stream and output is not None:
        _fail("use either -o FILE or --stream, not both")
    if pcm_format not in ("f32", "s16"):
        _fail(f"--format must be f32 or s16, got '{pcm_format}'")
    if stream and sys.stdout.isatty():
        _fail("--stream writes raw PCM: pipe it into a player, e.g. | aplay -f FLOAT_LE -r 22050")
    if not stream:
        output = output or Path("steptts.wav")
        check_output_path(output)
    if subtitles is not None:
        check_subtitle_path(subtitles)
        if base_url:
            _fail("--subtitles needs a local voice: the remote engine reports no word times")
    text = _read_text(text)
    if base_url and lexicon is not None:
        _fail("--lexicon needs a local voice: a remote teacher does its own G2P")
    if base_url:
        tts = TTS(engine="remote", base_url=base_url, model=model, remote_voice=voice)
    else:
        tts = TTS(voice=voice, provider=provider, threads=threads, variant=variant, lexicon=lexicon)
    controls = dict(speed=speed, pitch=pitch, energy=energy, emotion=emotion, intensity=intensity,
                    accent=accent, melody=melody, bpm=bpm, speaker=speaker)
    words = []
    chunks = _collect_words(tts.stream(text, **controls), words)
    started = time.perf_counter()
    total = 0
    if stream:
        sink = sys.stdout.buffer
        for chunk in chunks:
            samples = np.clip(chunk.samples, -1.0, 1.0)
            data = samples.astype("<f4") if pcm_format == "f32" else (samples * 32767).astype("<i2")
            sink.write(data.tobytes())
            sink.flush()
            total += len(samples)
    else:
        with AudioFileWriter(output, tts.sample_rate_hz) as writer:
            for chunk in chunks:
                writer.write(chunk.samples)
            total = writer.frames
    elapsed = time.perf_counter() - started
    if subtitles is not None:
        write_subtitles(subtitles, words)
    where = "stdout" if stream else str(output)
    typer.echo(f"steptts: {where}: {total / tts.sample_rate_hz:.2f} s of audio at {tts.sample_rate_hz} Hz "
               f"in {elapsed:.2f} s ({tts.provider}{', ' + tts.variant if tts.voice else ''})", err=True)


def _collect_words(chunks, words: list):
    """Pass chunks through, appending their words (on the whole audio's time line) to ``words``."""
    offset_s = 0.0
    for chunk in chunks:
        words += [word.shifted(offset_s) for word in chunk.words]
        offset_s += chunk.duration_s
        yield chunk


@app.command()
def phonemize(
    text: str = typer.Argument(..., help="Text (tags, SSML) to phonemize; - reads stdin."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per sentence."),
    voice: str | None = typer.Option(None, "--voice", "-v", help="Check this voice's languages and apply its "
                                     "substitutions (default: the language frontends alone)."),
    lexicon: Path | None = typer.Option(None, help="Pronunciation lexicon: TSV of word, IPA or pinyin[, language]."),
    accent: str | None = typer.Option(None, help="Accent tag for English runs, e.g. British."),
) -> None:
    """Show each sentence's language runs, normalized text and phonemes (to debug a pronunciation)."""
    import json

    from .api import phonemize as phonemize_text

    utterances = phonemize_text(_read_text(text), voice=voice, lexicon=lexicon, accent=accent)
    if as_json:
        typer.echo(json.dumps([u.to_json() for u in utterances], ensure_ascii=False, indent=1))
        return
    for index, said in enumerate(utterances, 1):
        typer.echo(f"[{index}] {said.language}: {said.text}")
        for run in said.runs:
            typer.echo(f"    {run.language}  {run.normalized}  →  {run.phonemes}")
        typer.echo(f"    normalized: {said.spoken}")
        typer.echo(f"    phonemes:   {said.phonemes}")


@app.command()
def voices() -> None:
    """List installed voices with sample rate, size and tags."""
    from .voice import default_voice_name, list_voices, search_paths

    found = list_voices()
    if not found:
        typer.echo("no voices found; search path: " + ", ".join(str(p) for p in search_paths()))
        return
    default = default_voice_name()
    for info in found:
        mark = " (default)" if info.name == default else ""
        if info.problem:
            typer.echo(f"{info.name}{mark}  UNUSABLE: {info.problem}")
            continue
        typer.echo(f"{info.name}{mark}  {info.sample_rate_hz} Hz  {info.size_bytes / 1e6:.1f} MB  {info.path}")
        if info.description:
            typer.echo(f"    {info.description}")
        typer.echo("    languages: " + ", ".join(_languages(info.languages)))
        typer.echo("    tags: " + (" ".join(info.tag_keys) or "none"))


def _languages(codes: tuple[str, ...]) -> list[str]:
    """``code (Name)`` of each language code."""
    from .languages.base import LANGUAGES

    return [f"{code} ({LANGUAGES[code].name})" for code in codes]


@app.command()
def tags() -> None:
    """Print the tag table, and which tags each installed voice supports."""
    from .tags import INTENSITIES, TAG_SPECS
    from .voice import list_voices

    usable = [v for v in list_voices() if not v.problem]
    header = ["kind", "Step-Audio", "aliases"] + [v.name for v in usable]
    rows = []
    for spec in TAG_SPECS:
        keys = [f"{spec.canonical}{i}" for i in INTENSITIES] if spec.has_intensity else [spec.canonical]
        name = spec.canonical + ("[1|2]" if spec.has_intensity else "")
        marks = []
        for info in usable:
            have = [k for k in keys if k in info.tag_keys]
            if not have:
                marks.append("-")
            elif spec.has_intensity:
                marks.append("yes " + ",".join(k[len(spec.canonical):] for k in have))
            else:
                marks.append("yes")
        rows.append([spec.kind, name, ", ".join(spec.aliases), *marks])
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(_pad(cell, width) for cell, width in zip(row, widths)).rstrip())
    typer.echo("\nTags lead the text: (happy2)(British)Hello. Chain them; full-width （高兴1） works too.")


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


@app.command()
def info(
    voice: str | None = typer.Option(None, "--voice", "-v", help="Voice to load (default: embedded)."),
    provider: str = typer.Option("auto", help="auto, cpu or cuda."),
    variant: str = typer.Option("auto", help=_VARIANT_HELP),
) -> None:
    """Versions, providers, and the execution provider that actually runs a voice."""
    import platform

    from . import __version__
    from .engine import import_onnxruntime
    from .voice import search_paths

    ort = import_onnxruntime()
    typer.echo(f"steptts {__version__}, Python {platform.python_version()} ({platform.machine()})")
    typer.echo(f"onnxruntime {ort.__version__}; available providers: {', '.join(ort.get_available_providers())}")
    typer.echo("voice search path: " + ", ".join(str(p) for p in search_paths()))
    from .api import TTS

    tts = TTS(voice=voice, provider=provider, variant=variant)
    typer.echo(f"voice: {tts.voice.name} ({tts.voice.path}), variant {tts.variant}")
    typer.echo(f"execution provider in use: {tts.provider}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback unless told otherwise)."),
    port: int = typer.Option(8000, help="TCP port."),
    voice: list[str] = typer.Option([], "--voice", "-v", help="Voice to load (repeat for more; the first is "
                                    "the default). Default: the embedded voice."),
    max_concurrency: int = typer.Option(2, help="Syntheses running at once (worker threads)."),
    queue: int = typer.Option(8, help="Requests that may wait for a worker; beyond it, 503."),
    api_key: str | None = typer.Option(None, help="Bearer key required on /v1 (default: $STEPTTS_API_KEY)."),
    max_input_chars: int = typer.Option(10_000, help="Longest input accepted, in characters."),
    cors: list[str] = typer.Option([], "--cors", help="Origin allowed to call from a browser (repeatable)."),
    provider: str = typer.Option("auto", help="auto (CUDA then CPU), cpu or cuda."),
    threads: int = typer.Option(1, help="onnxruntime intra-op threads per synthesis."),
) -> None:
    """Serve OpenAI's and StepFun's speech API, a WebSocket and a playground over HTTP."""
    try:
        from .server.config import API_KEY_ENV, ServerConfig
        from .server.main import run
    except ModuleNotFoundError as error:
        _fail(f"`steptts serve` needs {error.name}: pip install 'steptts[cpu,server]'")
    if max_concurrency < 1 or queue < 0 or max_input_chars < 1 or not 0 < port < 65536:
        _fail("--max-concurrency and --max-input-chars must be >= 1, --queue >= 0, --port 1-65535")
    run(ServerConfig(host=host, port=port, voices=tuple(voice), max_concurrency=max_concurrency, queue=queue,
                     api_key=api_key or os.environ.get(API_KEY_ENV) or None, max_input_chars=max_input_chars,
                     cors_origins=tuple(cors), provider=provider, threads=threads))


# ----------------------------------------------------------------------------- source-checkout commands
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def source_checkout() -> Path | None:
    """The source checkout holding ``distill/`` and ``export/``: the one this steptts runs from (an
    editable install), else the working folder; None when neither is one."""
    for candidate in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if all((candidate / package / "__main__.py").is_file() for package in ("distill", "export")):
            return candidate
    return None


def _exec_source_command(package: str, args: list[str]) -> None:
    """Become ``python -m PACKAGE ARGS`` run from the checkout, so that signals (a training run saves a
    checkpoint on SIGINT/SIGTERM) and the exit code are the command's own. steptts never imports it."""
    root = source_checkout()
    if root is None:
        _fail(f"`steptts {package}` {SOURCE_HINT}")
    paths = [str(root), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", package, *args], environment)


@app.command(context_settings=_PASS_THROUGH, add_help_option=False)
def export(context: typer.Context) -> None:
    """Export a trained student to an ONNX voice package (`steptts export --help`)."""
    _exec_source_command("export", list(context.args))


@app.command(context_settings=_PASS_THROUGH, add_help_option=False)
def distill(context: typer.Context) -> None:
    """Make data, train and evaluate students (`steptts distill --help`)."""
    _exec_source_command("distill", list(context.args))


def main() -> None:
    """Console entry point."""
    run_app(app)


def run_app(application: typer.Typer, prog_name: str | None = None) -> None:
    """Run a typer app the steptts way: a StepTTSError is one line on stderr and exit 2, Ctrl-C exit 130."""
    _run(lambda: application(prog_name=prog_name))


def _run(function) -> None:
    try:
        function()
    except StepTTSError as error:
        typer.echo(f"steptts: error: {error}", err=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        typer.echo("steptts: interrupted", err=True)
        raise SystemExit(130) from None
    except BrokenPipeError:
        raise SystemExit(0) from None
