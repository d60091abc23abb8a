"""`--init-from` a shipped voice: its graph's weights, vocabularies grown for new data."""

from pathlib import Path

import pytest
import torch

from distill.init_weights import (
    PHONEME_TABLE,
    SPEAKER_TABLE,
    TAG_TABLE,
    InitFromError,
    grow_to_records,
    load_initial,
)
from distill.model import Student
from distill.training_data import Record

VOICE = Path(__file__).resolve().parents[1] / "voices" / "joe-nano"


def _record(phonemes: str, voice: str, tags: list[str]) -> Record:
    return Record({"id": phonemes, "phonemes": phonemes, "voice": voice, "tags": tags}, Path("."))


@pytest.fixture(scope="module")
def joe_nano():
    return load_initial(VOICE)


def test_a_voice_folder_starts_a_run_with_its_graphs_weights_and_vocabularies(joe_nano):
    assert joe_nano.vocab.speakers == {"joe": 0}
    assert joe_nano.vocab.phoneme_vocab.symbol_to_id["ɹ"] == 49
    assert joe_nano.config.n_symbols == len(joe_nano.vocab.phoneme_vocab.symbol_to_id)
    assert joe_nano.provenance["voice"] == "joe-nano"
    Student(joe_nano.config).load_state_dict(joe_nano.state)  # every weight has its place


def test_new_phonemes_tags_and_speakers_get_rows_and_old_ids_keep_theirs(joe_nano):
    records = [
        _record("ni↓xau↓", "jm_kumo", ["高兴1"]),
        _record("həlˈoʊ", "joe", []),
        _record("ʂɨ↘", "jf_gongitsune", ["中文"]),
    ]
    grown = grow_to_records(joe_nano, records)
    old_vocab = joe_nano.vocab
    assert grown.grown == {"phonemes": ["x", "ɨ", "ʂ", "↓", "↘"], "tags": ["中文"], "speakers": ["jf_gongitsune", "jm_kumo"]}
    for old, new in ((old_vocab.phoneme_vocab.symbol_to_id, grown.vocab.phoneme_vocab.symbol_to_id),
                     (old_vocab.tag_vocab, grown.vocab.tag_vocab), (old_vocab.speakers, grown.vocab.speakers)):
        assert all(new[key] == index for key, index in old.items())
        assert sorted(new.values()) == list(range(len(new)))
    n_old = len(old_vocab.phoneme_vocab.symbol_to_id)
    table = grown.state[PHONEME_TABLE]
    assert torch.equal(table[:n_old], joe_nano.state[PHONEME_TABLE])
    # New rows at the scale of the trained ones, not zeros.
    assert table[n_old:].std() > 0.5 * joe_nano.state[PHONEME_TABLE][1:].std()
    speakers = grown.state[SPEAKER_TABLE]
    assert torch.allclose(speakers[grown.vocab.speakers["jm_kumo"]], joe_nano.state[SPEAKER_TABLE].mean(0))
    assert torch.count_nonzero(grown.state[TAG_TABLE][grown.vocab.tag_vocab["中文"]]) == 0
    student = Student(grown.config)
    student.load_state_dict(grown.state)
    assert student.phoneme_embedding.num_embeddings == len(grown.vocab.phoneme_vocab.symbol_to_id)


def test_data_with_nothing_new_leaves_the_start_as_it_is(joe_nano):
    assert grow_to_records(joe_nano, [_record("həlˈoʊ", "joe", ["高兴1"])]) is joe_nano


def test_an_unknown_source_is_one_clear_error(tmp_path):
    with pytest.raises(InitFromError, match="neither a checkpoint file nor a voice"):
        load_initial(tmp_path / "nope")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(InitFromError, match="not a steptts checkpoint"):
        load_initial(corrupt)
