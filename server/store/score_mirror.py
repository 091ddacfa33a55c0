"""ScoreMirror: the columns of the scores table that a write compares against, in memory.

Every rescoring compares its rows with the stored ones (what moved, what changed tier,
when history was last kept) and quantile tiers are cut on the stored population. Read
from SQLite, that is a read of every row a clock sweep touches (a million per profile),
although almost none of them change. The store keeps this copy beside its one writing
connection instead: write_scores updates it as it writes, and anything else that
changes scores (deletes, a rolled-back transaction) drops it, so the next use reads the
profile once from SQLite again. Never stale, at worst reloaded.

Shape: one slot per entity id (a SlotTable shared by all profiles and with the entity
mirror) and dense arrays per profile indexed by slot, as narrow as they can be (issue 12,
S4): a tier is an int16 code into the mirror's table of tier names, a version int32, and
the arrays grow by a quarter, not double, so little room stands empty.

Quantile tiers need the eligible scores of the whole population on every rescoring,
one ingested event included. Gathering them by mask and partitioning them afresh made
a subscription's one-event ingest grow with the population (bench S3i), so the mirror
also keeps them sorted: a write moves its rows by binary search and one memmove (a
sweep's 50k rows of a million: a few ms; sorting again cost ~70 ms). Each sorted array
is replaced, never written, so the one published at a commit (committed_population())
is what the readers beside the writer cut their quantile tiers on: a stored
ScoreEntities read every eligible row of the profile from SQLite for that (32-41 ms at
200k subscriptions, bench S3s).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from prioscore.server.engine import Population
from prioscore.server.store.slots import SlotTable


@dataclass
class _Columns:
    """A profile's stored rows by slot; `present` marks the slots it has a row for."""

    present: np.ndarray  # bool
    score: np.ndarray  # float64
    tier: np.ndarray  # int16 slot in ScoreMirror._tiers ("" is slot 0)
    version: np.ndarray  # int32
    history_ts: np.ndarray  # float64, -inf when never
    disqualified: np.ndarray  # bool

    @staticmethod
    def empty(n: int) -> _Columns:
        return _Columns(
            np.zeros(n, bool), np.zeros(n), np.zeros(n, np.int16), np.full(n, -1, np.int32),
            np.full(n, -np.inf), np.zeros(n, bool),
        )  # fmt: skip

    def grown(self, n: int) -> _Columns:
        """The same rows with room for `n` slots."""
        more = _Columns.empty(n - len(self.present))
        return _Columns(
            *(
                np.concatenate([a, b])
                for a, b in zip(vars(self).values(), vars(more).values(), strict=True)
            )
        )


@dataclass
class Previous:
    """The stored values of some rows (has = a row exists), aligned to the asked ids."""

    has: np.ndarray
    score: np.ndarray
    tier: np.ndarray  # int16 code in ScoreMirror.tiers, 0 ("") where no row
    version: np.ndarray
    history_ts: np.ndarray


