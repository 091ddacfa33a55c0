"""Validation rules outside [[signals]] and [tiers]: file, line and key path in each issue."""

from __future__ import annotations

import pytest

from .base import HOT_HEADER, SIGNALS_SECTION, assert_issue, mutate

# (id, replacements, key path, fragment of the reason); `# <-` marks the expected line
CASES = [
    # --- syntax and structure
    (
        "toml-syntax",
        [("weight = 3\n", "weight = 3 3  # <-\n")],
        "signals[1].weight",
        "TOML syntax error",
    ),
    (
        "unknown-table",
        [("[tiers]\n", '[[signal]]  # <-\nname = "x"\n\n[tiers]\n')],
        "signal",
        "did you mean 'signals'?",
    ),
    (
        "unknown-key",
        [("half_life_days = 14", "half_life = 14  # <-")],
        "signals[0].half_life",
        "did you mean 'half_life_days'?",
    ),
    (
        "unknown-key-profile",
        [('entity = "contact"', 'entity = "contact"\nentitiy = "x"  # <-')],
        "profile.entitiy",
        "unknown key",
    ),
    (
        "unknown-key-in-range",
        [("{ min = 500, points = 6 }", "{ min = 500, point = 6 },  # <-")],
        "fit[1].ranges[2].point",
        "did you mean 'points'?",
    ),
    (
        "array-written-as-table",
        [(SIGNALS_SECTION, '[signals]  # <-\nname = "x"\n\n')],
        "signals",
        "write [[signals]]",
    ),
    ("table-written-as-array", [("[scoring]", "[[scoring]]  # <-")], "scoring", "write [scoring]"),
    # --- [profile]
    (
        "missing-name",
        [('[profile]\nname = "base"\n', "[profile]  # <-\n")],
        "profile.name",
        "missing required key 'name'",
    ),
    (
        "bad-name",
        [('name = "base"', 'name = "my profile"  # <-')],
        "profile.name",
        "must start with a letter",
    ),
    (
        "name-with-a-trailing-newline",
        [('name = "base"', 'name = "base\\n"  # <-')],
        "profile.name",
        "must start with a letter",
    ),
    ("version-zero", [("version = 1", "version = 0  # <-")], "profile.version", "integer >= 1"),
    (
        "version-string",
        [("version = 1", 'version = "1"  # <-')],
        "profile.version",
        "integer >= 1, got the string '1'",
    ),
    ("version-float", [("version = 1", "version = 1.5  # <-")], "profile.version", "integer >= 1"),
    (
        "missing-entity",
        [("[profile]\n", "[profile]  # <-\n"), ('entity = "contact"\n', "")],
        "profile.entity",
        "missing required key",
    ),
    (
        "empty-category-property",
        [('name = "jobs"', 'name = "jobs"\nproperty = ""  # <-')],
        "categories[1].property",
        "must not be empty",
    ),
    # --- [scoring]
    (
        "fit-weight-above-1",
        [("fit_weight = 0.3", "fit_weight = 1.5  # <-")],
        "scoring.fit_weight",
        "between 0 and 1",
    ),
    (
        "fit-weight-negative",
        [("fit_weight = 0.3", "fit_weight = -0.1  # <-")],
        "scoring.fit_weight",
        "between 0 and 1",
    ),
    (
        "max-points-zero",
        [("fit_weight = 0.3", "fit_weight = 0.3\nmax_points = 0  # <-")],
        "scoring.max_points",
        "must be > 0",
    ),
    (
        "uncapped-positive-signal",
        [HOT_HEADER, ("cap = 32\n", "")],
        "signals[0].cap",
        "'hot_pages' has a positive weight but no cap",
    ),
    # --- [[categories]]
    (
        "duplicate-category",
        [('name = "jobs"', 'name = "hot"  # <-')],
        "categories[1].name",
        "duplicate category",
    ),
    (
        "category-without-rules",
        [
            ('prefixes = ["/careers"]\n', ""),
            ('[[categories]]\nname = "jobs"', '[[categories]]  # <-\nname = "jobs"'),
        ],
        "categories[1]",
        "at least one of equals, prefixes, contains",
    ),
    (
        "eliminatory-not-bool",
        [("eliminatory = true", 'eliminatory = "yes"  # <-')],
        "categories[1].eliminatory",
        "must be true or false",
    ),
    (
        "prefixes-not-list",
        [('prefixes = ["/careers"]', 'prefixes = "/careers"  # <-')],
        "categories[1].prefixes",
        "array of strings",
    ),
    # --- [[fit]] and [[disqualify]]
    (
        "fit-non-numeric-points",
        [("vp = 15, manager = 8 }", 'vp = "high", manager = 8 }  # <-')],
        "fit[0].points.vp",
        "must be a number",
    ),
    (
        "fit-range-min-above-max",
        [("{ min = 50, max = 500, points = 10 }", "{ min = 500, max = 50, points = 10 },  # <-")],
        "fit[1].ranges[1]",
        "must be below max",
    ),
    (
        "fit-range-overlap",
        [("{ min = 500, points = 6 }", "{ min = 400, points = 6 },  # <-")],
        "fit[1].ranges[2]",
        "overlaps fit[1].ranges[1]",
    ),
    (
        "fit-without-points-or-ranges",
        [
            (
                '[[fit]]\nattribute = "seniority"\npoints = { vp = 15, manager = 8 }\n',
                '[[fit]]  # <-\nattribute = "seniority"\n',
            )
        ],
        "fit[0]",
        "needs points",
    ),
    (
        "fit-duplicate-attribute",
        [('attribute = "employees"', 'attribute = "seniority"  # <-')],
        "fit[1].attribute",
        "already scored by fit[0]",
    ),
    (
        "disqualify-missing-in",
        [('in = ["competitor", "internal"]\n', ""), ("[[disqualify]]", "[[disqualify]]  # <-")],
        "disqualify[0].in",
        "missing required key 'in'",
    ),
    (
        "disqualify-empty-in",
        [('in = ["competitor", "internal"]', "in = []  # <-")],
        "disqualify[0].in",
        "at least one value",
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
