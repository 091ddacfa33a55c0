"""Grid tiers (fit grade x engagement level, e.g. "A1"): parsed, written back, refused
with file, line and key when wrong, and assigned so that engagement comes first."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine import FeatureSet, TierMode, score
from prioscore.server.errors import ProfileInvalidError
from prioscore.server.profiles import load_profile_text, profile_to_toml
from tests.engine.factory import strings

GRID = """
[profile]
name = "graded"
version = 1
entity = "contact"

[scoring]
max_points = 100
fit_weight = 0.3
combine = "multiply"

[[signals]]
name = "visits"
event = "page_view"
aggregate = "count"
weight = 1
cap = 100

[[fit]]
attribute = "seniority"
points = { vp = 100, manager = 60, intern = 10 }

[tiers]
mode = "grid"
fit = { D = 0, C = 25, B = 50, A = 75 }
engagement = { "4" = 0, "3" = 25, "2" = 50, "1" = 75 }
"""


def test_grid_names_ascend_engagement_first_and_round_trip() -> None:
    profile = load_profile_text(GRID, "graded.toml")
    assert profile.tiers.mode is TierMode.GRID
    names = profile.tiers.names
    assert names[:5] == ("D4", "C4", "B4", "A4", "D3") and names[-1] == "A1"
    assert load_profile_text(profile_to_toml(profile), "graded.toml") == profile


def test_no_grade_lifts_a_less_engaged_entity_into_a_higher_tier() -> None:
    profile = load_profile_text(GRID, "graded.toml")
    visits = np.array([[0.0], [30.0], [30.0], [80.0], [80.0]])
    features = FeatureSet(visits, np.full(5, -1, dtype=np.int32))
    seniority = strings(["vp", "vp", "intern", "intern", "vp"])
    result = score(profile, features, {"seniority": seniority})
    tiers = [profile.tiers.names[t] for t in result.tier]
    assert tiers == ["A4", "A3", "D3", "D1", "A1"]
    ranked = sorted(range(5), key=lambda i: -int(result.tier[i]))
    assert ranked.index(3) < ranked.index(1)  # the engaged intern above the idle-ish VP


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("C = 25, B = 50", "C = 50, B = 25", "tiers.fit.B", "ascend"),
        ('"4" = 0, "3"', '"4" = 5, "3"', "tiers.engagement.4", "start at 0"),
        ("A = 75 }", "A = 175 }", "tiers.fit.A", "0-100"),
        ("engagement = {", "levels = {", "tiers.levels", "valid keys"),
    ],
)
def test_bad_grids_name_file_line_and_key(old: str, new: str, key: str, words: str) -> None:
    text = GRID.replace(old, new, 1)
    assert text != GRID
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile_text(text, "graded.toml")
    issue = next(i for i in caught.value.issues if i.key == key)
    assert issue.file == "graded.toml" and words in issue.reason and issue.line > 0


def test_grid_needs_fit_rules_and_refuses_a_margin() -> None:
    no_fit = (
        GRID.replace('[[fit]]\nattribute = "seniority"\n', "# no fit\n")
        .replace("points = { vp = 100, manager = 60, intern = 10 }\n", "")
        .replace('combine = "multiply"\n', "")
        .replace("fit_weight = 0.3\n", "")
    )
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile_text(no_fit, "graded.toml")
    assert [i.key for i in caught.value.issues] == ["tiers.mode"]
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile_text(GRID + "\n[alerts]\nmargin = 3\n", "graded.toml")
    assert [i.key for i in caught.value.issues] == ["alerts.margin"]
