"""Validation rules of [[signals]]: each issue names file, line and key path."""

from __future__ import annotations

import pytest

from .base import HOT_HEADER, SIGNALS_SECTION, TICKETS_HEADER, assert_issue, mutate

# (id, replacements, key path, fragment of the reason); `# <-` marks the expected line
CASES = [
    (
        "empty-signals",
        [(SIGNALS_SECTION, ""), ("# A test profile.\n", "signals = []  # <-\n")],
        "signals",
        "at least one [[signals]]",
    ),
    (
        "unknown-aggregate",
        [('aggregate = "window_count"', 'aggregate = "windowed_count"  # <-')],
        "signals[1].aggregate",
        "valid: count, sum, decayed_count",
    ),
    (
        "non-numeric-weight",
        [("weight = 8", 'weight = "eight"  # <-')],
        "signals[0].weight",
        "weight must be a number, got the string 'eight'",
    ),
    (
        "boolean-weight",
        [("weight = 8", "weight = true  # <-")],
        "signals[0].weight",
        "must be a number",
    ),
    ("nan-weight", [("weight = 8", "weight = nan  # <-")], "signals[0].weight", "finite number"),
    (
        "non-numeric-cap",
        [("cap = 15", 'cap = "15"  # <-')],
        "signals[1].cap",
        "cap must be a number",
    ),
    ("cap-zero", [("cap = 20", "cap = 0  # <-")], "signals[2].cap", "cap must be > 0"),
    ("cap-negative", [("cap = 20", "cap = -5  # <-")], "signals[2].cap", "cap must be > 0"),
    (
        "missing-event",
        [
            (
                '[[signals]]\nname = "tickets"\nevent = "ticket_opened"\n',
                '[[signals]]  # <-\nname = "tickets"\n',
            )
        ],
        "signals[1].event",
        "missing required key 'event'",
    ),
    (
        "missing-weight",
        [TICKETS_HEADER, ("weight = 3\n", "")],
        "signals[1].weight",
        "missing required key 'weight'",
    ),
    (
        "missing-aggregate",
        [TICKETS_HEADER, ('aggregate = "window_count"\n', "")],
        "signals[1].aggregate",
        "missing required key",
    ),
    (
        "duplicate-signal",
        [('name = "silence"', 'name = "tickets"  # <-')],
        "signals[2].name",
        "duplicate signal name 'tickets'",
    ),
    (
        "half-life-zero",
        [("half_life_days = 14", "half_life_days = 0  # <-")],
        "signals[0].half_life_days",
        "must be > 0",
    ),
    (
        "half-life-negative",
        [("half_life_days = 14", "half_life_days = -3  # <-")],
        "signals[0].half_life_days",
        "must be > 0",
    ),
    (
        "half-life-missing",
        [HOT_HEADER, ("half_life_days = 14\n", "")],
        "signals[0].half_life_days",
        "aggregate 'decayed_count' needs it",
    ),
    (
        "half-life-unused",
        [("window_days = 30", "window_days = 30\nhalf_life_days = 7  # <-")],
        "signals[1].half_life_days",
        "no effect on aggregate 'window_count'",
    ),
    (
        "window-missing",
        [TICKETS_HEADER, ("window_days = 30\n", "")],
        "signals[1].window_days",
        "aggregate 'window_count' needs it",
    ),
    (
        "window-zero",
        [("window_days = 30", "window_days = 0  # <-")],
        "signals[1].window_days",
        "must be > 0",
    ),
    (
        "trend-without-window",
        [
            ('[[signals]]\nname = "silence"', '[[signals]]  # <-\nname = "silence"'),
            ('aggregate = "days_since_last"', 'aggregate = "trend"'),
        ],
        "signals[2].window_days",
        "aggregate 'trend' needs it",
    ),
    (
        "undefined-category",
        [('match = { category = "hot" }', 'match = { category = "hto" }  # <-')],
        "signals[0].match.category",
        "not defined by any [[categories]] (did you mean 'hot'?)",
    ),
    (
        "match-not-string",
        [('match = { category = "hot" }', "match = { category = 3 }  # <-")],
        "signals[0].match.category",
        "string or a non-empty array",
    ),
    (
        "match-not-table",
        [('match = { category = "hot" }', 'match = "hot"  # <-')],
        "signals[0].match",
        "must be a table",
    ),
]


@pytest.mark.parametrize(
    ("replacements", "key", "fragment"),
    [pytest.param(r, k, f, id=i) for i, r, k, f in CASES],
)
def test_rule_reports_file_line_and_key(
    replacements: list[tuple[str, str]], key: str, fragment: str
) -> None:
    assert_issue(mutate(*replacements), key, fragment)
