"""MirroredEntities: the reads the stored scorer makes beyond events (attributes,
members, related stored scores, a kind's population), answered from the store's
in-memory mirrors instead of SQLite.

Same contract as the Store methods of the same names (EntityTables.attributes,
RelationQueries.members_of / member_scores / account_scores / scores_of), so the writer's
scorer and a scorer over SQLite give the same numbers (tests/handlers/test_live_sweep.py).
Entities are joined to their accounts and to the score mirror by slot: array indexing,
no Python step per entity.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence

import numpy as np

from prioscore.server.engine import CategoricalColumn, RelatedScores
from prioscore.server.store.attribute_sql import CATEGORICAL_SQL, NUMERIC_SQL
from prioscore.server.store.entity_mirror import ColumnKind, EntityMirror
from prioscore.server.store.records import categorical, json_path, ordered, texts_to_codes
from prioscore.server.store.relations import RelatedRows
from prioscore.server.store.slots import SlotTable

# A profile's (present, score, disqualified) by slot, from the score mirror.
ScoreColumns = Callable[[str], tuple[np.ndarray, np.ndarray, np.ndarray]]


class MirroredEntities:
    """The writer's Store, read through its mirrors (use on the writer's thread)."""

    def __init__(
        self,
        lock: threading.RLock,
        conn: sqlite3.Connection,
        entities: EntityMirror,
        slots: SlotTable,
        scores: ScoreColumns,
    ) -> None:
        """The parts of the Store it reads: its lock and connection (to catch the entity
        mirror up), both mirrors and their slot table (`scores`: Store._mirrored_scores)."""
        self._lock = lock
        self._conn = conn
        self._entities = entities
        self._slots = slots
        self._scores = scores

    def _ready(self) -> EntityMirror:
        """The entity mirror, caught up with what the connection wrote (lock held)."""
        self._entities.ready(self._conn)
        return self._entities

    def entity_ids(self, kind: str) -> Sequence[str]:
        """Store.entity_ids(kind=kind): ids of that kind, sorted (SlotIds: strings only
        when read)."""
        with self._lock:
            return self._slots.ids(self._ready().population(kind))

    def attributes(
        self,
        entity_ids: Sequence[str],
        categorical: Collection[str] = (),
        numeric: Collection[str] = (),
    ) -> dict[str, np.ndarray | CategoricalColumn]:
        """Store.attributes: CategoricalColumn (code -1 missing or "", sorted vocabulary)
        per categorical attribute, float64 (NaN missing) per numeric one; numeric wins."""
        nums = ordered(numeric)
        cats = tuple(c for c in ordered(categorical) if c not in nums)
        out: dict[str, np.ndarray | CategoricalColumn] = {}
        with self._lock:
            mirror = self._ready()
            slots = self._slots.of(entity_ids, add=False)
            for c in cats:
                column = mirror.column(
                    self._conn, ColumnKind.TEXT, c, CATEGORICAL_SQL, (json_path(c),) * 2
                )
                out[c] = _factorised(column.data, column.values, slots, missing_empty=True)
            for c in nums:
                column = mirror.column(
                    self._conn, ColumnKind.NUMBER, c, NUMERIC_SQL, (json_path(c),) * 2
                )
                found = column.data[np.maximum(slots, 0)].astype(np.float64)
                out[c] = np.where(slots >= 0, found, np.nan)
        return out

    def kinds_of(self, ids: Sequence[str]) -> np.ndarray:
        """Each id's stored kind (object array), "" for an id with no row."""
        with self._lock:
            return self._ready().kind_names(self._slots.of(ids, add=False))

    def accounts_of(self, ids: Sequence[str], kind: str | None = None) -> list[str]:
        """Store.accounts_of: distinct non-empty accounts of ids (of `kind` when given)."""
        with self._lock:
            mirror = self._ready()
            slots = self._slots.of(ids, add=False)
            if kind is not None:
                slots = slots[mirror.kind_of(slots) == mirror.kind_code(kind)]
            accounts = np.unique(mirror.account_of(slots))
            return sorted(self._slots.ids(accounts[accounts >= 0]))

    def account_ids(self, ids: Sequence[str]) -> list[str]:
        """Each id's stored account id ("" for none, and for an id with no row): the
        accounts watch filters route tier changes by, without Store.entity_columns' read
        of SQLite after every ingest commit."""
        with self._lock:
            accounts = self._ready().account_of(self._slots.of(ids, add=False))
            names = np.full(len(accounts), "", dtype=object)
            has = accounts >= 0
            names[has] = self._slots.strings(accounts[has])
            return names.tolist()  # type: ignore[no-any-return]

    def entities_of_accounts(self, account_ids: Sequence[str], kind: str) -> list[str]:
        """Store.entities_of_accounts: entities of `kind` of any of account_ids."""
        ids, _ = self.members_of(account_ids, kind)
        return sorted(set(ids))

    def members_of(self, account_ids: Sequence[str], kind: str) -> tuple[Sequence[str], np.ndarray]:
        """Store.members_of: entities of `kind` whose account is one of account_ids
        (SlotIds: strings only when read)."""
        with self._lock:
            mirror = self._ready()
            members, owner = mirror.members(self._slots.of(account_ids, add=False))
            keep = mirror.kind_of(members) == mirror.kind_code(kind)
            return self._slots.ids(members[keep]), owner[keep]

    def member_scores(
        self, profile: str, account_ids: Sequence[str], by: Sequence[str] = ()
    ) -> RelatedRows:
        """Store.member_scores: stored `profile` scores of account_ids[i]'s members."""
        with self._lock:
            mirror = self._ready()
            members, owner = mirror.members(self._slots.of(account_ids, add=False))
            present, score, disqualified = self._scores(profile)
            keep = present[members]
            members, owner = members[keep], owner[keep]
            codes = {}
            for name in by:
                column = mirror.column(
                    self._conn, ColumnKind.RAW, name, "json_extract(e.attributes, ?)",
                    (json_path(name),),
                )  # fmt: skip
                codes[name] = _factorised(column.data, column.values, members).codes
            return self._rows(members, owner, score, disqualified, codes)

    def account_scores(self, profile: str, ids: Sequence[str]) -> RelatedRows:
        """Store.account_scores: stored `profile` scores of each entity's account."""
        with self._lock:
            accounts = self._ready().account_of(self._slots.of(ids, add=False))
            return self._scores_at(profile, accounts)

    def scores_of(self, profile: str, ids: Sequence[str]) -> RelatedRows:
        """Store.scores_of: stored `profile` scores of ids[i]."""
        with self._lock:
            self._ready()
            return self._scores_at(profile, self._slots.of(ids, add=False))

    def _scores_at(self, profile: str, slots: np.ndarray) -> RelatedRows:
        """Rows for the stored scores at slots[i] (owner i; -1 or unscored: no row)."""
        present, score, disqualified = self._scores(profile)
        owner = np.flatnonzero(slots >= 0)
        owner = owner[present[slots[owner]]]
        return self._rows(slots[owner], owner, score, disqualified, {})

    def _rows(
        self,
        slots: np.ndarray,
        owner: np.ndarray,
        score: np.ndarray,
        disqualified: np.ndarray,
        by: dict[str, np.ndarray],
    ) -> RelatedRows:
        """RelatedRows of the stored scores at `slots`, owner[i] owning row i."""
        ids = self._slots.ids(slots)  # strings only if a row is explained
        related = RelatedScores(
            owner=owner.astype(np.int64), score=score[slots], eligible=~disqualified[slots]
        )
        return RelatedRows.from_columns(ids, related, by)


def _factorised(
    data: np.ndarray, values: list[object], slots: np.ndarray, *, missing_empty: bool = False
) -> CategoricalColumn:
    """The column at `slots` (-1: no row) as the store factorises what it reads: codes
    into the sorted distinct values present (texts_to_codes when `missing_empty`, so ""
    is missing too; else categorical). A Python step per distinct value only."""
    codes = np.where(slots >= 0, data[np.maximum(slots, 0)], -1)
    present = np.unique(codes[codes >= 0])
    raw = [values[c] for c in present.tolist()]
    factorise = texts_to_codes if missing_empty else categorical
    local = factorise(raw, len(raw))  # type: ignore[arg-type]
    table = np.full(len(values) + 1, -1, np.int32)  # codes[-1] lands on the last: -1
    table[present] = local.codes
    return CategoricalColumn(table[codes], local.vocabulary)


__all__ = ["MirroredEntities"]
