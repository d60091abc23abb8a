"""A training run → a voice package (what `steptts export RUN --out voices/NAME` runs).

Reads ``RUN/checkpoint.pt`` (written by distill/train.py: ``model``, ``config``, ``step``, ``vocab``,
``provenance``), exports the fp32 graph and the requested variants, checks each against the torch
student on held-out inputs, and writes ``voice.json`` with checksums, parity and provenance.
"""

from __future__ import annotations

import datetime as _dt
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

from export.package import VARIANT_FILES, ExportError, write_voice_json
from export.provenance import dataset_provenance, share_alike_licence

KeepInt8 = Callable[[dict], bool]
"""Decides from the int8 graph's parity figures whether the voice keeps it."""


def _load_student(run_dir: Path):
    import torch

    from distill.model import Student, config_from_checkpoint

    checkpoint_path = run_dir / "checkpoint.pt" if run_dir.is_dir() else run_dir
    if not checkpoint_path.exists():
        raise ExportError(
            f"no checkpoint at {checkpoint_path}: give the run folder that `steptts distill train` wrote"
        )
    try:
        checkpoint = torch.load(checkpoint_path, map_location="cpu", mmap=True, weights_only=False)
    except (
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
        pickle.UnpicklingError,
    ) as error:  # truncated or foreign
        raise ExportError(f"cannot read {checkpoint_path}: {error}") from None
    missing = [key for key in ("model", "config", "vocab") if key not in checkpoint]
    if missing:
        raise ExportError(f"{checkpoint_path} is not a student checkpoint (lacks {', '.join(missing)})")
    student = Student(config_from_checkpoint(checkpoint["config"]))
    student.load_state_dict(checkpoint["model"])
    return student.eval(), checkpoint


def _cuda_available() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def speed_tag_controls() -> dict[str, dict[str, float]]:
    """The speed tags of the grammar as exact speed controls (tempo multipliers)."""
    from steptts.tags import TAG_SPECS

    return {spec.canonical: {"speed": round(spec.speed_factor, 6)} for spec in TAG_SPECS
            if spec.kind == "speed" and spec.speed_factor}


def accent_substitutions(language: str, phoneme_vocab: dict[str, int], teachers: list[str]) -> dict[str, str]:
    """What a student of en-us Piper voices says for the accent symbols its teachers never spoke.

    The Piper teacher renders accents with the same substitutions (distill/teachers.py).
    """
    from distill.teachers import ENGLISH_ACCENT_FALLBACKS

    if language != "en-us" or not teachers or not all(str(t).startswith("piper:") for t in teachers):
        return {}
    return {k: v for k, v in ENGLISH_ACCENT_FALLBACKS.items() if all(c in phoneme_vocab for c in v)}


