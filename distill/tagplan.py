"""Tag plans: which share of the corpus is rendered under which tag.

A plan maps tag keys (``高兴1``, ``慢速2``, ``British``, …) to fractions of the lines; the rest is
neutral. Assignment hashes (seed, text), so the tag of every line is known in advance, does not
depend on the corpus order or size, and is the same on every run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from steptts.errors import TagError
from steptts.tags import resolve_tag

NEUTRAL = "neutral"

DEFAULT_FRACTIONS: dict[str, float] = {
    **{f"{emotion}{level}": 0.04 for emotion in ("高兴", "生气", "悲伤", "撒娇") for level in (1, 2)},
    **{speed: 0.035 for speed in ("慢速1", "慢速2", "快速1", "快速2")},
    "哼唱": 0.07,
    "RAP": 0.05,
    "British": 0.04,
    "Scottish": 0.04,
    "American": 0.02,
}
"""The default plan: 68% tagged, 32% neutral."""
MANDARIN_FRACTIONS: dict[str, float] = {
    key: fraction for key, fraction in DEFAULT_FRACTIONS.items() if resolve_tag(key).kind != "accent"
}
"""The plan ``mandarin``: the default one without English accents (58% tagged, 42% neutral)."""


class TagPlanError(TagError):
    """A tag plan names an unknown tag, has a bad fraction, or cannot be read."""


@dataclass(frozen=True)
class Assignment:
    """The plan's choice for one line."""

    tags: tuple[str, ...]
    """Tag keys (empty: neutral)."""
    edit_seed: int
    """Seed for the audio edit of this line (stable per text and plan seed)."""


@dataclass(frozen=True)
class TagPlan:
    """Tag key → fraction of lines; the remainder ``1 - sum`` is neutral."""

    name: str
    """``default``, ``none`` or the plan file's path."""
    fractions: dict[str, float] = field(default_factory=dict)
    """Tag key → fraction of the lines rendered under it."""
    neutralized: frozenset[str] = frozenset()
    """Keys whose lines stay neutral (a teacher cannot make them); the other lines keep their tags."""

    def __post_init__(self) -> None:
        total = 0.0
        for key, fraction in self.fractions.items():
            try:
                canonical = resolve_tag(key).key
            except TagError as error:
                raise TagPlanError(f"tag plan '{self.name}': {error}") from None
            if canonical != key:
                raise TagPlanError(f"tag plan '{self.name}': write tag '{key}' as its key '{canonical}'")
            if not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
                raise TagPlanError(
                    f"tag plan '{self.name}': fraction of '{key}' must be in [0, 1], got {fraction}"
                )
            total += fraction
        if total > 1.0 + 1e-9:
            raise TagPlanError(f"tag plan '{self.name}': fractions add up to {total:.3f}, more than 1")

    @property
    def neutral_fraction(self) -> float:
        tagged = sum(f for key, f in self.fractions.items() if key not in self.neutralized)
        return max(0.0, 1.0 - tagged)

    @property
    def tag_keys(self) -> list[str]:
        return [key for key, f in self.fractions.items() if f > 0 and key not in self.neutralized]

    def neutralize(self, keys: set[str] | frozenset[str]) -> TagPlan:
        """The same plan with the lines of ``keys`` left neutral (every other line's tag unchanged)."""
        return replace(self, neutralized=self.neutralized | frozenset(keys))

    def assign(self, text: str, seed: int = 0) -> Assignment:
        """Tags of one line, chosen by a hash of (seed, text) against the cumulative fractions."""
        digest = hashlib.sha256(f"{seed}\0{text}".encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2.0**64  # uniform in [0, 1)
        edit_seed = int.from_bytes(digest[8:12], "big")
        cumulative = 0.0
        # Sorted keys: the assignment must not depend on the order a JSON file lists them in.
        for key in sorted(self.fractions):
            cumulative += self.fractions[key]
            if position < cumulative:
                return Assignment(() if key in self.neutralized else (key,), edit_seed)
        return Assignment((), edit_seed)

    def to_json(self) -> dict[str, float]:
        kept = {key: f for key, f in self.fractions.items() if key not in self.neutralized}
        return {**kept, NEUTRAL: round(self.neutral_fraction, 6)}


def load_tag_plan(spec: str | Path) -> TagPlan:
    """``default``, ``mandarin``, ``none`` (all neutral) or a JSON file ``{"高兴1": 0.1, …}`` (``neutral``
    ignored)."""
    if str(spec) == "default":
        return TagPlan("default", dict(DEFAULT_FRACTIONS))
    if str(spec) == "mandarin":
        return TagPlan("mandarin", dict(MANDARIN_FRACTIONS))
    if str(spec) == "none":
        return TagPlan("none", {})
    path = Path(spec)
    if not path.is_file():
        raise TagPlanError(f"tag plan '{spec}' is neither 'default', 'mandarin', 'none' nor a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TagPlanError(f"cannot read tag plan {path}: {error}") from None
    if not isinstance(data, dict):
        raise TagPlanError(f"tag plan {path} must be a JSON object of tag key → fraction")
    data.pop(NEUTRAL, None)
    return TagPlan(path.stem, {str(key): value for key, value in data.items()})
