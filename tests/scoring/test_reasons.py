"""The stored reasons text (scoring/reasons.py) is what it was when numpy's str cast and
string adds built it: floats as numpy prints them, pieces of zero points left empty
between their separators, contributors after SECTION with "" members left out."""

from __future__ import annotations

import numpy as np

from prioscore.server.engine import ScoreResult
from prioscore.server.profiles import ProfileRegistry, bundled
from prioscore.server.scoring import reasons
from prioscore.server.scoring.relations import Contributors
from prioscore.server.scoring.results import Scored


def test_float_texts_are_numpys_str_cast() -> None:
    rng = np.random.default_rng(3)
    edges = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e16, 1e15, 1e-4, 1e-5, 0.1, 2.5]
    values = np.round(
        np.concatenate(
            [
                edges,
                rng.normal(0, 50, 5_000),
                rng.normal(0, 1e-3, 2_000),
                rng.normal(0, 1e17, 2_000),
                rng.integers(-9, 9, 2_000).astype(np.float64),  # repeated values
            ]
        ),
        4,
    )
    assert reasons._float_texts(values) == values.astype(str).tolist()
    grid = values[:12].reshape(3, 4)  # any shape, row-major
    assert reasons._float_texts(grid) == grid.astype(str).ravel().tolist()


def _scored(contributors: Contributors | None) -> Scored:
    profile = ProfileRegistry.from_directory(bundled.DIRECTORY).get("lead_qualification")
    assert profile is not None
    n = 3
    columns = ("visits", "clicks", "fit:plan")
    result = ScoreResult(
        score=np.zeros(n),
        engagement=np.zeros(n),
        fit=np.zeros(n),
        tier=np.zeros(n, np.int32),
        disqualified=np.zeros(n, bool),
        disqualify_reason=np.full(n, "", dtype=object),
        columns=columns,
        contributions=np.array([[35.0, -0.00001, 2.5], [0.0, 0.0, 0.0], [1.23456, 7.0, -4.0]]),
        reasons=np.array([[0, 2, 1], [0, 1, 2], [2, 1, 0]], np.int32),
    )
    features = np.array([[3.0, 1e-5], [0.0, 2.0], [np.inf, 12.5]])
    return Scored(profile, ["a", "b", "c"], result, features, contributors)


def test_reasons_text_is_as_stored() -> None:
    # Row 0: -0.00001 rounds to -0.0 points, so its piece stays empty (a trailing "|");
    # fit columns carry no feature value (nan); row 1 explains nothing.
    assert reasons.encode_reasons(_scored(None)) == [
        "visits@35.0@3.0|fit:plan@2.5@nan|",
        "||",
        "fit:plan@-4.0@nan|clicks@7.0@12.5|visits@1.2346@inf",
    ]


def test_contributors_text_is_as_stored() -> None:
    named = Contributors(
        np.array([["m1", "m|2"], ["", "m3"], ["", ""]], dtype=object),
        np.array([[1.0, 0.12345], [9.0, -0.0], [0.0, 0.0]]),
    )
    texts = reasons.encode_reasons(_scored(named))
    assert [t.partition(reasons.SECTION)[2] for t in texts] == [
        "m1@1.0\x1fm|2@0.1234",
        "\x1fm3@-0.0",  # an empty first member still leaves the separator of the next
        "",
    ]
    assert [c.entity_id for c in reasons.decode_contributors(texts[0])] == ["m1", "m|2"]
