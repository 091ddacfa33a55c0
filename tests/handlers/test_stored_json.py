"""The JSON an event is stored with: the encoder built once (handlers.requests.compact_json)
writes exactly the text json.JSONEncoder writes, and refuses what it refuses."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from prioscore.server.handlers.requests import compact_json

REFERENCE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def test_the_text_is_json_encoders() -> None:
    rng = np.random.default_rng(3)
    alphabet = ["a", "é", "ü", "\u2028", "\x00", '"', "\\", "/", "\n", "😀", " "]
    for _ in range(300):
        strings = {
            "".join(rng.choice(alphabet, int(rng.integers(1, 6)))): "".join(
                rng.choice(alphabet, int(rng.integers(0, 6)))
            )
            for _ in range(int(rng.integers(0, 4)))
        }
        numbers = {
            f"m{j}": float(v)
            for j, v in enumerate(rng.choice([0.0, -0.0, 1 / 3, 1e20, 5e-324, 3.0, -7.25], 3))
        }
        for value in (strings, numbers, {**strings, **numbers}, {}):
            assert compact_json(value) == REFERENCE.encode(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_number_json_cannot_hold_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        compact_json({"m": bad})
