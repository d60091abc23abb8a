"""The offline judges of speech: pocketsphinx for words (WER with jiwer) and DNSMOS OVRL for quality.

- intelligibility: word error rate of pocketsphinx (its bundled US English model) on 16 kHz int16
  audio, scored with jiwer against ``spoken_form(normalize_text(line))``;
- quality: DNSMOS OVRL from the ONNX model that the ``speechmos`` package ships, run directly with
  onnxruntime (speechmos's own ``dnsmos.run`` needs librosa for its P.808 head, which OVRL does not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distill.corpus import spoken_form
from distill.dsp import resample
from steptts.errors import StepTTSError

ASR_RATE_HZ = 16000
"""pocketsphinx's and DNSMOS's rate."""


def _to_16k(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    return np.clip(resample(audio, sample_rate_hz, ASR_RATE_HZ), -1.0, 1.0)


class SpeechRecognizer:
    """pocketsphinx with its bundled US English acoustic model, language model and dictionary.

    Not thread-safe (one decoder); loading takes about half a second, so reuse one instance.
    """

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise StepTTSError('WER needs pocketsphinx: pip install -e ".[eval]"') from None
        self._decoder = Decoder(samprate=ASR_RATE_HZ, loglevel="FATAL")

    def transcribe(self, audio: np.ndarray, sample_rate_hz: int) -> str:
        """Lowercase words heard in ``audio`` (float32 [S], any rate; decoded as 16 kHz int16)."""
        pcm = (_to_16k(audio, sample_rate_hz) * 32767.0).astype("<i2").tobytes()
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(pcm, no_search=False, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return spoken_form(hypothesis.hypstr if hypothesis is not None else "")


def reference_words(text: str) -> str:
    """What a listener should hear for a line: ``spoken_form(normalize_text(text))`` (tags removed)."""
    from steptts.tags import parse_tags
    from steptts.textnorm import normalize_text

    _, body = parse_tags(text)
    return spoken_form(normalize_text(body))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER (errors / reference words) with jiwer; references must not be empty."""
    import jiwer

    if not references:
        return float("nan")
    return float(jiwer.process_words(list(references), list(hypotheses)).wer)


class Dnsmos:
    """DNSMOS P.835 OVRL with the ``sig_bak_ovr.onnx`` model shipped by the speechmos package.

    Like the reference procedure: audio at 16 kHz, repeated to at least 9.01 s, scored on 9.01 s
    windows every second, raw scores mapped through the model's published calibration polynomial,
    then averaged.
    """

    WINDOW_S = 9.01
    # Calibration of the non-personalized model (SIG, BAK, OVRL polynomials, highest power first).
    _OVRL_POLY = (-0.06766283, 1.11546468, 0.04602535)

    def __init__(self, threads: int = 1) -> None:
        import importlib.util

        import onnxruntime as ort

        spec = importlib.util.find_spec("speechmos")
        if spec is None or spec.origin is None:
            raise StepTTSError('DNSMOS needs speechmos: pip install -e ".[eval]"')
        model = Path(spec.origin).parent / "dnsmos_models" / "sig_bak_ovr.onnx"
        if not model.is_file():
            raise StepTTSError(f"speechmos is installed but lacks its DNSMOS model at {model}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def ovrl(self, audio: np.ndarray, sample_rate_hz: int) -> float:
        """OVRL MOS (1–5) of ``audio`` (float32 [S], any rate)."""
        audio = _to_16k(audio, sample_rate_hz).astype(np.float32)
        if audio.size == 0 or not np.any(audio):
            return float("nan")
        window = int(self.WINDOW_S * ASR_RATE_HZ)
        while audio.size < window:
            audio = np.concatenate([audio, audio])
        n_windows = int(math.floor(audio.size / ASR_RATE_HZ) - self.WINDOW_S) + 1
        scores = []
        for index in range(max(1, n_windows)):
            segment = audio[index * ASR_RATE_HZ : index * ASR_RATE_HZ + window]
            if segment.size < window:
                continue
            raw = self._session.run(None, {self._input: segment[None, :]})[0][0]
            scores.append(float(np.polyval(self._OVRL_POLY, float(raw[2]))))
        return float(np.mean(scores))
