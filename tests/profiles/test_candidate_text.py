"""Calibrated candidates a person can review: the active file's comments kept, numbers
rounded, the replaced value noted, a warning per sign flip and per dropped signal."""

from __future__ import annotations

import dataclasses

from prioscore.server.profiles import candidate_text, load_profile_text
from prioscore.server.profiles.bundled import DIRECTORY as BUNDLED_PROFILES


def test_candidate_keeps_comments_rounds_and_flags_flips_and_drops() -> None:
    text = (BUNDLED_PROFILES / "churn_risk.toml").read_text()
    active = load_profile_text(text, "churn_risk.toml")
    fitted = {
        "days_since_login": 16.025222970770677,  # kept sign, many digits
        "recent_usage": 0.75,  # a reward (-0.5) that became a penalty: a flip
        "nps_promoter": 0.0004,  # tiny but not zero: kept, and a flip (it was -10)
        "seats_removed": 0.0,  # dropped
    }
    signals = tuple(
        dataclasses.replace(s, weight=fitted.get(s.name, s.weight)) for s in active.signals
    )
    candidate = dataclasses.replace(active, signals=signals, version=active.version + 1)

    result = candidate_text(text, active, candidate)
    again = load_profile_text(result.toml, "candidate.toml")

    assert again.version == active.version + 1
    weights = {s.name: s.weight for s in again.signals}
    assert weights["days_since_login"] == 16.0
    assert weights["recent_usage"] == 0.75 and weights["seats_removed"] == 0.0
    assert weights["nps_promoter"] == 0.0004  # small but not zero: kept, flagged as a flip
    assert weights["failed_payments"] == next(
        s.weight for s in active.signals if s.name == "failed_payments"
    )
    # Every comment of the active file is still there, in order.
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    kept = [line for line in result.toml.splitlines() if line.lstrip().startswith("#")]
    assert kept == comments
    assert "weight = 16 # calibrated, was 0.67" in result.toml.replace("  #", " #")
    flagged = sorted(w.split("'")[1] for w in result.warnings)
    assert flagged == ["nps_promoter", "recent_usage", "seats_removed"]
    assert any("rounds to 0" in w and "seats_removed" in w for w in result.warnings)
    assert any("flips sign" in w and "recent_usage" in w for w in result.warnings)


def test_unchanged_candidate_is_the_active_file_with_a_new_version() -> None:
    text = (BUNDLED_PROFILES / "lead_qualification.toml").read_text()
    active = load_profile_text(text, "lead.toml")
    candidate = dataclasses.replace(active, version=active.version + 1)
    result = candidate_text(text, active, candidate)
    assert result.warnings == ()
    old, new = text.splitlines(), result.toml.splitlines()
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert changed == [(f"version = {active.version}", f"version = {active.version + 1}")]
