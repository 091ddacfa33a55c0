"""Validation rules of [tiers]: each issue names file, line and key path."""

from __future__ import annotations

import pytest

from .base import TIERS_SECTION, assert_issue, mutate

# (id, replacements, key path, fragment of the reason); `# <-` marks the expected line
CASES = [
    (
        "non-numeric-threshold",
        [("warm = 40", 'warm = "forty"  # <-')],
        "tiers.warm",
        "must be a number, got the string 'forty'",
    ),
    ("thresholds-not-ascending", [("hot = 70", "hot = 30  # <-")], "tiers.hot", "must ascend"),
    (
        "thresholds-equal",
        [("hot = 70", "hot = 40  # <-")],
        "tiers.hot",
        "hot = 40 is not above warm = 40",
    ),
    (
        "first-threshold-not-floor",
        [("cold = 0", "cold = 10  # <-")],
        "tiers.cold",
        "must start at the floor 0",
    ),
    ("absolute-above-100", [("hot = 70", "hot = 120  # <-")], "tiers.hot", "outside [0, 100]"),
    (
        "quantile-above-1",
        [
            ('mode = "absolute"', 'mode = "quantile"'),
            ("warm = 40", "warm = 0.5"),
            ("hot = 70", "hot = 1.5  # <-"),
        ],
        "tiers.hot",
        "outside [0, 1]",
    ),
    (
        "quantile-percent-typo",
        [
            ('mode = "absolute"', 'mode = "quantile"'),
            ("warm = 40", "warm = 40  # <-"),
            ("hot = 70", "hot = 0.9"),
        ],
        "tiers.warm",
        "population shares 0-1",
    ),
    (
        "unknown-tier-mode",
        [('mode = "absolute"', 'mode = "quantiles"  # <-')],
        "tiers.mode",
        "did you mean 'quantile'?",
    ),
    (
        "misspelt-tier-key",
        [('mode = "absolute"', 'mdoe = "absolute"  # <-')],
        "tiers.mdoe",
        "did you mean 'mode'?",
    ),
    ("empty-tiers", [(TIERS_SECTION, "[tiers]  # <-\n")], "tiers", "at least one tier"),
    (
        "explicit-length-mismatch",
        [(TIERS_SECTION, '[tiers]\nnames = ["cold", "hot"]\nthresholds = [0, 40, 70]  # <-\n')],
        "tiers.thresholds",
        "3 thresholds for 2 names",
    ),
    (
        "explicit-not-ascending",
        [(TIERS_SECTION, '[tiers]\nnames = ["cold", "hot"]\nthresholds = [0, 0]  # <-\n')],
        "tiers.thresholds[1]",
        "must ascend",
    ),
    (
        "explicit-unknown-key",
        [
            (
                TIERS_SECTION,
                '[tiers]\nnames = ["cold", "hot"]\nthresholds = [0, 50]\nwarm = 30  # <-\n',
            )
        ],
        "tiers.warm",
        "unknown key",
    ),
    (
        "explicit-reserved-name",
        [(TIERS_SECTION, '[tiers]\nnames = ["cold", "mode"]  # <-\nthresholds = [0, 50]\n')],
        "tiers.names",
        "cannot be a tier name",
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
