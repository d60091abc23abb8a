"""The one rule that decides whether a reduced-precision graph (fp16 or int8) ships with a voice.

Both variants are measured the same way (:mod:`export.parity`: held-out inputs, durations forced to
the reference's for the audio figures) and kept or dropped by the same thresholds. The rule and each
verdict, with its reason, are written into ``voice.json`` (``variant_rule``, ``parity[variant].why``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class VariantRule:
    """Thresholds a variant must meet against its reference (the torch student, or the fp32 graph)."""

    min_mel_snr_db: float = 30.0
    """Lowest mel-band SNR in dB (80 bands, durations forced): below it the variant sounds different."""
    min_durations_match: float = 1.0
    """Fraction of tokens whose frame count must equal the reference's: 1.0, every one."""
    max_wer_increase: float = 0.01
    """Largest rise of the word error rate over fp32 on the dev lines, when it was measured."""
    max_dnsmos_drop: float = 0.05
    """Largest fall of DNSMOS OVRL under fp32 on the dev lines, when it was measured."""

    def verdict(self, parity: dict, listening: dict | None = None) -> tuple[bool, str]:
        """Keep the variant or not, and why, from its parity figures and optional listening figures.

        Args:
            parity: :class:`export.parity.Parity` as JSON (``mel_snr_db``, ``durations_match``).
            listening: optional ``wer_increase`` and ``dnsmos_drop`` against fp32 (bench/bench_variants.py).
        """
        reasons, failures = [], []
        mel = float(parity["mel_snr_db"])
        (reasons if mel >= self.min_mel_snr_db else failures).append(
            f"mel SNR {mel:.1f} dB {'≥' if mel >= self.min_mel_snr_db else '<'} {self.min_mel_snr_db:g}")
        match = float(parity["durations_match"])
        (reasons if match >= self.min_durations_match else failures).append(
            "every duration equal" if match >= self.min_durations_match else f"{match:.1%} of durations equal")
        if listening:
            wer, dnsmos = float(listening["wer_increase"]), float(listening["dnsmos_drop"])
            (reasons if wer <= self.max_wer_increase else failures).append(
                f"WER {wer:+.3f} against fp32 (limit +{self.max_wer_increase:g})")
            (reasons if dnsmos <= self.max_dnsmos_drop else failures).append(
                f"DNSMOS {-dnsmos:+.3f} against fp32 (limit -{self.max_dnsmos_drop:g})")
        if failures:
            return False, "dropped: " + "; ".join(failures)
        return True, "kept: " + "; ".join(reasons)

    def to_json(self) -> dict:
        return {**asdict(self), "applies_to": ["fp16", "int8"]}


VARIANT_RULE = VariantRule()
"""The rule in force for every export."""
