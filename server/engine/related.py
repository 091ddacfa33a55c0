"""Score signals and rollups: fold related entities' scores into features, rank members.

A score signal reads another profile's current scores of related entities (an account's
contacts, a ticket's account). The caller hands over one row per (scored entity, related
entity) pair as flat arrays, `owner` being the scored entity's index, so every fold here
is a bincount or a ufunc.at over those rows: no Python loop per entity or per member.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prioscore.server.engine.model import Aggregate, Profile, Signal


@dataclass
class RelatedScores:
    """Related entities' current scores, one row per (scored entity, related entity) pair.

    owner: int64 index of the scored entity; score: float64 0-100; eligible: bool, False
    where the related entity is disqualified; by: int32 codes of the `by` attribute
    (-1 = missing), only for `distinct`.
    """

    owner: np.ndarray
    score: np.ndarray
    eligible: np.ndarray
    by: np.ndarray | None = None

    @classmethod
    def empty(cls) -> RelatedScores:
        return cls(np.empty(0, np.int64), np.empty(0), np.empty(0, bool), np.empty(0, np.int32))

    def counted(self, signal: Signal) -> np.ndarray:
        """Rows the signal counts: eligible and scoring at least its min_score."""
        return self.eligible & (self.score >= signal.min_score)


def related_feature(signal: Signal, related: RelatedScores, n_entities: int) -> np.ndarray:
    """One feature column [n_entities] from related scores; `missing` where none count."""
    keep = related.counted(signal)
    owner = related.owner[keep]
    score = related.score[keep]
    counts = np.bincount(owner, minlength=n_entities)
    aggregate = signal.aggregate
    column: np.ndarray
    if aggregate == Aggregate.COUNT:
        column = counts.astype(np.float64)
    elif aggregate == Aggregate.SUM:
        column = np.bincount(owner, weights=score, minlength=n_entities)
    elif aggregate == Aggregate.MEAN:
        column = np.bincount(owner, weights=score, minlength=n_entities) / np.maximum(counts, 1)
    elif aggregate in (Aggregate.MAX, Aggregate.SCORE):
        column = np.full(n_entities, -np.inf)
        np.maximum.at(column, owner, score)
    elif aggregate == Aggregate.DISTINCT:
        column = _distinct(owner, related.by[keep] if related.by is not None else None, n_entities)
    else:
        raise ValueError(f"aggregate {aggregate.value!r} does not read scores")
    return np.where(counts > 0, column, signal.missing)


def _distinct(owner: np.ndarray, codes: np.ndarray | None, n_entities: int) -> np.ndarray:
    """Distinct non-missing codes per owner (breadth: how many roles are engaged)."""
    if codes is None or codes.size == 0:
        return np.zeros(n_entities)
    present = codes >= 0
    width = int(codes.max()) + 1 if present.any() else 1
    pairs = np.unique(owner[present] * width + codes[present])
    return np.bincount(pairs // width, minlength=n_entities).astype(np.float64)


def member_score_points(signal: Signal, related: RelatedScores) -> np.ndarray:
    """Each member row's share of a members score signal's points, before the cap.

    sum: weight x its score; mean: that over the owner's counted members; max: weight x
    score for the member holding the maximum; count: weight per counted member; distinct:
    weight split between the counted members sharing a value. Rows not counted get 0.
    """
    keep = related.counted(signal)
    n_rows = related.owner.shape[0]
    owner = related.owner
    counts = np.bincount(owner[keep], minlength=int(owner.max()) + 1 if n_rows else 0)
    share = np.zeros(n_rows)
    aggregate = signal.aggregate
    if aggregate == Aggregate.SUM:
        share = related.score.copy()
    elif aggregate == Aggregate.MEAN:
        share = related.score / np.maximum(counts[owner], 1) if n_rows else share
    elif aggregate in (Aggregate.MAX, Aggregate.SCORE) and n_rows:
        best = np.full(counts.shape[0], -np.inf)
        np.maximum.at(best, owner[keep], related.score[keep])
        share = (related.score == best[owner]).astype(np.float64) * related.score
    elif aggregate == Aggregate.COUNT:
        share = np.ones(n_rows)
    elif aggregate == Aggregate.DISTINCT and related.by is not None and n_rows:
        codes = related.by
        width = int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 1
        key = owner * width + np.maximum(codes, 0)
        valid = keep & (codes >= 0)
        _, inverse, sizes = np.unique(key[valid], return_inverse=True, return_counts=True)
        share[valid] = 1.0 / sizes[inverse]
    return np.where(keep, signal.weight * share, 0.0)


def top_members(owner: np.ndarray, points: np.ndarray, n_entities: int, k: int) -> np.ndarray:
    """Row indices [n_entities, k] of each owner's k largest positive points (-1 = none).

    One lexsort by (owner, -points) and a rank within each owner's run: no loop per owner.
    """
    out = np.full((n_entities, k), -1, dtype=np.int64)
    if owner.size == 0 or k == 0:
        return out
    order = np.lexsort((-points, owner))
    sorted_owner = owner[order]
    starts = np.searchsorted(sorted_owner, sorted_owner, side="left")
    rank = np.arange(order.size) - starts
    keep = (rank < k) & (points[order] > 0)
    out[sorted_owner[keep], rank[keep]] = order[keep]
    return out


def member_event_points(profile: Profile, matrix: np.ndarray) -> np.ndarray:
    """Points [n_members] each member's own events earn under an account profile.

    Per event signal: clip(weight x feature, -cap, cap) minus what an entity with no
    matching event gets (the `missing` baseline), so a quiet member contributes 0 rather
    than inheriting a recency penalty it shares with every other quiet member.
    """
    columns = [j for j, s in enumerate(profile.signals) if not s.reads_scores]
    if not columns or matrix.shape[0] == 0:
        return np.zeros(matrix.shape[0])
    signals = [profile.signals[j] for j in columns]
    weight = np.array([s.weight for s in signals])
    cap = np.array([np.inf if s.cap is None else s.cap for s in signals])
    baseline = np.clip(np.array([s.missing for s in signals]) * weight, -cap, cap)
    points = np.clip(matrix[:, columns] * weight, -cap, cap) - baseline
    return points.sum(axis=1)
