"""The weights a new training run starts from (``--init-from``), grown to the new data's vocabularies.

A run may start from a training checkpoint (``checkpoint.pt``) or from a shipped voice (a folder or
an installed voice's name): a voice's torch student is rebuilt from its fp32 graph
(:mod:`distill.onnx_weights`), so fine-tuning needs nothing outside git.

New data may hold what the starting student never saw: Mandarin phonemes for an English voice, a new
speaker for a clone, a new tag. :func:`grow_to_records` appends them to the vocabularies, so every
old id keeps its meaning, and grows the three embedding tables to match:

- a new phoneme row is drawn from the old rows' per-dimension mean and standard deviation, so it
  starts at the scale the encoder was trained on (a zero or tiny row would read as silence);
- a new speaker row is the mean of the old speaker rows: a clone starts as the base voice speaks;
- a new tag row starts at zero, a neutral tag (as :class:`distill.model.Student` starts every tag).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from distill import training_data
from distill.model import StudentConfig, upgrade_checkpoint
from steptts.errors import StepTTSError
from steptts.phonemes import PhonemeVocab

PHONEME_TABLE = "phoneme_embedding.weight"
TAG_TABLE = "tag_embedding.weight"
SPEAKER_TABLE = "speaker_embedding.weight"
"""State-dict names of the three embedding tables that vocabularies index."""


class InitFromError(StepTTSError, ValueError):
    """``--init-from`` names neither a checkpoint file nor a voice (one line, exit 2)."""


@dataclass(frozen=True)
class InitialWeights:
    """What a new run takes from ``--init-from``."""

    config: StudentConfig
    """The student's architecture, with vocabulary sizes equal to ``vocab``'s."""
    state: dict[str, torch.Tensor]
    """The student's state_dict (float32 tensors)."""
    vocab: training_data.Vocabularies
    """Phoneme, tag and speaker vocabularies the state's embedding rows follow."""
    provenance: dict | None
    """The source's provenance (checkpoint or voice.json), for the new run's provenance."""
    source: str
    """Resolved path of the checkpoint file or voice folder."""
    grown: dict[str, list[str]]
    """Entries :func:`grow_to_records` added, per vocabulary (``phonemes``, ``tags``, ``speakers``)."""


def load_initial(init_from: str | Path) -> InitialWeights:
    """The weights of a checkpoint file, or of a voice folder / installed voice name.

    Raises:
        InitFromError: neither a readable checkpoint nor a loadable voice.
    """
    path = Path(init_from)
    if path.is_file():
        return _from_checkpoint(path)
    try:
        return _from_voice(init_from)
    except StepTTSError as error:
        raise InitFromError(f"--init-from: {init_from} is neither a checkpoint file nor a voice ({error})") from None


def _from_checkpoint(path: Path) -> InitialWeights:
    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
        config, state = upgrade_checkpoint(checkpoint["config"], checkpoint["model"])
        vocab = training_data.Vocabularies.from_json(checkpoint["vocab"])
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as error:
        raise InitFromError(f"--init-from: {path} is not a steptts checkpoint ({error})") from None
    return InitialWeights(config, dict(state), vocab, checkpoint.get("provenance"), str(path.resolve()), {})


def _from_voice(voice: str | Path) -> InitialWeights:
    from distill.onnx_weights import student_from_voice

    weights, loaded = student_from_voice(voice)
    vocab = training_data.Vocabularies(
        PhonemeVocab(dict(loaded.phoneme_vocab.symbol_to_id)),
        dict(loaded.tag_vocab),
        dict(loaded.speakers),
        loaded.language,
    )
    state = {name: tensor.detach().clone() for name, tensor in weights.student.state_dict().items()}
    provenance = {"voice": loaded.name, "voice_provenance": loaded.provenance}
    return InitialWeights(weights.student.config, state, vocab, provenance, str(Path(loaded.path).resolve()), {})


def grow_to_records(initial: InitialWeights, records: Sequence[training_data.Record],
                    seed: int = 0) -> InitialWeights:
    """``initial`` with the records' unseen phonemes, tags and speakers appended (see the module doc).

    Old ids keep their rows; new ids follow in sorted order. A tag key the tag grammar does not know
    is refused as :func:`distill.training_data.build_vocabularies` refuses it.
    """
    wanted = training_data.build_vocabularies(records, initial.vocab.language)
    new_symbols = sorted(set(wanted.phoneme_vocab.symbol_to_id) - set(initial.vocab.phoneme_vocab.symbol_to_id))
    new_tags = sorted(set(wanted.tag_vocab) - set(initial.vocab.tag_vocab))
    new_speakers = sorted(set(wanted.speakers) - set(initial.vocab.speakers))
    if not (new_symbols or new_tags or new_speakers):
        return initial
    generator = torch.Generator().manual_seed(seed)
    state = dict(initial.state)
    state[PHONEME_TABLE] = _grow_phonemes(state[PHONEME_TABLE], len(new_symbols), generator)
    state[TAG_TABLE] = torch.cat([state[TAG_TABLE], state[TAG_TABLE].new_zeros(len(new_tags), state[TAG_TABLE].shape[1])])
    speaker_rows = state[SPEAKER_TABLE]
    state[SPEAKER_TABLE] = torch.cat([speaker_rows, speaker_rows.mean(0, keepdim=True).repeat(len(new_speakers), 1)])
    vocab = training_data.Vocabularies(
        PhonemeVocab(_appended(initial.vocab.phoneme_vocab.symbol_to_id, new_symbols)),
        _appended(initial.vocab.tag_vocab, new_tags),
        _appended(initial.vocab.speakers, new_speakers),
        initial.vocab.language,
    )
    config = replace(initial.config, n_symbols=len(vocab.phoneme_vocab.symbol_to_id),
                     n_tags=len(vocab.tag_vocab), n_speakers=len(vocab.speakers))
    grown = {"phonemes": new_symbols, "tags": new_tags, "speakers": new_speakers}
    return replace(initial, config=config, state=state, vocab=vocab, grown=grown)


def _grow_phonemes(table: torch.Tensor, n_new: int, generator: torch.Generator) -> torch.Tensor:
    """``table`` [V,D] with ``n_new`` rows drawn from the non-pad rows' per-dimension normal."""
    if n_new == 0:
        return table
    old = table[1:]
    mean, std = old.mean(0), old.std(0)
    fresh = mean + std * torch.randn(n_new, table.shape[1], generator=generator)
    return torch.cat([table, fresh.to(table.dtype)])


def _appended(mapping: dict[str, int], keys: Sequence[str]) -> dict[str, int]:
    """``mapping`` with ``keys`` given the next ids in order."""
    grown = dict(mapping)
    for key in keys:
        grown[key] = len(grown)
    return grown

