"""The student model: sizes of the presets, features, the inference graph's contract, and training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from distill.features import HOP, N_MELS, extract_features, log_mel
from distill.model import (
    PRESETS,
    TEMPO_FLOOR_FRAMES,
    VOCODER_VERSION,
    HarmonicSource,
    InverseSTFT,
    MinimumPhase,
    PresetError,
    ShortTimeSpectrum,
    Student,
    Vocoder,
    config_from_checkpoint,
    count_parameters,
    make_config,
    round_cumulative,
    scale_tempo,
    upgrade_checkpoint,
)
from steptts.errors import StepTTSError
from tests.student_helpers import N_SYMBOLS, fit, one_torch_thread, synthetic_batch  # noqa: F401 (autouse fixture)


def _inputs(phoneme_ids: torch.Tensor, lengths: torch.Tensor, **overrides) -> dict[str, torch.Tensor]:
    batch, n_tokens = phoneme_ids.shape
    inputs = {
        "phoneme_ids": phoneme_ids,
        "phoneme_lengths": lengths,
        "tag_ids": torch.zeros(batch, 1, dtype=torch.long),
        "speaker_ids": torch.zeros(batch, dtype=torch.long),
        "controls": torch.tensor([[1.0, 0.0, 0.0]] * batch),
        "duration_override": torch.full((batch, n_tokens), -1.0),
        "pitch_override": torch.zeros(batch, n_tokens),
    }
    inputs.update(overrides)
    return inputs


@pytest.fixture(scope="module")
def trained_tiny() -> Student:
    """A tiny student after a few dozen steps on synthetic tones (seconds)."""
    torch.manual_seed(0)
    batch, n_symbols = synthetic_batch(batch_size=4)
    student = Student(make_config("tiny", n_symbols=n_symbols, n_tags=4, n_speakers=2))
    return fit(student, batch, 40).eval()


def test_preset_sizes() -> None:
    tiny = count_parameters(Student(make_config("tiny", 100, 20, 2)))
    nano = count_parameters(Student(make_config("nano", 200, 40, 4)))
    assert 100_000 <= tiny <= 300_000
    assert nano <= 6_000_000  # ≤ 25 MB as fp32
    with torch.device("meta"):
        big = Student(make_config("3b", 200, 40, 4))
    assert 2.8e9 <= count_parameters(big) <= 3.2e9
    assert len(big.shard_units()) == 16 + 16 + 1


def test_unknown_preset_is_a_user_error() -> None:
    with pytest.raises(PresetError, match="huge"):
        make_config("huge", 10, 2, 1)
    assert issubclass(PresetError, StepTTSError)
    assert set(PRESETS) == {"tiny", "nano", "small", "base", "3b"}


def test_features_of_a_tone() -> None:
    sample_rate_hz = 22050
    n_samples = 22050 + 100  # not a multiple of the hop
    t = np.arange(n_samples) / sample_rate_hz
    audio = (0.5 * np.sin(2 * np.pi * 200.0 * t)).astype(np.float32)
    audio[: 5 * HOP] = 0.0
    features = extract_features(audio, sample_rate_hz)
    frames = n_samples // HOP
    assert features["mel"].shape == (frames, N_MELS) and features["mel"].dtype == np.float32
    assert features["f0_hz"].shape == (frames,) and features["energy"].shape == (frames,)
    voiced = features["f0_hz"][20:-5]
    assert np.all(np.abs(voiced - 200.0) < 4.0)
    assert np.all(features["f0_hz"][:2] == 0.0)
    # RMS of a 0.5 sine is 0.354; silence sits near the floor.
    assert abs(features["energy"][40] - np.log(0.5 / np.sqrt(2))) < 0.05
    assert features["energy"][1] < -10
    # The mel peak lies in the band of 200 Hz (low bands), and log_mel is the same function.
    assert int(np.argmax(features["mel"][40])) < 10
    again = log_mel(torch.from_numpy(audio)[None])[0].numpy()
    assert np.array_equal(again, features["mel"])


def test_f0_of_a_low_buzzy_voice_is_not_doubled() -> None:
    # A 90 Hz pulse train with a strong second harmonic, gliding to 110 Hz: the case where WORLD's dio
    # reported double the pitch on the Piper joe voice.
    sample_rate_hz = 22050
    t = np.arange(sample_rate_hz) / sample_rate_hz
    f0 = 90.0 + 20.0 * t
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate_hz
    audio = sum((0.6 if k == 2 else 0.3 / k) * np.sin(k * phase) for k in range(1, 12)).astype(np.float32)
    tracked = extract_features(audio)["f0_hz"]
    wanted = 90.0 + 20.0 * (np.arange(len(tracked)) * HOP / sample_rate_hz)
    inner = slice(3, -3)
    assert np.all(tracked[inner] > 0)
    assert np.all(np.abs(tracked[inner] / wanted[inner] - 1.0) < 0.03)


def test_inverse_stft_inverts_torch_stft() -> None:
    signal = torch.randn(2, 50 * HOP)
    spectrum = torch.stft(signal, 1024, HOP, window=torch.hann_window(1024), return_complex=True)[..., :50]
    rebuilt = InverseSTFT(1024, HOP)(spectrum.real.transpose(1, 2), spectrum.imag.transpose(1, 2))
    assert rebuilt.shape == signal.shape
    assert float((rebuilt - signal).abs().max()) < 1e-4


def test_stft_of_the_shared_basis_is_inverted_exactly() -> None:
    inverse = InverseSTFT(1024, HOP)
    signal = torch.randn(2, 40 * HOP)
    spectrum = ShortTimeSpectrum(inverse)(signal)
    wanted = torch.stft(signal, 1024, HOP, window=torch.hann_window(1024), return_complex=True,
                        pad_mode="constant")[..., :40].transpose(1, 2)
    assert torch.allclose(spectrum, torch.cat([wanted.real, wanted.imag], -1), atol=1e-3)
    rebuilt = inverse(*spectrum.chunk(2, dim=-1))
    assert float((rebuilt - signal).abs().max()) < 1e-4


@pytest.mark.parametrize("midi", [40.0, 57.0, 69.0, 81.0])
def test_harmonic_source_sounds_the_asked_pitch_with_every_harmonic(midi: float) -> None:
    sample_rate = 22050
    frames = 2 * sample_rate // HOP
    source = HarmonicSource(sample_rate, HOP)
    pulses = source(torch.full((1, frames), (midi - 60) / 12), torch.ones(1, frames))[0].numpy()
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    spectrum = np.abs(np.fft.rfft(pulses * np.hanning(len(pulses))))
    hz = np.fft.rfftfreq(len(pulses), 1 / sample_rate)
    peaks = [spectrum[np.abs(hz - k * f0) < f0 / 4].max() for k in (1, 2, 5)]
    between = spectrum[np.abs(hz - 1.5 * f0) < f0 / 8].max()
    assert min(peaks) > 100 * between  # harmonics of f0, nothing between them
    assert np.ptp(peaks) < 0.2 * np.mean(peaks)  # equal amplitudes
    # Unvoiced frames are silent; the pulse train joins frames without a step (a long sentence stays
    # on pitch: the running phase is kept in whole frames).
    half = torch.cat([torch.ones(1, frames // 2), torch.zeros(1, frames - frames // 2)], 1)
    gated = source(torch.full((1, frames), (midi - 60) / 12), half)[0]
    assert float(gated[(frames // 2 + 1) * HOP :].abs().max()) == 0.0
    long = source(torch.full((1, 4000), (midi - 60) / 12), torch.ones(1, 4000))[0].numpy()
    tail = long[-sample_rate:]
    tail_spectrum = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    tail_hz = np.fft.rfftfreq(len(tail), 1 / sample_rate)
    assert abs(tail_hz[np.argmax(tail_spectrum * (tail_hz < 1.5 * f0))] - f0) < 2.0


@pytest.mark.parametrize("pole", [0.5, -0.7])
def test_minimum_phase_of_a_one_pole_filter(pole: float) -> None:
    """1 / (1 - a·e^{-iω}) is minimum phase: its phase is recovered from its magnitude alone."""
    omega = torch.linspace(0, math.pi, 513, dtype=torch.float64)
    response = 1.0 / (1.0 - pole * torch.exp(-1j * omega))
    phase = MinimumPhase(lifter=60)(response.abs().log()[None, None])[0, 0]
    assert torch.allclose(phase, response.angle(), atol=1e-4)


def test_vocoder_output_follows_the_pitch_feature() -> None:
    """Even untrained, the vocoder's voiced output sits on the pitch it is given (no learned phase)."""
    config = PRESETS["tiny"]
    torch.manual_seed(0)
    vocoder = Vocoder(config).eval()
    frames, sample_rate = 200, config.sample_rate
    for midi in (48.0, 60.0):
        features = torch.zeros(1, frames, config.n_mels + 2)
        features[..., : config.n_mels] = -4.0
        features[..., config.n_mels] = (midi - 60.0) / 12.0
        features[..., config.n_mels + 1] = 1.0
        with torch.no_grad():
            audio = vocoder(features)[0].numpy()
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        hz = np.fft.rfftfreq(len(audio), 1 / sample_rate)
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        low = hz < 1.5 * f0
        assert abs(hz[low][np.argmax(spectrum[low])] - f0) < 3.0


