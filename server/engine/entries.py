"""One map per item (an event's properties or metrics, an entity's traits) flattened into
columns: every key, every value, and the item each entry belongs to.

C-level chains over the maps, no Python step per entry: what the contract check reads
(keys and values to check, owners to name the field) and what the live events pick their
kept properties out of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import methodcaller
from typing import Generic, TypeVar

import numpy as np

V = TypeVar("V")


@dataclass(frozen=True)
class MapEntries(Generic[V]):
    """Every entry of the maps, in item order then each map's own order."""

    keys: list[str]
    values: list[V]
    owner: np.ndarray  # the item of each entry
    counts: np.ndarray  # entries per item


def map_entries(maps: Sequence[Mapping[str, V]]) -> MapEntries[V]:
    counts = np.fromiter(map(len, maps), dtype=np.int64, count=len(maps))
    return MapEntries(
        keys=list(chain.from_iterable(maps)),
        values=list(chain.from_iterable(map(methodcaller("values"), maps))),
        owner=np.repeat(np.arange(len(maps)), counts),
        counts=counts,
    )


__all__ = ["MapEntries", "map_entries"]
