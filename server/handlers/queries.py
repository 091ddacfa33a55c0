"""The stored-score queries of Service: RankEntities, GetScoreHistory and GetEntity.

A base class of Service (kept apart so each module stays one job): it reads through the
readers' connection (`_reads`), never the writer's, so a page never waits for a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prioscore.server.config import Limits
from prioscore.server.engine import Profile
from prioscore.server.errors import InvalidArgumentError, NotFoundError
from prioscore.server.handlers.catalog import ProfileCatalog
from prioscore.server.handlers.paging import decode_token, encode_token, fingerprint, page_size
from prioscore.server.store import EntityRecord, HistoryPoint, Store, StoredScore, counts_cover


@dataclass(frozen=True)
class RankQuery:
    profile: str
    page_size: int = 0
    page_token: str = ""
    tiers: tuple[str, ...] = ()
    account_id: str = ""
    min_score: float | None = None
    include_disqualified: bool = False


@dataclass(frozen=True)
class RankPage:
    scores: list[StoredScore]
    next_page_token: str
    total_size: int


@dataclass(frozen=True)
class HistoryPage:
    points: list[HistoryPoint]
    next_page_token: str


class StoredQueries:
    """rank / history / get_entity over the readers' connection."""

    _reads: Store
    _catalog: ProfileCatalog
    limits: Limits

    def get_profile(self, name: str, field: str = "profile") -> Profile:
        raise NotImplementedError  # Service's

    # -- queries ----------------------------------------------------------------------

    def rank(self, query: RankQuery) -> RankPage:
        """Top entities by stored score, keyset-paged (ties broken by entity id)."""
        profile = self.get_profile(query.profile)
        unknown = sorted(set(query.tiers) - set(profile.tiers.names))
        if unknown:
            raise InvalidArgumentError.of(
                "tiers",
                f"unknown tier {unknown[0]!r}; {profile.name} has {', '.join(profile.tiers.names)}",
            )
        if query.min_score is not None and not 0 <= query.min_score <= 100:
            raise InvalidArgumentError.of("min_score", "must be within 0-100")
        size = page_size(query.page_size, self.limits.max_page_size)
        fp = fingerprint(
            "rank",
            query.profile,
            sorted(query.tiers),
            query.account_id,
            query.min_score,
            query.include_disqualified,
        )
        # The token carries the last row and the total counted on the first page, which
        # later pages repeat when counting would read the rows (an account or a score
        # floor; AIP-158 lets total_size be an estimate); otherwise every page counts
        # afresh from the trigger-kept counts, in O(tiers).
        position = decode_token(query.page_token, fp, (float, str, int))
        after = None if position is None else (float(position[0]), str(position[1]))
        filters: dict[str, Any] = dict(
            tiers=query.tiers,
            account_id=query.account_id or None,
            min_score=query.min_score,
            include_disqualified=query.include_disqualified,
        )
        rows = self._reads.rank(profile.name, limit=size + 1, after=after, **filters)
        if position is None or counts_cover(filters["account_id"], query.min_score):
            total = self._reads.count_scores(profile.name, **filters)
        else:
            total = int(position[2])
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = encode_token(fp, [rows[-1].score, rows[-1].entity_id, total])
        return RankPage(rows, token, total)

    def history(
        self, entity_id: str, profile_name: str, requested_size: int, page_token: str
    ) -> HistoryPage:
        """An entity's score history, newest first, keyset-paged on (time, point id), so
        points that share a timestamp are neither lost nor repeated across pages."""
        if not entity_id:
            raise InvalidArgumentError.of("entity_id", "required")
        if profile_name:
            self.get_profile(profile_name)
        if not self._reads.entity_columns([entity_id]):
            raise NotFoundError("entity", entity_id, "entity_id")
        size = page_size(requested_size, self.limits.max_page_size, default=100)
        fp = fingerprint("history", entity_id, profile_name)
        position = decode_token(page_token, fp, (float, int))
        before = None if position is None else (float(position[0]), int(position[1]))
        points = self._reads.score_history(
            entity_id, profile_name or None, limit=size + 1, before=before
        )
        token = ""
        if len(points) > size:
            points = points[:size]
            token = encode_token(fp, [points[-1].ts, points[-1].id])
        return HistoryPage(points, token)

    def get_entity(
        self, entity_id: str, *, with_scores: bool = False
    ) -> tuple[EntityRecord, list[StoredScore]]:
        """One stored entity and, when asked, its current score under every loaded
        profile that has one (by profile name): what a record page shows beside the
        score, in one read instead of one RankEntities per profile."""
        if not entity_id:
            raise InvalidArgumentError.of("entity_id", "required")
        record = self._reads.get_entities([entity_id]).get(entity_id)
        if record is None:
            raise NotFoundError("entity", entity_id, "entity_id")
        scores: list[StoredScore] = []
        if with_scores:
            for profile in sorted(self._catalog.all(), key=lambda p: p.name):
                found = self._reads.get_scores(profile.name, [entity_id]).get(entity_id)
                if found is not None:
                    scores.append(found)
        return record, scores


__all__ = ["HistoryPage", "RankPage", "RankQuery", "StoredQueries"]
