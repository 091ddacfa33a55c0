"""Top reasons in compact text form: built and parsed with vectorised numpy string ops.

Stored per score as "name@points@feature|name@points@feature|..." (largest first; fit
columns are named "fit:<attribute>" and carry no feature value). Rolled-up scores append
their top contributing members after a record separator: "\x1eid@points\x1fid@points"
(control characters, because entity ids may hold "|"; points are split off the right).
Building this with numpy string ufuncs keeps the ingest path free of a Python loop per
rescored entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from prioscore.server.scoring.results import Scored

SEPARATOR, FIELD = "|", "@"
SECTION, MEMBER = "\x1e", "\x1f"
REASON_ROWS = 1_024  # rows per block of encode_reasons: ~2 ms of GIL at most


@dataclass(frozen=True)
class Contributor:
    """A member behind a rolled-up score and the points its events and scores earned."""

    entity_id: str
    points: float


@dataclass(frozen=True)
class Reason:
    """One contribution to a score: the signal or fit column, its points, its feature value."""

    name: str
    points: float
    feature: float


def encode_reasons(scored: Scored) -> list[str]:
    """One reasons string per entity ("" where the result carries no explanation), with
    the top contributors appended for rolled-up profiles.

    REASON_ROWS rows at a time: the float-to-text casts and string joins are C calls
    that keep the GIL, ~20 ms over a 10k-row chunk, in which the serving loop waited
    (engine/slices.py says why bounded pieces help)."""
    texts: list[str] = []
    for at in range(0, scored.result.score.shape[0], REASON_ROWS):
        texts.extend(_encode_block(scored, slice(at, at + REASON_ROWS)))
    return texts


def _encode_block(scored: Scored, rows: slice) -> list[str]:
    reasons = _encode_top_reasons(scored, rows)
    contributors = scored.contributors
    if contributors is None or contributors.entity_ids.shape[1] == 0:
        return reasons
    names = contributors.entity_ids[rows]
    n, k = names.shape
    # "id@points" per named member, the first of a row bare, the others after MEMBER.
    lead = np.full((n, k), MEMBER, dtype=object)
    lead[:, 0] = ""
    points = np.round(contributors.points[rows], 4)
    pieces = _pieces("{}{}" + FIELD + "{}", lead, names.astype(str).astype(object), points)
    pieces[names.ravel() == ""] = ""
    return list(map(SECTION.join, zip(reasons, _rows(pieces, k, ""), strict=True)))


def _encode_top_reasons(scored: Scored, rows: slice) -> list[str]:
    result = scored.result
    features = scored.features[rows]
    n = features.shape[0]
    if result.reasons is None or result.contributions is None or result.reasons.shape[1] == 0:
        return [""] * n
    reasons = result.reasons[rows]
    columns = np.asarray(result.columns, dtype=object)
    points = np.round(np.take_along_axis(result.contributions[rows], reasons, axis=1), 4)
    n_signals = features.shape[1]
    padded = np.concatenate(
        [features, np.full((n, len(result.columns) - n_signals), np.nan)], axis=1
    )
    feature = np.round(np.take_along_axis(padded, reasons, axis=1), 4)
    pieces = _pieces("{}" + FIELD + "{}" + FIELD + "{}", columns[reasons], points, feature)
    pieces[points.ravel() == 0] = ""
    return _rows(pieces, reasons.shape[1], SEPARATOR)


def _pieces(pattern: str, *columns: np.ndarray) -> np.ndarray:
    """pattern.format(...) over equal-shaped columns, row-major, by a C-level map (an
    object array, flat): texts as they are, floats as their repr, which is what numpy's
    str cast gives (tests/scoring/test_reasons.py), made once per distinct value."""
    flat = [c.ravel().tolist() if c.dtype == object else _float_texts(c) for c in columns]
    return np.asarray(list(map(pattern.format, *flat)), dtype=object)


def _float_texts(values: np.ndarray) -> list[str]:
    """repr() of each float, one repr per distinct bit pattern (-0.0 and NaN keep their
    own): points and features repeat a handful of values, and float-to-text is the
    costly part of a reason (numpy's cast and string adds took ~1.3 ms per 200 rows)."""
    bits, inverse = np.unique(
        np.ascontiguousarray(values, np.float64).view(np.int64), return_inverse=True
    )
    texts = np.asarray(list(map(repr, bits.view(np.float64).tolist())), dtype=object)
    return texts[inverse.ravel()].tolist()  # type: ignore[no-any-return]


def _rows(pieces: np.ndarray, width: int, separator: str) -> list[str]:
    """Each run of `width` consecutive pieces joined by `separator` (C-level)."""
    run = iter(pieces.tolist())
    return list(map(separator.join, zip(*[run] * width, strict=True)))


def decode_contributors(text: str) -> list[Contributor]:
    """The contributors section of one stored reasons string ([] when there is none)."""
    _, _, section = text.partition(SECTION)
    contributors = []
    for piece in section.split(MEMBER):
        if piece:
            entity_id, points = piece.rsplit(FIELD, 1)
            contributors.append(Contributor(entity_id, float(points)))
    return contributors


def contributors_of(scored: Scored, row: int) -> list[Contributor]:
    """Contributors of one row straight from a Scored (for responses, not storage)."""
    named = scored.contributors
    if named is None:
        return []
    return [
        Contributor(str(entity_id), float(points))
        for entity_id, points in zip(named.entity_ids[row], named.points[row], strict=True)
        if entity_id
    ]


def decode_reasons(text: str) -> list[Reason]:
    """Parses one stored reasons string (used for a page of results, never in bulk)."""
    reasons = []
    for piece in text.partition(SECTION)[0].split(SEPARATOR):
        if not piece:
            continue
        name, points, feature = piece.rsplit(FIELD, 2)
        reasons.append(Reason(name, float(points), float(feature)))
    return reasons


def reasons_of(scored: Scored, row: int) -> list[Reason]:
    """Reasons of one row straight from a ScoreResult (for responses, not storage)."""
    result = scored.result
    if result.reasons is None or result.contributions is None:
        return []
    n_signals = scored.features.shape[1]
    out = []
    for column in result.reasons[row]:
        points = float(result.contributions[row, column])
        if points == 0:
            continue
        feature = float(scored.features[row, column]) if column < n_signals else float("nan")
        out.append(Reason(result.columns[column], points, feature))
    return out
