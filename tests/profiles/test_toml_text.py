"""The line locator and the TOML value writer behind profile issues and profile_to_toml."""

from __future__ import annotations

import tomllib

import pytest

from prioscore.server.profiles.toml_text import Locator, key, number, string, syntax_error_line

TEXT = """\
# comment = not a key
[profile]
name = "x"
description = \"\"\"
weight = 3 is inside a multi-line string
\"\"\"

[[signals]]
name = "a"
weight = 1

[[signals]]
name = "b"
"quoted key" = 2
match.category = "hot"
prefixes = [
  "/one",
  # a comment between elements
  "/two",
]

[signals.extra]
deep = 1

[tiers]
"P 1" = 0
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("profile", 2),
        ("profile.name", 3),
        ("profile.description", 4),
        ("signals[0]", 8),
        ("signals[0].weight", 10),
        ("signals[1].name", 13),
        ("signals[1].quoted key", 14),
        ("signals[1].match", 15),
        ("signals[1].match.category", 15),
        ("signals[1].prefixes", 16),
        ("signals[1].prefixes[0]", 17),
        ("signals[1].prefixes[1]", 19),
        ("signals[1].extra", 22),
        ("signals[1].extra.deep", 23),
        ("signals[1].missing_key", 12),  # falls back to the block header
        ("signals[7].weight", 8),  # unknown index: the first block of that name
        ("tiers.P 1", 26),
        ("nowhere.at_all", 0),
    ],
)
def test_line_of(path: str, line: int) -> None:
    assert Locator(TEXT).line_of(path) == line


def test_multiline_string_content_is_not_a_key() -> None:
    assert Locator(TEXT).line_of("profile.weight") == 2  # the [profile] header, not line 5


def test_path_at_names_the_key_or_its_block() -> None:
    locator = Locator(TEXT)
    assert locator.path_at(10) == "signals[0].weight"
    assert locator.path_at(11) == "signals[0].weight"  # blank line: nearest key above
    assert locator.path_at(12) == "signals[1]"
    assert locator.path_at(1) == ""


def test_syntax_error_line_from_tomllib_message() -> None:
    text = 'a = 1\nb = [1,\nc = "x"\n'
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(text)
    assert syntax_error_line(str(caught.value), text) == 3
    assert syntax_error_line("Unclosed array (at end of document)", text) == 3
    assert syntax_error_line("no position", text) == 0


@pytest.mark.parametrize(
    "value",
    ["plain", 'quote " and \\ backslash', "line\nbreak\ttab\r", "\x00\x1f\x7f", "é ✓ 🚀", ""],
)
def test_string_round_trips_through_tomllib(value: str) -> None:
    assert tomllib.loads(f"v = {string(value)}")["v"] == value
    assert tomllib.loads(f"{key(value)} = 1") == {value: 1}


@pytest.mark.parametrize(
    ("value", "text"), [(3.0, "3"), (-0.5, "-0.5"), (1e-7, "1e-07"), (1e20, "1e+20"), (0.1, "0.1")]
)
def test_number_is_readable_and_exact(value: float, text: str) -> None:
    assert number(value) == text
    assert float(tomllib.loads(f"v = {text}")["v"]) == value


def test_number_refuses_non_finite() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        number(float("inf"))
