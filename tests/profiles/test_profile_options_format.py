"""The format side of direction, combine, scope, alerts and the repeat keys: parsed,
written back equal, and refused with file, line and key when wrong."""

from __future__ import annotations

import pytest

from prioscore.server.engine import Combine, Direction, Hysteresis, ScopeRule
from prioscore.server.errors import ProfileInvalidError
from prioscore.server.profiles import load_profile_text, profile_digest, profile_to_toml

GOOD = """
[profile]
name = "x"
version = 1
entity = "contact"
direction = "higher_is_riskier"

[scoring]
combine = "multiply"

[[signals]]
name = "opens"
event = "email_open"
aggregate = "count"
weight = 1
cap = 5
per_day = 1
once_per = "campaign"

[[signals]]
name = "surge"
event = "page_view"
aggregate = "trend"
window_days = 7
weight = 1
cap = 5
min_volume = 4

[[fit]]
attribute = "seniority"
points = { vp = 10 }

[[scope]]
attribute = "region"
in = ["emea"]

[alerts]
margin = 5
min_days_in_tier = 2

[tiers]
cold = 0
hot = 50
"""


def test_new_keys_parse_and_round_trip() -> None:
    profile = load_profile_text(GOOD, "x.toml")
    assert profile.direction is Direction.HIGHER_IS_RISKIER
    assert profile.combine is Combine.MULTIPLY
    assert profile.scope == (ScopeRule("region", ("emea",)),)
    assert profile.hysteresis == Hysteresis(margin=5.0, min_days_in_tier=2.0)
    opens, surge = profile.signals
    assert (opens.per_day, opens.once_per, surge.min_volume) == (1, "campaign", 4.0)
    again = load_profile_text(profile_to_toml(profile), "x.toml")
    assert again == profile
    plain = load_profile_text(GOOD.replace("per_day = 1\n", ""), "x.toml")
    assert profile_digest(plain) != profile_digest(profile)


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ('direction = "higher_is_riskier"', 'direction = "riskier"', "profile.direction", "valid"),
        ('combine = "multiply"', 'combine = "product"', "scoring.combine", "multiply"),
        ("per_day = 1", "per_day = 0", "signals[0].per_day", "integer >= 1"),
        ('once_per = "campaign"', 'once_per = ""', "signals[0].once_per", "property"),
        ("min_volume = 4", "min_volume = -1", "signals[1].min_volume", ">= 0"),
        ("cap = 5\nper_day", "min_volume = 2\ncap = 5\nper_day", "signals[0].min_volume", "trend"),
        ("margin = 5", "margin = 500", "alerts.margin", "0-50"),
        ('in = ["emea"]', "in = []", "scope[0].in", "at least one"),
        ("min_days_in_tier = 2", "min_dayz = 2", "alerts.min_dayz", "min_days_in_tier"),
    ],
)
def test_bad_values_name_file_line_and_key(old: str, new: str, key: str, words: str) -> None:
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile_text(text, "x.toml")
    [issue] = [i for i in caught.value.issues if i.key == key]
    assert issue.file == "x.toml" and words in issue.reason
    assert text.splitlines()[issue.line - 1].split("=")[0].strip() == key.rsplit(".", 1)[-1]


def test_a_margin_on_quantile_tiers_is_refused_not_ignored() -> None:
    text = GOOD.replace("[tiers]\n", '[tiers]\nmode = "quantile"\n').replace(
        "hot = 50", "hot = 0.5"
    )
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile_text(text, "x.toml")
    [issue] = caught.value.issues
    assert issue.key == "alerts.margin" and "min_days_in_tier" in issue.reason
    fine = load_profile_text(text.replace("margin = 5\n", ""), "x.toml")
    assert fine.hysteresis.min_days_in_tier == 2.0


def test_multiply_without_fit_rules_is_refused() -> None:
    text = GOOD.replace('[[fit]]\nattribute = "seniority"\npoints = { vp = 10 }\n', "")
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile_text(text, "x.toml")
    assert [i.key for i in caught.value.issues] == ["scoring.combine"]
