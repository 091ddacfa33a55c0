"""Score signals and rollups in the profile format: rules within a file, and across the
directory (unknown profiles, cycles named with their path, dependency order)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prioscore.server.engine import Aggregate, Relation
from prioscore.server.errors import ProfileInvalidError
from prioscore.server.profiles.loading import load_directory, load_profile_text

from .base import FILE, assert_issue, mutate

ACCOUNT_READ = """
[[signals]]
name = "account_risk"
scores = "churn"
of = "account"
aggregate = "score"
weight = 0.2
cap = 20
"""
MEMBERS_READ = """
[[signals]]
name = "engaged"
scores = "leads"
of = "members"
aggregate = "distinct"
by = "seniority"
min_score = 40
weight = 5
cap = 15
"""
FIT = '\n[[fit]]\nattribute = "seniority"'


def with_signal(block: str, *replacements: tuple[str, str]) -> str:
    return mutate((FIT, block + FIT), *replacements)


def test_valid_score_signals_and_members_load() -> None:
    text = mutate(
        ('entity = "contact"', 'entity = "account"\nmembers = "contact"'),
        text=with_signal(ACCOUNT_READ + MEMBERS_READ),
    )
    profile = load_profile_text(text, FILE)
    assert profile.members == "contact"
    risk, engaged = profile.signals[-2:]
    assert (risk.scores, risk.of, risk.aggregate) == ("churn", Relation.ACCOUNT, Aggregate.SCORE)
    assert (engaged.of, engaged.by, engaged.min_score) == (Relation.MEMBERS, "seniority", 40.0)
    assert profile.reads_profiles == {"churn", "leads"}
    assert "" not in profile.event_types


CASES = [
    (
        "event-key-on-score-signal",
        [('of = "account"', 'of = "account"\nevent = "login"  # <-')],
        "signals[3].event",
        "no effect on a signal that reads `scores`",
    ),
    (
        "unknown-relation",
        [('of = "account"', 'of = "acount"  # <-')],
        "signals[3].of",
        "unknown relation 'acount'; valid: account, members",
    ),
    (
        "missing-relation",
        [
            ('of = "account"\n', ""),
            ('[[signals]]\nname = "account_risk"', '[[signals]]  # <-\nname = "account_risk"'),
        ],
        "signals[3].of",
        "missing required key 'of'",
    ),
    (
        "members-aggregate-on-account",
        [('aggregate = "score"', 'aggregate = "sum"  # <-')],
        "signals[3].aggregate",
        "cannot read 'account' scores; valid: score",
    ),
    (
        "min-score-out-of-range",
        [('of = "account"', 'of = "account"\nmin_score = 140  # <-')],
        "signals[3].min_score",
        "0-100 score",
    ),
    (
        "by-without-distinct",
        [('of = "account"', 'of = "account"\nby = "role"  # <-')],
        "signals[3].by",
        "no effect unless aggregate = 'distinct'",
    ),
]


@pytest.mark.parametrize(
    ("case", "replacements", "key", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_score_signal_rule(case: str, replacements: list, key: str, fragment: str) -> None:
    assert_issue(with_signal(ACCOUNT_READ, *replacements), key, fragment)


def test_distinct_needs_by() -> None:
    text = with_signal(
        MEMBERS_READ,
        ('by = "seniority"', ""),
        ('[[signals]]\nname = "engaged"', '[[signals]]  # <-\nname = "engaged"'),
    )
    assert_issue(text, "signals[3].by", "missing required key 'by'")


def test_score_aggregate_on_an_event_signal_is_explained() -> None:
    text = mutate(('aggregate = "window_count"\nwindow_days = 30', 'aggregate = "max"  # <-'))
    assert_issue(text, "signals[1].aggregate", 'add scores = "<profile>"')


def test_members_must_differ_from_the_entity() -> None:
    text = mutate(('entity = "contact"', 'entity = "contact"\nmembers = "contact"  # <-'))
    assert_issue(text, "profile.members", "another kind than the entity")


# -- across the directory ------------------------------------------------------------


def profile_text(name: str, reads: list[str]) -> str:
    blocks = "".join(
        ACCOUNT_READ.replace('"account_risk"', f'"reads_{r}"').replace('"churn"', f'"{r}"')
        for r in reads
    )
    return with_signal(blocks, ('name = "base"', f'name = "{name}"'))


def write_profiles(directory: Path, graph: dict[str, list[str]]) -> None:
    for name, reads in graph.items():
        (directory / f"{name}.toml").write_text(profile_text(name, reads), encoding="utf-8")


def issues(directory: Path) -> list:
    with pytest.raises(ProfileInvalidError) as caught:
        load_directory(directory)
    return caught.value.issues


def test_dependency_order_puts_read_profiles_first(tmp_path: Path) -> None:
    write_profiles(tmp_path, {"a_tickets": ["m_churn"], "m_churn": ["z_usage"], "z_usage": []})
    assert list(load_directory(tmp_path)) == ["z_usage", "m_churn", "a_tickets"]


def test_unknown_profile_is_named_with_a_hint(tmp_path: Path) -> None:
    write_profiles(tmp_path, {"tickets": ["churn_rsk"], "churn_risk": []})
    (issue,) = issues(tmp_path)
    assert issue.file == str(tmp_path / "tickets.toml")
    assert issue.key == "signals[3].scores"
    assert "unknown profile 'churn_rsk' (did you mean 'churn_risk'?)" in issue.reason
    text = (tmp_path / "tickets.toml").read_text()
    assert text.splitlines()[issue.line - 1] == 'scores = "churn_rsk"'


def test_cycle_is_rejected_with_its_path(tmp_path: Path) -> None:
    write_profiles(
        tmp_path,
        {"churn": ["usage"], "usage": ["tickets"], "tickets": ["churn"], "leads": ["churn"]},
    )
    (issue,) = issues(tmp_path)  # one cycle, reported once
    assert issue.file == str(tmp_path / "churn.toml")
    assert issue.key == "signals[3].scores"
    assert "profile cycle: churn → usage → tickets → churn" in issue.reason
    assert f"churn.toml:{issue.line}" in str(issue)


def test_a_profile_reading_itself_is_a_cycle(tmp_path: Path) -> None:
    write_profiles(tmp_path, {"churn": ["churn"]})
    (issue,) = issues(tmp_path)
    assert "profile cycle: churn → churn" in issue.reason
