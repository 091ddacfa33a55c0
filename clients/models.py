"""Plain result types of the client library.

Per-entity results stay protobuf messages (Score, TierChange, ScoreHistoryPoint,
ProfileSummary): they are typed through the committed .pyi stubs and converting them
would only copy fields. Aggregates the wire spreads over several messages (bulk scores,
ingest totals, pages) become small dataclasses / named tuples here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

import numpy as np

T = TypeVar("T")


class MatrixScores(NamedTuple):
    """Scores of a feature matrix, row by row; unpacks as (scores, tiers, tier_names, dq).

    scores: float64 [n] 0-100; tiers: int32 [n] index into tier_names, -1 when
    disqualified; tier_names: the profile's tiers, lowest first; disqualified: bool [n].
    """

    scores: np.ndarray
    tiers: np.ndarray
    tier_names: tuple[str, ...]
    disqualified: np.ndarray

    @property
    def rows(self) -> int:
        """Number of scored rows (len() of a named tuple counts its fields, not rows)."""
        return int(self.scores.shape[0])

    def tier_labels(self) -> np.ndarray:
        """Tier names per row as an object array ("" where disqualified), vectorised."""
        names = np.asarray((*self.tier_names, ""), dtype=object)
        return names[self.tiers]

    @staticmethod
    def concatenate(parts: list[MatrixScores], tier_names: tuple[str, ...] = ()) -> MatrixScores:
        """Joins per-chunk results in order (empty input gives empty arrays)."""
        names = next((p.tier_names for p in parts if p.tier_names), tier_names)
        if not parts:
            return MatrixScores(
                np.empty(0, np.float64), np.empty(0, np.int32), names, np.empty(0, bool)
            )
        return MatrixScores(
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.tiers for p in parts]),
            names,
            np.concatenate([p.disqualified for p in parts]),
        )


@dataclass(frozen=True)
class IngestSummary:
    """Totals of an ingest over all streams it used.

    `replayed_batches` counts batches re-sent after a retried stream failure; the server
    dedupes on message_id, so events of a replayed batch that had already been stored
    show up in `duplicates` rather than being stored twice. `suppressed` counts events
    about erased ids the server dropped.
    """

    accepted: int = 0
    duplicates: int = 0
    entities_rescored: int = 0
    tier_changes: int = 0
    events_sent: int = 0
    streams: int = 0
    replayed_batches: int = 0
    suppressed: int = 0  # dropped by the server: about an erased id (see erase_entity)

    def plus(self, other: IngestSummary) -> IngestSummary:
        return IngestSummary(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)
        )


@dataclass(frozen=True)
class EraseResult:
    """What EraseEntity removed.

    `after_retry` is True when the first attempt's outcome was unknown (timeout or lost
    connection) and a retry found nothing left to erase: the entity is gone, but the
    counts of what the first attempt removed were lost with its response.
    """

    events_removed: int = 0
    scores_removed: int = 0
    history_removed: int = 0
    entity_removed: bool = False
    after_retry: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing plus the token for the next (empty on the last page)."""

    items: list[T] = field(default_factory=list)
    next_page_token: str = ""
    total_size: int = 0
