"""Write a voice folder per docs/CONTRACTS.md: ``voice.json`` and the graphs it names, with checksums."""

from __future__ import annotations

import json
import os
from pathlib import Path

from export.variants import VARIANT_RULE
from steptts.errors import StepTTSError
from steptts.graph import CONTROL_NAMES, GRAPH_IO
from steptts.voice import SCHEMA_VERSION, VOICE_FILE, sha256_file

VARIANT_FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}


class ExportError(StepTTSError):
    """A run folder cannot be exported, or the export failed its parity check."""


def _graph_files(folder: Path, graph_name: str) -> list[str]:
    """A graph and its external-data file, when it has one."""
    names = [graph_name]
    if (folder / f"{graph_name}.data").exists():
        names.append(f"{graph_name}.data")
    return names


def write_voice_json(
    folder: Path,
    *,
    name: str,
    description: str,
    sample_rate_hz: int,
    hop_length: int,
    language: str,
    phoneme_vocab: dict[str, int],
    tag_vocab: dict[str, int],
    speakers: dict[str, int],
    variants: dict[str, str],
    parity: dict,
    provenance: dict,
    evaluation: dict | None = None,
    tag_controls: dict[str, dict[str, float]] | None = None,
    phoneme_substitutions: dict[str, str] | None = None,
    languages: list[str] | None = None,
) -> dict:
    """Write ``folder/voice.json`` (atomically) for the graphs already in ``folder``; returns it.

    Args:
        tag_controls: tags the voice performs through its controls rather than a learned tag id,
            e.g. ``{"慢速1": {"speed": 0.87}}`` (see docs/CONTRACTS.md).
        phoneme_substitutions: symbols the voice never learned → the symbol it says instead.
        variants: variant name (``fp32``, ``fp16``, ``int8``) → graph file name in ``folder``.
        parity: variant → figures from :mod:`export.parity`.
        languages: codes of the languages the voice speaks (``["zh", "en"]``); None: left out (the
            runtime then infers them from ``language`` and the language tags).
    """
    folder = Path(folder)
    if "fp32" not in variants:
        raise ExportError("a voice needs its fp32 graph (variant 'fp32')")
    files: dict[str, str] = {}
    for graph_name in variants.values():
        for file_name in _graph_files(folder, graph_name):
            if not (folder / file_name).exists():
                raise ExportError(f"voice file {file_name} is missing from {folder}")
            files[file_name] = sha256_file(folder / file_name)
    config = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "description": description,
        "sample_rate": int(sample_rate_hz),
        "hop_length": int(hop_length),
        "language": language,
        **({"languages": list(languages)} if languages is not None else {}),
        "phoneme_vocab": dict(phoneme_vocab),
        "tag_vocab": {str(key): int(index) for key, index in tag_vocab.items()},
        "tag_controls": dict(tag_controls or {}),
        "phoneme_substitutions": dict(phoneme_substitutions or {}),
        "speakers": {str(key): int(index) for key, index in speakers.items()},
        "controls": list(CONTROL_NAMES),
        "graph": GRAPH_IO,
        "files": files,
        "variants": dict(variants),
        "parity": parity,
        "variant_rule": VARIANT_RULE.to_json(),
        "provenance": provenance,
        "evaluation": evaluation or {},
    }
    _write_json_atomically(folder / VOICE_FILE, config)
    return config


def drop_variant(folder: Path, variant: str) -> dict:
    """Remove a graph variant (e.g. an int8 graph that the evaluation rejected) and rewrite voice.json.

    Its parity figures stay under ``parity`` with ``"kept": false``, so the decision stays on record.
    """
    folder = Path(folder)
    config = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
    if variant == "fp32":
        raise ExportError("the fp32 graph cannot be dropped: every voice needs it")
    graph_name = config["variants"].pop(variant, None)
    if graph_name is None:
        return config
    for file_name in _graph_files(folder, graph_name):
        config["files"].pop(file_name, None)
        (folder / file_name).unlink(missing_ok=True)
    if variant in config.get("parity", {}):
        config["parity"][variant]["kept"] = False
    _write_json_atomically(folder / VOICE_FILE, config)
    return config


def record_variant(folder: Path, variant: str, graph_name: str | None, figures: dict) -> dict:
    """Record a variant's parity figures in voice.json; with ``graph_name`` (a file in ``folder``) ship it.

    The fp32 graph and its checksum are left as they are. Returns the new voice.json content.
    """
    folder = Path(folder)
    if variant == "fp32":
        raise ExportError("the fp32 graph is written by the export itself, not added as a variant")
    config = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
    config.setdefault("parity", {})[variant] = figures
    config["variant_rule"] = VARIANT_RULE.to_json()
    if graph_name is not None:
        for file_name in _graph_files(folder, graph_name):
            config["files"][file_name] = sha256_file(folder / file_name)
        config.setdefault("variants", {"fp32": VARIANT_FILES["fp32"]})[variant] = graph_name
    _write_json_atomically(folder / VOICE_FILE, config)
    return config


def replace_graph(folder: Path, variant: str, new_graph: Path, figures: dict) -> dict:
    """Put ``new_graph`` (a file in ``folder``) in place of a variant's graph, same file name, atomically.

    For a rewrite that keeps the graph's contract (e.g. :mod:`export.compact`): the checksum is
    rewritten and ``figures`` are merged into ``parity[variant]``. Returns the new voice.json content.
    """
    folder = Path(folder)
    config = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
    graph_name = config.get("variants", {}).get(variant)
    if graph_name is None:
        raise ExportError(f"voice in {folder} has no {variant} graph to replace")
    if (folder / f"{graph_name}.data").exists():
        raise ExportError(f"{graph_name} keeps its weights in {graph_name}.data; replacing it is not supported")
    os.replace(new_graph, folder / graph_name)
    config["files"][graph_name] = sha256_file(folder / graph_name)
    config.setdefault("parity", {}).setdefault(variant, {}).update(figures)
    _write_json_atomically(folder / VOICE_FILE, config)
    return config


def merge_parity(folder: Path, variant: str, figures: dict) -> dict:
    """Merge ``figures`` into ``parity[variant]`` of voice.json (graphs and checksums untouched)."""
    folder = Path(folder)
    config = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
    config.setdefault("parity", {}).setdefault(variant, {}).update(figures)
    _write_json_atomically(folder / VOICE_FILE, config)
    return config


def set_evaluation(folder: Path, evaluation: dict) -> dict:
    """Record evaluation figures in an exported voice's voice.json (graph checksums are unaffected)."""
    folder = Path(folder)
    config = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
    config["evaluation"] = evaluation
    _write_json_atomically(folder / VOICE_FILE, config)
    return config


def _write_json_atomically(path: Path, config: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
