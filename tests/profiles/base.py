"""A valid profile that validation tests break in one place, and helpers to do so.

A mutated text marks the line where the issue must be reported with a trailing `# <-`
comment, so expected line numbers follow the text instead of being counted by hand.
"""

from __future__ import annotations

import pytest

from prioscore.server.errors import ProfileInvalidError, ProfileIssue
from prioscore.server.profiles.loading import load_profile_text

FILE = "profiles/base.toml"
MARK = "# <-"

BASE = """\
# A test profile.
[profile]
name = "base"
version = 1
entity = "contact"
description = "A valid profile that each case breaks in one place."

[scoring]
fit_weight = 0.3

[[categories]]
name = "hot"
prefixes = ["/pricing", "/demo"]

[[categories]]
name = "jobs"
prefixes = ["/careers"]
eliminatory = true

[[signals]]
name = "hot_pages"
event = "page_view"
match = { category = "hot" }
aggregate = "decayed_count"
half_life_days = 14
weight = 8
cap = 32

[[signals]]
name = "tickets"
event = "ticket_opened"
aggregate = "window_count"
window_days = 30
weight = 3
cap = 15

[[signals]]
name = "silence"
event = "login"
aggregate = "days_since_last"
weight = -0.5
cap = 20
missing = 60

[[fit]]
attribute = "seniority"
points = { vp = 15, manager = 8 }

[[fit]]
attribute = "employees"
ranges = [
  { max = 50, points = 2 },
  { min = 50, max = 500, points = 10 },
  { min = 500, points = 6 },
]

[[disqualify]]
attribute = "relationship"
in = ["competitor", "internal"]
reason = "not a prospect"

[tiers]
mode = "absolute"
cold = 0
warm = 40
hot = 70
"""


SIGNALS_SECTION = BASE[BASE.index("[[signals]]") : BASE.index("[[fit]]")]
TIERS_SECTION = BASE[BASE.index("[tiers]") :]
HOT_HEADER = ('[[signals]]\nname = "hot_pages"', '[[signals]]  # <-\nname = "hot_pages"')
TICKETS_HEADER = ('[[signals]]\nname = "tickets"', '[[signals]]  # <-\nname = "tickets"')


def mutate(*replacements: tuple[str, str], text: str = BASE) -> str:
    """Applies (old, new) replacements; each `old` must occur exactly once."""
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


def marked_line(text: str) -> int:
    """1-based line of the single `# <-` marker."""
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if MARK in line]
    assert len(lines) == 1, f"expected one marker, found lines {lines}"
    return lines[0]


def issues_of(text: str, source: str = FILE) -> list[ProfileIssue]:
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile_text(text, source)
    return caught.value.issues


def assert_issue(text: str, key: str, fragment: str, line: int | None = None) -> ProfileIssue:
    """The issue for `key` exists, sits on the marked line and its message names all three."""
    expected_line = marked_line(text) if line is None else line
    issues = issues_of(text)
    found = [i for i in issues if i.key == key]
    assert found, f"no issue for {key!r}; got: " + "; ".join(map(str, issues))
    issue = found[0]
    message = str(issue)
    assert issue.file == FILE
    assert issue.line == expected_line, message
    assert fragment in issue.reason, message
    assert f"{FILE}:{expected_line}" in message
    assert key in message
    return issue
