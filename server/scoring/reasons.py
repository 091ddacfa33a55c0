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
        return reasons.tolist()
    names = contributors.entity_ids[rows].astype(str)
    points = np.round(contributors.points[rows], 4).astype(str)
    pieces = np.where(names != "", np.strings.add(np.strings.add(names, FIELD), points), "")
    joined = pieces[:, 0]
    for j in range(1, pieces.shape[1]):
        more = np.where(pieces[:, j] != "", np.strings.add(MEMBER, pieces[:, j]), "")
        joined = np.strings.add(joined, more)
    return np.strings.add(np.strings.add(reasons, SECTION), joined).tolist()


def _encode_top_reasons(scored: Scored, rows: slice) -> np.ndarray:
    result = scored.result
    features = scored.features[rows]
    n = features.shape[0]
    if result.reasons is None or result.contributions is None or result.reasons.shape[1] == 0:
        return np.full(n, "", dtype=str)
    reasons = result.reasons[rows]
    columns = np.asarray(result.columns, dtype=str)
    points = np.round(np.take_along_axis(result.contributions[rows], reasons, axis=1), 4)
    n_signals = features.shape[1]
    padded = np.concatenate(
        [features, np.full((n, len(result.columns) - n_signals), np.nan)], axis=1
    )
    feature = np.round(np.take_along_axis(padded, reasons, axis=1), 4)
    pieces = np.strings.add(columns[reasons], FIELD)
    pieces = np.strings.add(pieces, points.astype(str))
    pieces = np.strings.add(np.strings.add(pieces, FIELD), feature.astype(str))
    pieces = np.where(points != 0, pieces, "")
    joined = pieces[:, 0]
    for j in range(1, pieces.shape[1]):
        joined = np.strings.add(np.strings.add(joined, SEPARATOR), pieces[:, j])
    return joined


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