def test_checkpoints_of_the_old_vocoder_head_are_upgraded_or_refused() -> None:
    config = make_config("tiny", n_symbols=N_SYMBOLS, n_tags=4, n_speakers=1)
    student = Student(config)
    old_config = {k: v for k, v in vars(config).items() if k != "vocoder_version"}  # version 1
    state = {k: v.clone() for k, v in student.state_dict().items()}
    with pytest.raises(StepTTSError, match="--init-from"):
        config_from_checkpoint(old_config)
    upgraded, new_state = upgrade_checkpoint(old_config, state)
    assert upgraded.vocoder_version == VOCODER_VERSION
    bins = config.n_fft // 2 + 1
    head = new_state["vocoder.head.weight"]
    assert torch.equal(head[:bins], state["vocoder.head.weight"][:bins])
    assert torch.equal(head[bins:], state["vocoder.head.weight"][:bins])
    Student(upgraded).load_state_dict(new_state)
    assert config_from_checkpoint(vars(upgraded)) == upgraded


def test_training_is_deterministic_and_learns() -> None:
    batch, n_symbols = synthetic_batch(batch_size=4)
    config = make_config("tiny", n_symbols=n_symbols, n_tags=4, n_speakers=2)

    def run(steps: int) -> list[dict[str, float]]:
        torch.manual_seed(3)
        student = Student(config)
        optimizer = torch.optim.AdamW(student.parameters(), lr=3e-3)
        history = []
        for step in range(steps):
            losses = student.training_losses(batch, step)
            optimizer.zero_grad()
            losses["total"].backward()
            optimizer.step()
            history.append({name: float(value.detach()) for name, value in losses.items()})
        return history

    history = run(25)
    assert set(history[0]) >= {"total", "mel", "duration", "pitch", "energy", "vocoder_stft", "vocoder_mel"}
    assert history[0]["align"] == 0.0  # teacher durations everywhere: no alignment search
    for name in ("total", "mel", "duration", "pitch", "vocoder_stft"):
        assert history[-1][name] < history[0][name], name
    # Past vocoder_predicted_from_step (10 for tiny) the predicted-feature path runs too.
    assert config.vocoder_predicted_from_step < 25
    assert run(3) == history[:3]