class ScoreMirror:
    """Per profile: stored score, tier, version, history time and disqualification."""

    def __init__(self, slots: SlotTable) -> None:
        self._slots = slots
        self._profiles: dict[str, _Columns] = {}
        self._capacity = 0  # slots every profile's arrays have room for (grown by a quarter)
        self._sorted: dict[str, np.ndarray] = {}  # a profile's eligible scores, ascending
        self._wanted: set[str] = set()  # profiles whose population was read (quantile tiers)
        self._committed: dict[str, np.ndarray] = {}  # _sorted as of the last commit
        self._dropped: set[str] = set()  # forgotten since: not to be published again
        self._tiers = SlotTable()  # tier name <-> code, append-only; "" (no row) is 0
        self._tiers.of([""], add=True)

    @property
    def tiers(self) -> SlotTable:
        """Tier name <-> int16 code: what previous() returns and tier_codes() makes.
        Append-only, so equal codes are equal names for as long as the store is open."""
        return self._tiers

    def tier_codes(self, names: Sequence[str] | np.ndarray) -> np.ndarray:
        """int16 codes of tier names (new names added)."""
        return self._tiers.of(names, add=True).astype(np.int16)  # type: ignore[arg-type]

    def tier_names(self, codes: np.ndarray) -> np.ndarray:
        """The names of tier codes (object array)."""
        return np.asarray(self._tiers.values, dtype=object)[codes]

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (the shared slot table is counted by the store)."""
        return sum(a.nbytes for c in self._profiles.values() for a in vars(c).values())

    def loaded(self, profile: str) -> bool:
        return profile in self._profiles

    def invalidate(self) -> None:
        """Forgets every profile (after a rollback): reloaded on next use."""
        self._profiles.clear()
        self._sorted.clear()

    def drop_entities(self, ids: Sequence[str]) -> None:
        """The entities' rows were deleted under every profile (an erasure, a merged
        id): their slots emptied in each loaded profile, the sorted populations without
        their scores. Forgetting every profile instead had the next write read each one
        back from SQLite: an erasure or an identity merge took ~1.3 s at 200k entities
        against 16 ms at 2k."""
        at = self._slots.of(ids, add=False)
        at = at[(at >= 0) & (at < self._capacity)]
        if not len(at):
            return
        for profile, columns in self._profiles.items():
            held = at[columns.present[at]]
            if not len(held):
                continue
            ordered = self._sorted.get(profile)
            if ordered is not None:
                gone = columns.score[held][~columns.disqualified[held]]
                self._sorted[profile] = _frozen(_without(ordered, gone))
            columns.present[held] = False
            columns.score[held] = 0.0
            columns.tier[held] = 0
            columns.version[held] = -1
            columns.history_ts[held] = -np.inf
            columns.disqualified[held] = False

    def forget(self, profile: str) -> None:
        """Forgets one profile whose rows were deleted (a shadow's): reloaded on next use.
        The others stay: reloading every profile after a shadow's delete read each one's
        rows again in one fetch (200k rows: ~0.6 s of GIL on the writer at a stretch)."""
        self._profiles.pop(profile, None)
        self._sorted.pop(profile, None)
        self._dropped.add(profile)  # its rows are another version's now, or none

    def publish(self) -> None:
        """After a commit: the sorted populations as committed, for readers on other
        threads (one reference swapped). Those dropped by a large change (a load, a
        rollback) are sorted again first, so a reader need not fall back to SQLite; after
        a rollback the last committed ones stand (invalidate() keeps them)."""
        wanted = set(self._wanted)  # one C call: readers add to it from their threads
        for profile in wanted & self._profiles.keys() - self._sorted.keys():
            self._sorted[profile] = self._eligible_sorted(profile)
        committed = {p: a for p, a in self._committed.items() if p not in self._dropped}
        committed.update(self._sorted)
        self._committed, self._dropped = committed, set()

    def committed_population(self, profile: str) -> np.ndarray | None:
        """The profile's eligible scores, ascending, as of the last commit (never
        written: safe to read from any thread), or None when none was published yet: it
        is from the next commit on (of a profile this mirror has loaded)."""
        got = self._committed.get(profile)
        if got is None:
            self.want(profile)
        return got

    def want(self, profile: str) -> None:
        """Keeps the profile's population sorted and published from the next commit on
        (a profile with quantile tiers: a reader or a rescoring asked for it)."""
        self._wanted.add(profile)

    def load(self, profile: str, parts: Iterable[Sequence[tuple[object, ...]]]) -> None:
        """The profile's stored rows, a few thousand at a time: (entity_id, score, tier,
        version, history_ts, disqualified), history_ts NULL when never kept. Each step is
        a C loop over one part, so none keeps the GIL long (a promotion drops the
        profile and the next write reads all of it again: 200k rows at once held it for
        tens of ms per step)."""
        self._profiles[profile] = _Columns.empty(self._capacity)
        self._sorted.pop(profile, None)
        for rows in parts:
            ids, score, tier, version, history, disqualified = zip(*rows, strict=True)
            at = self._slots_of(ids, add=True)  # first: it may grow (replace) the arrays
            columns = self._profiles[profile]
            columns.present[at] = True
            columns.score[at] = score
            columns.tier[at] = self.tier_codes(tier)
            columns.version[at] = version
            kept = np.asarray(history, dtype=np.float64)  # None -> NaN
            columns.history_ts[at] = np.where(np.isnan(kept), -np.inf, kept)
            columns.disqualified[at] = np.asarray(disqualified, dtype=bool)

    def previous(self, profile: str, ids: Sequence[str]) -> Previous:
        """The stored values of `ids` (a loaded profile)."""
        at = self._slots_of(ids, add=False)  # first: it may grow the arrays
        columns = self._profiles[profile]
        has = at >= 0
        safe = np.where(has, at, 0)
        if self._capacity:
            has &= columns.present[safe]
        else:  # no slot yet: nothing is stored, and there is nothing to index
            safe = np.zeros(0, np.int64)
        if not self._capacity:
            n = len(ids)
            return Previous(
                has, np.zeros(n), np.zeros(n, np.int16), np.full(n, -1), np.full(n, -np.inf)
            )
        return Previous(
            has,
            np.where(has, columns.score[safe], 0.0),
            np.where(has, columns.tier[safe], 0).astype(np.int16, copy=False),  # codes
            np.where(has, columns.version[safe].astype(np.int64), -1),
            np.where(has, columns.history_ts[safe], -np.inf),
        )

    def write(
        self,
        profile: str,
        ids: Sequence[str],
        score: np.ndarray,
        tier: np.ndarray,
        version: int,
        disqualified: np.ndarray,
    ) -> None:
        """Rows just upserted (no-op for a profile not loaded); `tier` as codes
        (tier_codes): the writer has them already, coded once per row."""
        if profile not in self._profiles or not len(ids):
            return
        at = self._slots_of(ids, add=True)
        columns = self._profiles[profile]
        self._resort(profile, columns, at, score, disqualified)
        columns.present[at] = True
        columns.score[at] = score
        columns.tier[at] = tier
        columns.version[at] = version
        columns.disqualified[at] = disqualified

    def kept_history(self, profile: str, ids: Sequence[str], ts: float) -> None:
        """History points were appended for `ids` at `ts`."""
        if profile in self._profiles and len(ids):
            self._profiles[profile].history_ts[self._slots_of(ids, add=True)] = ts

    def population(self, profile: str, excluding: Sequence[str]) -> Population:
        """Stored scores of the eligible rows of `profile`, less `excluding` (the kept
        sorted array and the positions of theirs: nothing is copied)."""
        out = self._slots_of(excluding, add=False)  # first: it may grow the arrays
        columns = self._profiles[profile]
        self.want(profile)
        ordered = self._sorted.get(profile)
        if ordered is None:
            ordered = self._sorted[profile] = self._eligible_sorted(profile)
        out = out[out >= 0]
        out = out[columns.present[out] & ~columns.disqualified[out]]
        return Population.without(ordered, columns.score[out])

    def _eligible_sorted(self, profile: str) -> np.ndarray:
        columns = self._profiles[profile]
        return _frozen(np.sort(columns.score[columns.present & ~columns.disqualified]))

    def _resort(
        self,
        profile: str,
        columns: _Columns,
        at: np.ndarray,
        score: np.ndarray,
        disqualified: np.ndarray,
    ) -> None:
        """Moves the rows at slots `at` (before they are overwritten) in the sorted
        eligible scores: a new array (the published one is never written)."""
        ordered = self._sorted.get(profile)
        if ordered is None:
            return
        old = columns.score[at][columns.present[at] & ~columns.disqualified[at]]
        new = np.sort(np.asarray(score, np.float64)[~np.asarray(disqualified, bool)])
        kept = _without(ordered, old)
        self._sorted[profile] = _frozen(np.insert(kept, np.searchsorted(kept, new), new))

    def columns(self, profile: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(present, score, disqualified) by slot of a loaded profile, at least as long
        as the slot table (for joins by slot: related scores of members and accounts)."""
        self._fit()
        c = self._profiles[profile]
        return c.present, c.score, c.disqualified

    def _fit(self) -> None:
        """Grows every profile's arrays (by a quarter) to cover every slot."""
        if len(self._slots) > self._capacity:
            self._capacity = max(self._capacity + self._capacity // 4, len(self._slots), 1024)
            for name, columns in self._profiles.items():
                self._profiles[name] = columns.grown(self._capacity)

    def _slots_of(self, ids: Sequence[str], *, add: bool) -> np.ndarray:
        """Slots of ids (-1 unknown unless `add`: then new ids get new slots)."""
        at = self._slots.of(ids, add=add)
        self._fit()
        return at


def _without(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`ordered` (ascending) less one occurrence of each of `values`, a new array."""
    return np.delete(ordered, Population.without(ordered, values).removed)


def _frozen(ordered: np.ndarray) -> np.ndarray:
    """A sorted population as kept and published: never written again."""
    ordered.flags.writeable = False
    return ordered


__all__ = ["Previous", "ScoreMirror"]
