"""A calibrated candidate as text a person reviews: the active file with only the fitted
numbers changed, rounded, each marked with the value it replaces, plus a warning for
every sign flip and every signal the fit drops.

tomlkit edits the parsed document in place, so the author's comments (why each weight is
what it is), layout and key order survive; the hand-written writer (profiles.toml_text)
is the fallback when the file on disk no longer matches the loaded profile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from prioscore.server.engine import Profile, Signal
from prioscore.server.profiles.check import default_max_points
from prioscore.server.profiles.toml_text import number

SIGNIFICANT = 3  # weights and caps keep three significant digits: 16.0252 -> 16


@dataclass(frozen=True)
class CandidateText:
    """The candidate's TOML and what a reviewer must look at before promoting it."""

    toml: str
    warnings: tuple[str, ...]


def rounded(value: float, digits: int = SIGNIFICANT) -> float:
    """`value` to `digits` significant digits (0 stays 0)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _rounded_signals(signals: Sequence[Signal]) -> list[tuple[float, float | None]]:
    """(weight, cap) of each candidate signal as the text will say them."""
    return [(rounded(s.weight), None if s.cap is None else rounded(s.cap)) for s in signals]


def _literal(value: float) -> Any:
    return tomlkit.item(int(value) if float(value).is_integer() else value)


def _review(old: Signal, weight: float) -> tuple[str, str | None]:
    """(comment for the weight line, warning or None) for one signal."""
    was = f"calibrated, was {number(old.weight)}"
    name = old.name
    if old.weight != 0 and weight == 0:
        return f"{was}; DROPPED", (
            f"signal {name!r}: the fitted weight rounds to 0, so the candidate drops it "
            f"(was {number(old.weight)}); remove the signal or keep its weight"
        )
    if old.weight * weight < 0:
        now = "raises" if weight > 0 else "lowers"
        return f"{was}; SIGN FLIPPED", (
            f"signal {name!r}: the weight flips sign ({number(old.weight)} -> "
            f"{number(weight)}): the outcomes say this behaviour {now} the odds; check the "
            "data before promoting (a penalty that becomes a reward is rarely meant)"
        )
    return was, None


def candidate_text(active_text: str, active: Profile, candidate: Profile) -> CandidateText:
    """The active profile's text with the candidate's version, weights and caps.

    `active_text` must be the text `active` was loaded from (callers check its digest);
    signals are matched by position, as calibration keeps names and order.
    """
    doc = tomlkit.parse(active_text)
    head = doc["profile"]
    assert isinstance(head, Table)
    head["version"] = candidate.version
    blocks = doc["signals"]
    assert isinstance(blocks, AoT)
    numbers = _rounded_signals(candidate.signals)
    warnings: list[str] = []
    for block, old, (weight, cap) in zip(blocks, active.signals, numbers, strict=True):
        comment, warning = _review(old, weight)
        if weight != old.weight:
            block["weight"] = _literal(weight)
            block["weight"].comment(comment)
        if cap is None:
            block.pop("cap", None)
        elif cap != old.cap:
            block["cap"] = _literal(cap)
        if warning:
            warnings.append(warning)
    derived = default_max_points(
        [
            Signal(s.name, s.event, s.aggregate, weight, cap)
            for s, (weight, cap) in zip(candidate.signals, numbers, strict=True)
        ]
    )
    scoring = doc.get("scoring")
    if "max_points" not in (scoring or {}) and derived != candidate.max_points:
        if scoring is None:
            doc["scoring"] = scoring = tomlkit.table()
        scoring["max_points"] = _literal(rounded(candidate.max_points))
        scoring["max_points"].comment("kept from the active profile: tiers keep their meaning")
    return CandidateText(tomlkit.dumps(doc), tuple(warnings))


__all__ = ["CandidateText", "candidate_text"]
