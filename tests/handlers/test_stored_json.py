"""Compact JSON text of request values: the encoders built once (handlers.json_text) write
exactly the text json.JSONEncoder writes with the same settings, and refuse what it
refuses."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from prioscore.server.handlers.json_text import compact_encoder
from prioscore.server.handlers.requests import compact_json

SETTINGS = [(False, False), (True, True)]  # (sort_keys, allow_nan): stored JSON, Segment


def _values(rng: np.random.Generator) -> list[object]:
    alphabet = ["a", "é", "ü", "\u2028", "\x00", '"', "\\", "/", "\n", "😀", " "]

    def text(most: int) -> str:
        return "".join(rng.choice(alphabet, int(rng.integers(0, most))))

    strings = {text(6) or "k": text(6) for _ in range(int(rng.integers(0, 4)))}
    numbers = {
        f"m{j}": float(v)
        for j, v in enumerate(rng.choice([0.0, -0.0, 1 / 3, 1e20, 5e-324, 3.0, -7.25], 3))
    }
    nested = {"z": [1, "two", None, True, {"b": 2.5, "a": [text(3)]}], "a": {"y": None}}
    return [strings, numbers, {**strings, **numbers}, {}, nested, [strings, 3, "x"]]


@pytest.mark.parametrize("sort_keys, allow_nan", SETTINGS)
def test_the_text_is_json_encoders(sort_keys: bool, allow_nan: bool) -> None:
    encode = compact_encoder(sort_keys=sort_keys, allow_nan=allow_nan)
    reference = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys, allow_nan=allow_nan
    )
    rng = np.random.default_rng(3)
    for _ in range(300):
        for value in _values(rng):
            assert encode(value) == reference.encode(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_stored_properties_refuse_a_number_json_cannot_hold(bad: float) -> None:
    with pytest.raises(ValueError):
        compact_json({"m": bad})
    assert compact_encoder(allow_nan=True)({"m": bad}) == json.dumps({"m": bad}).replace(" ", "")
