"""Clone stage 3: the alignment found for the shipped voice's own speech against the graph's durations."""

from __future__ import annotations

import numpy as np
import pytest

from distill.clone_align import CALIBRATION_SENTENCES, Frontend, align_utterance, fit_alignment_projection
from distill.onnx_weights import student_from_voice
from export.parity import open_session
from tests.conftest import REPO
from tests.student_helpers import one_torch_thread  # noqa: F401 (autouse fixture)

HELD_OUT = (  # not among the calibration sentences
    "Please call Stella and ask her to meet us at the station.",
    "It rained all night, so the garden looks fresh today.",
)


@pytest.fixture(scope="module")
def fitted():
    weights, voice = student_from_voice(REPO / "voices" / "joe-nano")
    frontend = Frontend.of_voice(voice, "en")
    return weights.student, voice, frontend, fit_alignment_projection(weights.student, frontend)


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


def test_projection_fitted_from_the_voice_explains_its_token_means(fitted) -> None:
    _, _, _, fit = fitted
    assert fit.r_squared > 0.8
    assert fit.tokens > 20 * len(CALIBRATION_SENTENCES)
    assert fit.reference_mean.shape == (80,)


@pytest.mark.parametrize("controls", [[1.0, 0.0, 0.0], [1.0, -5.0, -6.0], [1.25, 3.0, 0.0]])
def test_boundaries_fall_within_a_frame_or_two_of_the_graphs_own(fitted, controls) -> None:
    """Held-out sentences, also lower and quieter, or faster and higher than the voice speaks."""
    student, voice, frontend, fit = fitted
    errors = []
    for sentence in HELD_OUT:
        ids, _ = frontend.ids(frontend.phonemes(sentence)[1])
        audio, truth = _render(voice, ids, controls)
        found = align_utterance(student, ids, audio, fit.reference_mean)
        assert found.shape == truth.shape and int(found.sum()) == len(audio) // 256 and found.min() >= 1
        errors.append(np.abs(np.cumsum(found)[:-1] - np.cumsum(truth)[:-1]))
    errors = np.concatenate(errors)
    assert errors.mean() <= 2.0, errors
    assert np.mean(errors <= 2) >= 0.8, errors
