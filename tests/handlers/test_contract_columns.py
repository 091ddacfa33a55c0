"""The columnar contract checks against the rules written out one value at a time.

handlers.contract clears a clean column by whole-column passes (a joined text, the
distinct values of a column, a sum of the numbers) and looks at single values only
when one of those passes does not clear it. Whatever shortcut it takes, a check must
name exactly the fields a value-by-value reading of the rules names, in the same order
with the same descriptions: these tests generate columns that are clean, nearly clean
and broken, and compare.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence

import pytest

from prioscore.server.config import Limits
from prioscore.server.errors import FieldViolation
from prioscore.server.handlers import contract

LIMITS = Limits()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Values that break a rule, or sit next to one: a control character, a tab, DEL, a
# separator str.isprintable refuses but the contract allows, multi-byte text at and over
# a byte limit.
_ODD = [
    "",
    "a\x00b",
    "t\tb",
    "\x7f",
    "\u2028line",
    "\xa0nbsp",
    "x" * 65,
    "x" * 257,
    "x" * 513,
    "é" * 128,
    "é" * 129,
    "\U0001f600" * 64,
    "\U0001f600" * 65,
]
_PLAIN = ["page_view", "url", "/pricing", "c1", "ç", "日本", "plan"]


def _text(rng: random.Random, odd: float) -> str:
    return rng.choice(_ODD) if rng.random() < odd else rng.choice(_PLAIN) + str(rng.randrange(9))


def _number(rng: random.Random, odd: float) -> float:
    if rng.random() < odd:
        return rng.choice([math.nan, math.inf, -math.inf, 1e308, -1e308])
    return rng.uniform(-5, 5)


def _reference_texts(
    values: Sequence[str], name: contract.Namer, max_bytes: int, what: str = ""
) -> list[FieldViolation]:
    """texts(): the byte limit, then control characters, each value on its own."""
    out = [
        FieldViolation(name(i), f"{what}is {len(v.encode())} bytes; at most {max_bytes}")
        for i, v in enumerate(values)
        if len(v.encode()) > max_bytes
    ][: contract.MAX_VIOLATIONS]
    out += [
        FieldViolation(name(i), f"{what}must not contain NUL or control characters")
        for i, v in enumerate(values)
        if _CONTROL.search(v)
    ][: contract.MAX_VIOLATIONS]
    return out


def _reference_maps(maps: Sequence[Mapping[str, object]], numeric: bool) -> list[FieldViolation]:
    """string_maps() / number_maps(): counts, keys, then values (text or finite)."""

    def at(i: int) -> str:
        return f"m[{i}]"

    most = LIMITS.max_map_entries
    out = [
        FieldViolation(at(i), f"{len(m)} entries; at most {most}")
        for i, m in enumerate(maps)
        if len(m) > most
    ][: contract.MAX_VIOLATIONS]
    owners = [i for i, m in enumerate(maps) for _ in m]
    keys = [k for m in maps for k in m]
    values: list[object] = [v for m in maps for v in m.values()]
    out += _reference_texts(keys, lambda j: at(owners[j]), LIMITS.max_name_bytes, "a key ")
    if numeric:
        out += [
            FieldViolation(f"{at(owners[j])}[{keys[j]!r:.60}]", "must be a finite number")
            for j, v in enumerate(values)
            if not math.isfinite(float(v))  # type: ignore[arg-type]
        ][: contract.MAX_VIOLATIONS]
    else:
        texts = [str(v) for v in values]
        out += _reference_texts(
            texts, lambda j: f"{at(owners[j])}[{keys[j]!r:.60}]", LIMITS.max_value_bytes
        )
    return out


@pytest.mark.parametrize("seed", range(40))
def test_text_columns_name_what_a_value_by_value_check_names(seed: int) -> None:
    rng = random.Random(seed)
    odd = rng.choice([0.0, 0.002, 0.05, 0.5])
    values = [_text(rng, odd) for _ in range(rng.choice([1, 3, 200, 1000]))]
    for most in (LIMITS.max_id_bytes, LIMITS.max_name_bytes):
        expected = _reference_texts(values, lambda i: f"v[{i}]", most)
        assert contract.texts(values, lambda i: f"v[{i}]", most) == expected
        assert contract.names(values, lambda i: f"v[{i}]", most) == expected


@pytest.mark.parametrize("seed", range(40))
def test_map_columns_name_what_an_entry_by_entry_check_names(seed: int) -> None:
    rng = random.Random(seed)
    odd = rng.choice([0.0, 0.002, 0.05, 0.5])
    sizes = [0, 0, 1, 1, 2] + ([LIMITS.max_map_entries + 1] if seed % 5 == 0 else [])
    strings = [
        {_text(rng, odd): _text(rng, odd) for _ in range(rng.choice(sizes))}
        for _ in range(rng.choice([1, 5, 200]))
    ]
    numbers = [
        {_text(rng, odd): _number(rng, odd) for _ in range(rng.choice(sizes))}
        for _ in range(rng.choice([1, 5, 200]))
    ]

    def at(i: int) -> str:
        return f"m[{i}]"

    assert contract.string_maps(strings, at, LIMITS) == _reference_maps(strings, False)
    assert contract.number_maps(numbers, at, LIMITS) == _reference_maps(numbers, True)


def test_numbers_whose_sum_overflows_are_finite() -> None:
    maps = [{"a": 1e308}, {"b": 1e308}, {"c": -math.inf}]
    assert contract.number_maps(maps[:2], str, LIMITS) == []
    assert [v.field for v in contract.number_maps(maps, str, LIMITS)] == ["2['c']"]


def test_separators_the_contract_allows_pass() -> None:
    """Text str.isprintable does not clear is scanned, not refused."""
    assert contract.texts(["\u2028", "\xa0", "日本"], str, 64) == []
    assert contract.names(["\u2028", "\xa0"], str, 64) == []
    assert contract.texts(["a\tb\nc"], str, 64, free_text=True) == []
