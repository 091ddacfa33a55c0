"""Identity merges: an anonymous (or old) id becomes part of a known entity.

A mixin of Store. `merge_identities` moves the merged id's events onto the entity it
merges into, folds its attributes in (the known entity's values win), re-homes members of
a merged account, and removes the merged entity's row and current scores: it is no
longer a separate thing to rank. Its score history and tier changes stay under its own id,
because they are what was true at the time; erasing the identity removes them too.

Rules, the same for every source (alias, identify with an anonymousId):
- an id merges once: a second merge of an already merged id into another one is ignored
  (first merge wins, as Mixpanel and Segment's alias do), so redelivery changes nothing;
- merges chain: merging B into C after A into B leaves A and B both pointing at C (the
  table is path-compressed, so resolving any id takes one lookup);
- merging an id into itself, or into an id that resolves to it, is a no-op.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import astuple
from typing import TYPE_CHECKING

from prioscore.server.store.entity_mirror import EntityMirror
from prioscore.server.store.records import EraseCounts, ids_json
from prioscore.server.store.score_mirror import ScoreMirror
from prioscore.server.store.scores import delete_scores_of


class IdentityTables:
    """identity_merges (schema v4): merged_id -> into_id, always a root."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock
        _mirror: ScoreMirror
        _entities: EntityMirror

        def _write(self) -> AbstractContextManager[None]: ...

        def erase_entity(self, entity_id: str) -> EraseCounts: ...

    def resolve_ids(self, ids: Sequence[str]) -> list[str]:
        """Each id, or the entity it was merged into (one query for the whole list)."""
        if not ids:
            return []
        with self._lock:
            rows = self.conn.execute(
                "SELECT m.merged_id, m.into_id FROM identity_merges AS m"
                " WHERE m.merged_id IN (SELECT value FROM json_each(?))",
                (ids_json(sorted(set(ids))),),
            ).fetchall()
        if not rows:
            return list(ids)
        into = dict(rows)
        return list(map(into.get, ids, ids))  # C-level: the id itself where not merged

    def merged_into(self, entity_id: str) -> list[str]:
        """The ids merged into entity_id, sorted."""
        with self._lock:
            return [
                r[0]
                for r in self.conn.execute(
                    "SELECT merged_id FROM identity_merges WHERE into_id = ? ORDER BY merged_id",
                    (entity_id,),
                )
            ]

    def merge_identities(
        self, pairs: Sequence[tuple[str, str]], now: float
    ) -> list[tuple[str, str]]:
        """Applies (merged id, into id) pairs in order; returns the merges that took
        effect as (merged id, root it went into). Joins the open transaction."""
        if not pairs:
            return []
        involved = sorted({i for pair in pairs for i in pair})
        with self._write():
            into = dict(
                self.conn.execute(
                    "SELECT merged_id, into_id FROM identity_merges"
                    " WHERE merged_id IN (SELECT value FROM json_each(?))",
                    (ids_json(involved),),
                ).fetchall()
            )
            applied: list[tuple[str, str]] = []
            for merged, target in pairs:
                root = into.get(target, target)
                if merged in into or merged == root:
                    continue  # already merged (first wins), or the same entity
                into[merged] = root
                for other, where in into.items():
                    if where == merged:
                        into[other] = root
                applied.append((merged, root))
            for merged, root in applied:
                self._merge_one(merged, root, now)
        return applied

    def _merge_one(self, merged: str, root: str, now: float) -> None:
        conn = self.conn
        conn.execute(
            "INSERT INTO identity_merges (merged_id, into_id, ts) VALUES (?, ?, ?)",
            (merged, root, now),
        )
        conn.execute("UPDATE identity_merges SET into_id = ? WHERE into_id = ?", (root, merged))
        conn.execute("UPDATE events SET entity_id = ? WHERE entity_id = ?", (root, merged))
        # The known entity's row takes the merged one's attributes under its own (its
        # values win) and its kind and account where it has none.
        conn.execute(
            "INSERT INTO entities"
            " (id, kind, account_id, attributes, numeric_attributes, created, updated)"
            " SELECT ?, kind, account_id, attributes, numeric_attributes, created, ?"
            " FROM entities WHERE id = ?"
            " ON CONFLICT (id) DO UPDATE SET"
            " kind = CASE WHEN kind <> '' THEN kind ELSE excluded.kind END,"
            " account_id = CASE WHEN account_id <> '' THEN account_id ELSE excluded.account_id END,"
            " attributes = json_patch(excluded.attributes, attributes),"
            " numeric_attributes = json_patch(excluded.numeric_attributes, numeric_attributes),"
            " created = MIN(created, excluded.created), updated = excluded.updated",
            (root, now, merged),
        )
        conn.execute("UPDATE entities SET account_id = ? WHERE account_id = ?", (root, merged))
        self._entities.touch([merged, root])
        self._entities.move_account(merged, root)
        delete_scores_of(conn, merged)
        self._mirror.drop_entities([merged])
        conn.execute("DELETE FROM entities WHERE id = ?", (merged,))

    def erase_identity(self, entity_id: str) -> tuple[list[str], EraseCounts]:
        """Erases the entity entity_id is (or was merged into) and every id merged into
        it; returns the ids erased and the summed counts."""
        (root,) = self.resolve_ids([entity_id])
        ids = [root, *self.merged_into(root)]
        with self._write():
            each = [astuple(self.erase_entity(one)) for one in ids]
            self.conn.execute(
                "DELETE FROM identity_merges WHERE into_id = ? OR merged_id = ?", (root, root)
            )
        return ids, EraseCounts(*(sum(column) for column in zip(*each, strict=True)))