def export_voice(
    run_dir: str | Path,
    out_dir: str | Path,
    fp16: bool = False,
    int8: bool = False,
    *,
    name: str | None = None,
    description: str | None = None,
    evaluation: dict | None = None,
    keep_int8: bool | KeepInt8 = True,
    licence: str = "CC0-1.0",
    speed_tags: str = "control",
) -> dict:
    """Export a training run as a voice folder and return its ``voice.json`` content.

    Args:
        run_dir: the run folder (or its ``checkpoint.pt``).
        out_dir: the voice folder to write (created; graphs and voice.json in it are replaced).
        fp16: also write ``model.fp16.onnx`` for CUDA (parity measured on CUDA when present, else CPU).
        int8: also write ``model.int8.onnx`` (dynamic quantization, CPU); kept when ``keep_int8`` is
            True or returns True for its parity figures. A dropped graph's figures stay in ``parity``.
            Either variant is kept only when it meets ``export.variants.VARIANT_RULE`` (the same for both).
        name, description: default to the folder name and a line naming teacher and size.
        evaluation: figures to record (see docs/CONTRACTS.md); ``export.package.set_evaluation`` can
            add them later.
        licence: the licence of the voice (the default Piper joe teacher is CC0).
        speed_tags: ``control`` performs the speed tags (慢速1/2, 快速1/2) through the graph's exact
            speed control, ``learned`` through their trained tag ids. ``control`` is the default
            because the Piper teacher renders only about 60 % of the intended tempo change
            (it rounds each scaled phoneme up to whole frames), and the student learns that.
    Raises:
        ExportError: no readable checkpoint, or the fp32 graph disagrees with torch (< 40 dB SNR).
    """
    if speed_tags not in ("control", "learned"):
        raise ExportError(f"speed_tags must be 'control' or 'learned', got '{speed_tags}'")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    student, checkpoint = _load_student(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    graphs = _Graphs(student, out_dir, _held_out_feeds(student, checkpoint["vocab"]))
    graphs.export_fp32()
    if fp16:
        graphs.add_fp16()
    if int8:
        graphs.add_int8(keep_int8)
    graphs.remove_stale()
    return _write_package(student, checkpoint, out_dir, graphs, name=name, description=description,
                          evaluation=evaluation, licence=licence, speed_tags=speed_tags)


def _held_out_feeds(student, vocab: dict) -> list:
    from export.parity import held_out_feeds

    return held_out_feeds(
        vocab["phoneme_vocab"], vocab["tag_vocab"], student.config.n_speakers, vocab.get("language", "en-us")
    )


class _Graphs:
    """The graphs of one export in ``out_dir`` and their parity figures against the torch student."""

    def __init__(self, student, out_dir: Path, feeds: list) -> None:
        self.student, self.out_dir, self.feeds = student, out_dir, feeds
        self.variants: dict[str, str] = {}
        """Variant → file name of the graphs kept."""
        self.parity: dict[str, dict] = {}
        """Variant → parity figures (``kept`` says whether a reduced-precision graph stayed)."""
        self.fp32_path = out_dir / VARIANT_FILES["fp32"]

    def export_fp32(self) -> None:
        """The contract's graph; ExportError when it disagrees with torch."""
        from export.onnx_export import export_onnx
        from export.parity import MIN_FP32_SNR_DB, measure_parity

        self.fp32_path = export_onnx(self.student, self.fp32_path)
        self.variants["fp32"] = VARIANT_FILES["fp32"]
        figures = measure_parity(self.student, self.fp32_path, self.feeds).to_json()
        self.parity["fp32"] = figures
        if figures["mel_snr_db"] < MIN_FP32_SNR_DB:
            raise ExportError(
                f"the exported graph disagrees with the torch student: {figures['mel_snr_db']} dB mel SNR "
                f"(< {MIN_FP32_SNR_DB} dB); not packaging it"
            )

    def add_fp16(self) -> None:
        from export.onnx_export import convert_fp16
        from export.parity import measure_parity

        path = convert_fp16(self.fp32_path, self.out_dir / VARIANT_FILES["fp16"])
        provider = "CUDAExecutionProvider" if _cuda_available() else "CPUExecutionProvider"
        self._settle("fp16", path, measure_parity(self.student, path, self.feeds, provider).to_json(), True)

    def add_int8(self, keep_int8: bool | KeepInt8) -> None:
        from export.onnx_export import quantize_int8
        from export.parity import measure_parity

        path = quantize_int8(self.fp32_path, self.out_dir / VARIANT_FILES["int8"])
        figures = measure_parity(self.student, path, self.feeds).to_json()
        self._settle("int8", path, figures, keep_int8(figures) if callable(keep_int8) else bool(keep_int8))

    def _settle(self, variant: str, path: Path, figures: dict, wanted: bool) -> None:
        """Keep a variant only if it sounds like the fp32 graph and is wanted; record its figures either way.

        A variant under the mel-SNR floor is dropped with a message: the runtime would pick it (fp16 on
        CUDA, int8 when asked) without a word.
        """
        from export.variants import VARIANT_RULE

        sounds_alike, figures["why"] = VARIANT_RULE.verdict(figures)
        figures["kept"] = sounds_alike and wanted
        self.parity[variant] = figures
        if figures["kept"]:
            self.variants[variant] = path.name
            return
        path.unlink()
        if not sounds_alike:
            print(
                f"steptts export: {variant} graph {figures['why']}; figures kept in voice.json parity",
                file=sys.stderr,
            )

    def remove_stale(self) -> None:
        """Delete graphs of an earlier export that were not made (or kept) this time."""
        for variant, file_name in VARIANT_FILES.items():
            if variant not in self.variants:
                for stale in (self.out_dir / file_name, self.out_dir / f"{file_name}.data"):
                    stale.unlink(missing_ok=True)


def _write_package(student, checkpoint: dict, out_dir: Path, graphs: _Graphs, *, name: str | None,
                   description: str | None, evaluation: dict | None, licence: str, speed_tags: str) -> dict:
    """voice.json with the provenance of the run, the graphs' checksums and parity."""
    from distill.model import count_parameters

    vocab, provenance_in = checkpoint["vocab"], dict(checkpoint.get("provenance") or {})
    config = student.config
    teachers = provenance_in.get("teacher", "unknown")
    teacher_text = ", ".join(teachers) if isinstance(teachers, list) else str(teachers)
    n_parameters = count_parameters(student)
    provenance = {
        **provenance_in,
        "teacher": teachers,
        "steps": int(checkpoint.get("step", provenance_in.get("steps", 0))),
        "parameters": n_parameters,
        "licence": provenance_in.get("licence", licence),
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    used = dataset_provenance(list(provenance_in.get("datasets") or []))
    languages = None
    if used is not None:
        languages, provenance["licences"] = used
        provenance["licence"] = share_alike_licence(provenance["licences"]) or provenance["licence"]
    return write_voice_json(
        out_dir,
        name=name or out_dir.name,
        description=description
        or f"steptts student ({n_parameters / 1e6:.1f}M parameters) distilled from {teacher_text}",
        sample_rate_hz=config.sample_rate,
        hop_length=config.hop_length,
        language=vocab.get("language", "en-us"),
        phoneme_vocab=vocab["phoneme_vocab"],
        tag_vocab=vocab["tag_vocab"],
        speakers=vocab["speakers"],
        variants=graphs.variants,
        parity=graphs.parity,
        provenance=provenance,
        evaluation=evaluation,
        tag_controls=speed_tag_controls() if speed_tags == "control" else None,
        phoneme_substitutions=accent_substitutions(
            vocab.get("language", "en-us"),
            vocab["phoneme_vocab"],
            teachers if isinstance(teachers, list) else [teachers],
        ),
        languages=languages,
    )
