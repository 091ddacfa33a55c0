"""The promotions table: each profile's latest promotion intent and how far it got.

The rows are written inside the promoting transactions (core/promotions.py), so the
state a restart reads is exactly what committed: `started` (nothing of the new version
committed yet), `scores_done` (the scores, the file and the shadow's removal committed;
the readers may not be rescored) or `complete`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING


class PromotionState(StrEnum):
    STARTED = "started"
    SCORES_DONE = "scores_done"
    COMPLETE = "complete"


@dataclass(frozen=True)
class StoredPromotion:
    """One promotion intent, as persisted."""

    name: str
    version: int
    previous_version: int
    toml: str
    previous_toml: str
    source: str
    state: PromotionState
    entities_scored: int = 0
    tier_changes: int = 0


class PromotionTables:
    """Mixin of Store: the promotion intents (the connection, lock and `_write` are
    Store's)."""

    if TYPE_CHECKING:
        conn: sqlite3.Connection
        _lock: threading.RLock

        def _write(self) -> AbstractContextManager[None]: ...

    def begin_promotion(self, intent: StoredPromotion, now: float) -> None:
        """Records `intent` as the latest promotion of its profile (replacing the one
        before, which is complete: an incomplete one is finished on start)."""
        with self._write():
            self.conn.execute(
                "INSERT OR REPLACE INTO promotions (name, version, previous_version, toml,"
                " previous_toml, source, state, entities_scored, tier_changes, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    intent.name,
                    intent.version,
                    intent.previous_version,
                    intent.toml,
                    intent.previous_toml,
                    intent.source,
                    str(intent.state),
                    intent.entities_scored,
                    intent.tier_changes,
                    now,
                ),
            )

    def advance_promotion(
        self, name: str, state: PromotionState, now: float, **counts: int
    ) -> None:
        """Moves the intent of `name` to `state`, with entities_scored / tier_changes."""
        assignments = "".join(f", {column} = ?" for column in counts)
        with self._write():
            self.conn.execute(
                f"UPDATE promotions SET state = ?, updated = ?{assignments} WHERE name = ?",
                (str(state), now, *counts.values(), name),
            )

    def forget_promotion(self, name: str) -> None:
        """Deletes the intent of `name` (a promotion undone before it committed)."""
        with self._write():
            self.conn.execute("DELETE FROM promotions WHERE name = ?", (name,))

    def promotion(self, name: str) -> StoredPromotion | None:
        """The latest promotion intent of `name`, if any."""
        rows = list(self._promotions("WHERE name = ?", (name,)))
        return rows[0] if rows else None

    def unfinished_promotions(self) -> list[StoredPromotion]:
        """Every intent a crash interrupted (not complete), by name."""
        return list(self._promotions("WHERE state != ? ORDER BY name", (PromotionState.COMPLETE,)))

    def _promotions(self, where: str, params: tuple[str, ...]) -> Iterator[StoredPromotion]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT name, version, previous_version, toml, previous_toml, source, state,"
                f" entities_scored, tier_changes FROM promotions {where}",
                params,
            ).fetchall()
        for r in rows:
            yield StoredPromotion(
                r[0], r[1], r[2], r[3], r[4], r[5], PromotionState(r[6]), r[7], r[8]
            )


__all__ = ["PromotionState", "PromotionTables", "StoredPromotion"]
