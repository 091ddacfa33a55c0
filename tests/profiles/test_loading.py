"""Loading as a whole: all issues at once, error types, defaults, syntax errors, locating."""

from __future__ import annotations

import pytest

from prioscore.server.errors import InvalidArgumentError, ProfileInvalidError
from prioscore.server.profiles.loading import load_profile_text

from .base import (
    BASE,
    FILE,
    SIGNALS_SECTION,
    TIERS_SECTION,
    assert_issue,
    issues_of,
    mutate,
)


def test_base_profile_is_valid() -> None:
    profile = load_profile_text(BASE, FILE)
    assert profile.max_points == 32 + 15  # caps of the positive-weight signals
    assert profile.source == FILE


def test_missing_tiers_table_points_at_the_top_of_the_file() -> None:
    assert_issue(mutate((TIERS_SECTION, "")), "tiers", "missing required table [tiers]", line=1)


def test_missing_signals_points_at_the_top_of_the_file() -> None:
    text = mutate((SIGNALS_SECTION, ""))
    assert_issue(text, "signals", "at least one [[signals]]", line=1)


def test_syntax_error_at_end_of_document() -> None:
    text = BASE + 'extra = ["unclosed"\n'
    (issue,) = issues_of(text)
    assert issue.line >= len(BASE.splitlines())
    assert "TOML syntax error" in issue.reason
    assert "(at line" not in issue.reason  # the position moved into issue.line
    assert f"{FILE}:{issue.line}" in str(issue)


def test_duplicate_toml_key_is_a_syntax_error_on_its_line() -> None:
    text = mutate(("weight = 8", "weight = 8\nweight = 9  # <-"))
    (issue,) = issues_of(text)
    assert "TOML syntax error" in issue.reason
    assert issue.key == "signals[0].weight"


def test_all_issues_of_a_file_are_reported_sorted_by_line() -> None:
    text = mutate(
        ("version = 1", "version = 0"),
        ("half_life_days = 14", "half_life_days = -1"),
        ('aggregate = "window_count"', 'aggregate = "windowed"'),
        ("hot = 70", "hot = 20"),
    )
    issues = issues_of(text)
    keys = {i.key for i in issues}
    assert {
        "profile.version",
        "signals[0].half_life_days",
        "signals[1].aggregate",
        "tiers.hot",
    } <= keys
    assert [i.line for i in issues] == sorted(i.line for i in issues)
    assert all(i.line > 0 for i in issues)


def test_error_is_an_invalid_argument_with_field_violations() -> None:
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile_text(mutate(("cap = 20", "cap = 0")), FILE)
    error = caught.value
    assert isinstance(error, InvalidArgumentError)
    assert error.reason == "PROFILE_INVALID"
    assert [v.field for v in error.violations] == ["signals[2].cap"]
    assert f"{FILE}:" in str(error)


def test_quoted_keys_and_subtables_are_located() -> None:
    text = mutate(
        ('match = { category = "hot" }\n', ""),
        ("cap = 32\n", 'cap = 32\n\n[signals.match]\n"category" = "nope"  # <-\n'),
    )
    assert_issue(text, "signals[0].match.category", "not defined")


def test_explicit_tier_lists_equal_pairs() -> None:
    explicit = mutate(
        (
            TIERS_SECTION,
            '[tiers]\nmode = "absolute"\nnames = ["cold", "warm", "hot"]\n'
            "thresholds = [0, 40, 70]\n",
        )
    )
    assert load_profile_text(explicit, FILE) == load_profile_text(BASE, FILE)


def test_defaults() -> None:
    text = mutate(("fit_weight = 0.3\n", ""))
    assert load_profile_text(text, FILE).fit_weight == 0.3  # with fit rules
    no_fit = text[: text.index("[[fit]]")] + text[text.index("[[disqualify]]") :]
    profile = load_profile_text(no_fit, FILE)
    assert profile.fit_weight == 0.0 and profile.fit == ()
    assert profile.categories[0].property == "url"
    assert profile.tiers.mode.value == "absolute"
    explicit = mutate(("fit_weight = 0.3", "fit_weight = 0.3\nmax_points = 80"))
    assert load_profile_text(explicit, FILE).max_points == 80.0


def test_fit_weight_without_fit_rules_is_an_issue() -> None:
    no_fit = BASE[: BASE.index("[[fit]]")] + BASE[BASE.index("[[disqualify]]") :]
    text = mutate(("fit_weight = 0.3", "fit_weight = 0.3  # <-"), text=no_fit)
    assert_issue(text, "scoring.fit_weight", "no [[fit]] rules")


def test_missing_profile_table_is_one_issue() -> None:
    text = BASE.replace('[profile]\nname = "base"\nversion = 1\nentity = "contact"\n', "")
    text = text.replace('description = "A valid profile that each case breaks in one place."\n', "")
    assert [(i.key, i.line) for i in issues_of(text)] == [("profile", 1)]
