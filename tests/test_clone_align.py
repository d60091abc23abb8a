"""Clone stage 3: boundaries carried along a warp path, and the alignment found for the shipped voice's own
speech (under other controls) against the graph's durations."""

from __future__ import annotations

import numpy as np
import pytest

from distill.clone_align import Frontend, align_utterance, carry_boundaries
from distill.onnx_weights import student_from_voice
from export.parity import open_session
from tests.conftest import REPO
from tests.student_helpers import one_torch_thread  # noqa: F401 (autouse fixture)

HELD_OUT = (
    "Please call Stella and ask her to meet us at the station.",
    "It rained all night, so the garden looks fresh today.",
)


@pytest.fixture(scope="module")
def fitted():
    weights, voice = student_from_voice(REPO / "voices" / "joe-nano")
    frontend = Frontend.of_voice(voice, "en")
    return weights.student, voice, frontend


def _render(voice, ids: list[int], controls: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The graph's audio [S] and durations [T] for ids under controls (speed, semitones, dB)."""
    n_tokens = len(ids)
    feeds = {
        "phoneme_ids": np.array([ids], np.int64), "phoneme_lengths": np.array([n_tokens], np.int64),
        "tag_ids": np.zeros((1, 1), np.int64), "speaker_ids": np.zeros(1, np.int64),
        "controls": np.array([controls], np.float32),
        "duration_override": np.full((1, n_tokens), -1.0, np.float32),
        "pitch_override": np.zeros((1, n_tokens), np.float32),
    }
    audio, lengths, durations = open_session(voice.model_path()).run(None, feeds)
    return audio[0, : int(lengths[0])], durations[0]


def test_boundaries_follow_the_path_and_the_durations_sum_to_the_recording() -> None:
    # Rendering: tokens of 2, 3 and 1 frames. Recording: 8 frames; the path stretches token 2.
    path = np.array([[0, 0], [1, 1], [2, 2], [3, 3], [3, 4], [4, 5], [4, 6], [5, 7]])
    assert carry_boundaries(path, np.array([2, 3, 1]), 8).tolist() == [2, 5, 1]
    # Two rendered tokens start on one recording frame: the later moves on, each token keeps a frame.
    path = np.array([[0, 0], [1, 1], [2, 1], [3, 2], [3, 3]])
    assert carry_boundaries(path, np.array([1, 1, 1, 1]), 4).tolist() == [1, 1, 1, 1]
    # The path's end squeezes the last tokens: they are moved back, not given 0 frames.
    path = np.array([[0, 0], [1, 1], [2, 2], [2, 3], [2, 4], [3, 5], [4, 5]])
    assert carry_boundaries(path, np.array([1, 1, 1, 1, 1]), 6).tolist() == [1, 1, 2, 1, 1]


@pytest.mark.parametrize("controls", [[1.0, 0.0, 0.0], [1.0, -5.0, -6.0], [1.25, 3.0, 0.0]])
def test_boundaries_fall_within_a_frame_or_two_of_the_graphs_own(fitted, controls) -> None:
    """Held-out sentences, also lower and quieter, or faster and higher than the voice speaks."""
    student, voice, frontend = fitted
    errors = []
    for sentence in HELD_OUT:
        ids, _ = frontend.ids(frontend.phonemes(sentence)[1])
        audio, truth = _render(voice, ids, controls)
        alignment = align_utterance(student, ids, audio, [0])
        found = alignment.durations
        assert alignment.speaker_id == 0 and alignment.cost > 0
        assert found.shape == truth.shape and int(found.sum()) == len(audio) // 256 and found.min() >= 1
        errors.append(np.abs(np.cumsum(found)[:-1] - np.cumsum(truth)[:-1]))
    errors = np.concatenate(errors)
    assert errors.mean() <= 2.0, errors
    assert np.mean(errors <= 2) >= 0.8, errors


def test_the_new_speaker_starts_as_the_base_speaker_it_was_most_often_aligned_with() -> None:
    from dataclasses import replace
    from types import SimpleNamespace

    import torch

    from distill.clone_adapt import _start_from_nearest_speaker
    from distill.init_weights import SPEAKER_TABLE, load_initial

    initial = load_initial(str(REPO / "voices" / "bilingual-nano"))
    speakers = {**initial.vocab.speakers, "me": len(initial.vocab.speakers)}
    table = initial.state[SPEAKER_TABLE]
    grown = replace(initial, vocab=replace(initial.vocab, speakers=speakers),
                    state={**initial.state, SPEAKER_TABLE: torch.cat([table, table.mean(0, keepdim=True)])})
    records = [SimpleNamespace(fields={"align_speaker": name}) for name in ("jf_gongitsune", "joe", "jf_gongitsune")]
    started = _start_from_nearest_speaker(grown, records, "me")
    rows = started.state[SPEAKER_TABLE]
    assert torch.equal(rows[speakers["me"]], table[speakers["jf_gongitsune"]])
    assert torch.equal(rows[: len(table)], table) and torch.equal(grown.state[SPEAKER_TABLE][-1], table.mean(0))
    # Records that name no base speaker (aligned before align_speaker existed): the mean row stays.
    unnamed = _start_from_nearest_speaker(grown, [SimpleNamespace(fields={})], "me")
    assert torch.equal(unnamed.state[SPEAKER_TABLE][-1], table.mean(0))