def test_forward_contract_and_controls(trained_tiny: Student) -> None:
    ids = torch.tensor([[1, 5, 7, 2, 9, 4, 6], [3, 10, 11, 0, 0, 0, 0]])
    lengths = torch.tensor([7, 3])
    with torch.no_grad():
        audio, audio_lengths, durations = trained_tiny(**_inputs(ids, lengths))
        assert audio.dtype == torch.float32 and audio_lengths.dtype == torch.int64
        assert durations.dtype == torch.int64 and durations.shape == ids.shape
        assert torch.equal(audio_lengths, durations.sum(1) * HOP)
        assert audio.shape[1] == int(durations.sum(1).max()) * HOP
        assert int(durations[1, 3:].abs().sum()) == 0
        assert float(audio[1, int(audio_lengths[1]) :].abs().max()) == 0.0
        assert float(audio[0].abs().max()) > 1e-3

        # Learned durations: symbol s lasts 3 + s % 5 frames in the synthetic data.
        wanted = torch.tensor([3 + s % 5 for s in ids[0].tolist()])
        assert float((durations[0] - wanted).abs().float().mean()) < 1.5

        # speed 2 halves the total; tokens of up to 3 frames keep them (see test_scale_tempo_*).
        fast = trained_tiny(**_inputs(ids, lengths, controls=torch.tensor([[2.0, 0.0, 0.0]] * 2)))[2]
        assert bool(((fast.sum(1) - durations.sum(1) / 2).abs() <= 1).all())
        short = (durations <= 3) & (durations > 0)
        assert bool(((fast - durations).abs()[short] <= 1).all())
        assert bool((fast <= durations).all())

        # An override is used exactly, and speed does not apply to it.
        override = torch.full(ids.shape, -1.0)
        override[0, 2] = 11.0
        override[1, 0] = 0.0
        forced = trained_tiny(
            **_inputs(ids, lengths, duration_override=override, controls=torch.tensor([[2.0, 0.0, 0.0]] * 2))
        )[2]
        assert int(forced[0, 2]) == 11 and int(forced[1, 0]) == 0
        assert bool(((forced[0, 3:] - fast[0, 3:]).abs() <= 1).all())  # running-sum rounding may move a frame

        # Pitch override and pitch shift change the audio but not the timing.
        pitch = torch.zeros(ids.shape)
        pitch[0, :] = 72.0
        sung, _, sung_durations = trained_tiny(**_inputs(ids, lengths, pitch_override=pitch))
        assert torch.equal(sung_durations, durations)
        assert float((sung[0] - audio[0]).abs().max()) > 1e-3
        assert torch.equal(sung[1], audio[1])  # row 1 had no override


