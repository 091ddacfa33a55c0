"""load_directory: all-or-nothing, reporting the issues of every bad file at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from prioscore.server.errors import ProfileInvalidError
from prioscore.server.profiles.loading import load_directory, load_profile

from .base import BASE, mutate


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_every_toml_keyed_by_profile_name(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", BASE)
    write(tmp_path, "b.toml", mutate(('name = "base"', 'name = "other"')))
    write(tmp_path, "notes.txt", "not a profile")
    profiles = load_directory(tmp_path)
    assert sorted(profiles) == ["base", "other"]
    assert profiles["other"].source == str(tmp_path / "b.toml")


def test_reports_issues_of_all_bad_files(tmp_path: Path) -> None:
    write(tmp_path, "good.toml", BASE)
    bad_one = write(tmp_path, "one.toml", mutate(("cap = 20", "cap = 0")))
    bad_two = write(tmp_path, "two.toml", mutate(("hot = 70", "hot = 10")))
    broken = write(tmp_path, "three.toml", "[profile\n")
    with pytest.raises(ProfileInvalidError) as caught:
        load_directory(tmp_path)
    by_file = {(i.file, i.key) for i in caught.value.issues}
    assert (str(bad_one), "signals[2].cap") in by_file
    assert (str(bad_two), "tiers.hot") in by_file
    assert any(file == str(broken) for file, _ in by_file)
    message = str(caught.value)
    assert "one.toml:" in message and "two.toml:" in message and "three.toml:1" in message


def test_duplicate_profile_names_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", BASE)
    dup = write(tmp_path, "b.toml", BASE)
    with pytest.raises(ProfileInvalidError) as caught:
        load_directory(tmp_path)
    (issue,) = caught.value.issues
    assert issue.file == str(dup)
    assert issue.key == "profile.name"
    assert issue.line == 3  # name = "base" in BASE
    assert "a.toml" in issue.reason and "duplicate profile name 'base'" in issue.reason


def test_missing_directory_is_an_issue(tmp_path: Path) -> None:
    with pytest.raises(ProfileInvalidError) as caught:
        load_directory(tmp_path / "nope")
    assert "does not exist" in str(caught.value)


def test_empty_directory_loads_nothing(tmp_path: Path) -> None:
    assert load_directory(tmp_path) == {}


def test_unreadable_file_is_an_issue(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[profile]\nname = "caf\xe9"\n')
    with pytest.raises(ProfileInvalidError) as caught:
        load_profile(path)
    assert caught.value.issues[0].file == str(path)
    assert "cannot read" in caught.value.issues[0].reason
