"""A profile's eligible stored scores as quantile tiers read them, without copying them.

Quantile tiers are cut at quantiles of the whole stored population, less the entities
being rescored, plus their new scores. The stored scores are kept sorted (by the writer,
store.score_mirror); removing k of n values and adding k others by np.delete and
np.concatenate, then np.quantile, copied and partitioned all n for every call: a stored
ScoreEntities of one subscription under saas_renewal took 32-41 ms at 200k stored
subscriptions against 0.7 ms at 2k (S3s). Here the few order statistics the cuts need
are read from the sorted array, the removed positions and the sorted added values by
binary search: O(k log n), the same numbers as np.quantile's default (linear) method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Population"]


@dataclass(frozen=True)
class Population:
    """`base` (ascending, never written) without the values at `removed` (distinct
    ascending positions into it), with `added` (ascending)."""

    base: np.ndarray
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    added: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))

    @classmethod
    def of(cls, scores: np.ndarray | Sequence[float]) -> Population:
        """Any scores, in any order (sorted once here)."""
        return cls(np.sort(np.asarray(scores, dtype=np.float64)))

    @classmethod
    def without(cls, base: np.ndarray, values: np.ndarray) -> Population:
        """`base` (ascending) less one occurrence of each of `values` that it holds:
        values it does not hold (read from another snapshot than `base`) are skipped."""
        values = np.sort(np.asarray(values, dtype=np.float64))
        if not len(values) or not len(base):
            return cls(base)
        # Equal values take consecutive places: the i-th of a run of ties goes i on.
        run = np.arange(len(values)) - np.searchsorted(values, values, "left")
        at = np.searchsorted(base, values, "left") + run
        held = at < len(base)
        held[held] = base[at[held]] == values[held]
        return cls(base, at[held].astype(np.int64))

    def plus(self, scores: np.ndarray) -> Population:
        """This population with `scores` added."""
        added = np.concatenate([self.added, np.asarray(scores, dtype=np.float64)])
        return Population(self.base, self.removed, np.sort(added))

    @property
    def size(self) -> int:
        return len(self.base) - len(self.removed) + len(self.added)

    def values(self) -> np.ndarray:
        """Every value, ascending (a copy of them all: for tests and small populations)."""
        kept = np.delete(self.base, self.removed)
        return np.sort(np.concatenate([kept, self.added]))

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """np.quantile(self.values(), qs) (method "linear"), read by order statistics;
        the population must not be empty."""
        n = self.size
        if n == 0:
            raise ValueError("quantiles of an empty population")
        out = []
        for q in qs:  # a profile's few tier thresholds
            virtual = (n - 1) * float(q)
            if virtual >= n - 1:
                out.append(self._nth(n - 1))
                continue
            if virtual < 0:
                out.append(self._nth(0))
                continue
            below = math.floor(virtual)
            a, b = self._nth(below), self._nth(below + 1)
            gamma = virtual - below
            # numpy's _lerp, to the bit: from the nearer end.
            diff = b - a
            out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
        return out

    def _kept(self, t: int) -> float:
        """The t-th value of `base` left after the removals: t plus the removed
        positions before it (a removed position p has p - i kept values before it)."""
        before = np.searchsorted(self.removed - np.arange(len(self.removed)), t, "right")
        return float(self.base[t + int(before)])

    def _nth(self, j: int) -> float:
        """The j-th smallest value (0-based): the k-th of two sorted sequences, by a
        binary search on how many of them come from `added`."""
        added, kept = self.added, len(self.base) - len(self.removed)
        count = j + 1
        lo, hi = max(0, count - kept), min(len(added), count)
        while lo < hi:  # the fewest `i` such that added[i] comes after the answer
            i = (lo + hi) // 2
            if added[i] < self._kept(count - i - 1):
                lo = i + 1
            else:
                hi = i
        last_added = float(added[lo - 1]) if lo > 0 else -math.inf
        last_kept = self._kept(count - lo - 1) if count - lo > 0 else -math.inf
        return max(last_added, last_kept)