@pytest.mark.parametrize("speed", [0.5, 0.75, 1.0, 1.333, 2.0, 20.0])
def test_scale_tempo_keeps_the_total_and_the_short_tokens(speed: float) -> None:
    durations = torch.tensor([[2.0, 3.0, 9.0, 1.5, 14.0, 0.0], [4.0, 4.0, 0.0, 0.0, 0.0, 0.0]])
    scaled = scale_tempo(durations, torch.full((2, 1), speed))
    assert torch.allclose(scaled.sum(1), durations.sum(1) / speed, atol=1e-4)
    assert float(scaled[0, 5]) == 0.0 and float(scaled[1, 2:].abs().sum()) == 0.0  # padding stays empty
    floor = durations.clamp(max=TEMPO_FLOOR_FRAMES)
    for row in range(2):
        if speed == 20.0:  # the floors alone overflow the target: they all shrink alike
            assert torch.allclose(scaled[row] / scaled[row].sum(), floor[row] / floor[row].sum(), atol=1e-5)
            continue
        within = durations[row] <= TEMPO_FLOOR_FRAMES  # these keep their frames; only the excess scales
        assert torch.allclose(scaled[row][within], durations[row][within])
        excess = (scaled[row] - floor[row])[~within] / (durations[row] - floor[row])[~within]
        assert torch.allclose(excess, excess[0].expand_as(excess), atol=1e-5)


def test_round_cumulative_follows_the_running_sum() -> None:
    durations = torch.tensor([[2.4, 2.4, 2.4, 2.4, 0.0], [0.6, 0.6, 0.6, 0.0, 0.0]])
    rounded = round_cumulative(durations)
    assert rounded.dtype == torch.int64
    assert rounded.tolist() == [[2, 3, 2, 3, 0], [1, 0, 1, 0, 0]]  # per-token rounding: 8 and 3 frames
    assert bool(((rounded.cumsum(1) - durations.cumsum(1)).abs() <= 0.5).all())


def test_batching_does_not_change_durations(trained_tiny: Student) -> None:
    ids = torch.tensor([[1, 5, 7, 2, 9, 4, 6], [3, 10, 11, 0, 0, 0, 0]])
    with torch.no_grad():
        _, _, together = trained_tiny(**_inputs(ids, torch.tensor([7, 3])))
        _, _, alone = trained_tiny(**_inputs(ids[1:, :3], torch.tensor([3])))
    assert torch.equal(together[1, :3], alone[0])
