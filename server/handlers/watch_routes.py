"""Which watchers a tier change goes to, found by index rather than by asking every watcher.

A watch filter has four fields (profile, account, tiers, causes), each either empty (any
value) or a set of values. A watcher is filed under every key its filter accepts, with
"" standing for "any" in a field: `profile=lead_qualification, tiers={hot, warm}` is
filed under ("lead_qualification", "", "hot", "") and ("lead_qualification", "", "warm",
""). A change has exactly one value per field, so it reaches a watcher through at most
one of the watcher's keys (never twice), and the keys that can hold a watcher for it are
the product of (its value, "") over the four fields: at most 16 dictionary look-ups,
usually one or two, since a field no watcher constrains is looked up only as "".

So the cost of routing a change depends on the watchers it reaches, never on how many
watchers sit idle (the issue measured 500 idle watchers making ingest 7.8x slower when
every change visited every watcher).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from typing import Generic, TypeVar

W = TypeVar("W")
Key = tuple[str, str, str, str]  # (profile, account_id, tier, cause); "" = any value
ANY = ""


def filter_keys(
    profile: str, account_id: str, tiers: Iterable[str], causes: Iterable[str]
) -> list[Key]:
    """Every key a filter is filed under (an empty field is the single key ANY)."""
    return list(
        itertools.product(
            (profile or ANY,), (account_id or ANY,), sorted(tiers) or [ANY], sorted(causes) or [ANY]
        )
    )


class WatchRoutes(Generic[W]):
    """Watchers filed by filter key. Mutated only on the event loop; the writer thread
    may call `may_want` (dictionary look-ups only, safe under the GIL)."""

    def __init__(self) -> None:
        self._buckets: dict[Key, dict[W, None]] = {}  # insertion-ordered sets
        # Per field, how many filed keys hold each value: a field's value is looked up
        # only when some watcher names it.
        self._values: tuple[Counter[str], ...] = tuple(Counter() for _ in range(4))
        # The keys with the account dropped, for the writer's check before it reads
        # accounts (which only a change someone may want needs).
        self._unaccounted: Counter[tuple[str, str, str]] = Counter()

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets.values())

    def add(self, watcher: W, keys: list[Key]) -> None:
        for key in keys:
            self._buckets.setdefault(key, {})[watcher] = None
            for field, value in zip(self._values, key, strict=True):
                field[value] += 1
            self._unaccounted[(key[0], key[2], key[3])] += 1

    def remove(self, watcher: W, keys: list[Key]) -> None:
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is None or watcher not in bucket:
                continue  # not filed (already removed)
            del bucket[watcher]
            if not bucket:
                del self._buckets[key]
            for field, value in zip(self._values, key, strict=True):
                _decrement(field, value)
            _decrement(self._unaccounted, (key[0], key[2], key[3]))

    def _candidates(self, field: int, value: str) -> tuple[str, ...]:
        named = self._values[field]
        return tuple(v for v in ((value, ANY) if value else (ANY,)) if v in named)

    def may_want(self, profile: str, tier: str, cause: str) -> bool:
        """Whether a change could reach any watcher, whatever its account."""
        return any(
            key in self._unaccounted
            for key in itertools.product(
                self._candidates(0, profile), self._candidates(2, tier), self._candidates(3, cause)
            )
        )

    def route(self, profile: str, account_id: str, tier: str, cause: str) -> list[W]:
        """The watchers whose filter a change with these fields passes."""
        found: list[W] = []
        for key in itertools.product(
            self._candidates(0, profile),
            self._candidates(1, account_id),
            self._candidates(2, tier),
            self._candidates(3, cause),
        ):
            bucket = self._buckets.get(key)
            if bucket:
                found.extend(bucket)
        return found


def _decrement(counter: Counter[W], value: W) -> None:
    counter[value] -= 1
    if counter[value] <= 0:
        del counter[value]
