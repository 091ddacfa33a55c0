"""Service called directly: ingest, stored scores, ranking and domain errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from prioscore.server.clock import Clock
from prioscore.server.errors import InvalidArgumentError, NotFoundError
from prioscore.server.handlers import Handlers, RankQuery, build_handlers
from prioscore.server.profiles import ProfileRegistry
from prioscore.server.store import Store
from tests.conftest import PROFILES
from tests.handlers.conftest import DAY, NOW, tracks

T = TypeVar("T")


def test_ingest_then_rank_orders_by_engagement(handlers: Handlers) -> None:
    service = handlers.service
    result = service.ingest(
        tracks(
            [("eager", "page_view", 1, {"url": "/pricing"})] * 3
            + [("idle", "page_view", 30, {"url": "/blog/x"})]
        )
    )
    assert result.accepted == 4 and result.entities_rescored >= 2
    page = service.rank(RankQuery("lead_qualification"))
    assert [s.entity_id for s in page.scores][:2] == ["eager", "idle"]
    assert page.total_size == 2


def test_a_redelivered_batch_counts_as_duplicates(handlers: Handlers) -> None:
    batch = tracks([("c1", "page_view", 1, {"url": "/pricing"})])
    handlers.service.ingest(batch)
    again = handlers.service.ingest(batch)
    assert (again.accepted, again.duplicates) == (0, 1)


def test_domain_errors_name_the_field(handlers: Handlers) -> None:
    with pytest.raises(NotFoundError) as missing:
        handlers.service.score_stored("lead_qualification", ["nobody"])
    assert missing.value.reason == "ENTITY_NOT_FOUND" and missing.value.field == "entity_ids[0]"
    handlers.service.ingest(tracks([("c1", "page_view", 1, {"url": "/pricing"})]))
    with pytest.raises(NotFoundError) as second:  # the first unknown id is named
        handlers.service.score_stored("lead_qualification", ["c1", "nobody", "ghost"])
    assert second.value.field == "entity_ids[1]" and "nobody" in str(second.value)
    with pytest.raises(NotFoundError) as profile:
        handlers.service.rank(RankQuery("no_such_profile"))
    assert profile.value.reason == "PROFILE_NOT_FOUND"
    with pytest.raises(InvalidArgumentError) as token:
        handlers.service.rank(RankQuery("lead_qualification", page_token="garbage"))
    assert token.value.reason == "PAGE_TOKEN_INVALID"


def test_scores_after_a_restart_equal_the_scores_before(tmp_path: Path) -> None:
    """The store is the durable truth: a new process on the same file, caught up by its
    clock at the same time, serves the same scores and tiers."""
    db = tmp_path / "restart.db"
    registry = ProfileRegistry.from_directory(PROFILES)

    def run(body: Callable[[Handlers], T]) -> T:
        clock = Clock()
        clock.set(NOW + 3 * DAY)
        built = build_handlers(Store(db), registry, clock=clock)
        loop = asyncio.new_event_loop()
        try:
            built.start(loop)
            assert built.settle()
            return body(built)
        finally:
            built.close()
            loop.close()

    def ranks(built: Handlers) -> dict[str, list[tuple[str, float, str]]]:
        return {
            name: [
                (s.entity_id, s.score, s.tier)
                for s in built.service.rank(RankQuery(name, page_size=100)).scores
            ]
            for name in ("lead_qualification", "churn_risk")
        }

    def first(built: Handlers) -> dict[str, list[tuple[str, float, str]]]:
        built.service.ingest(
            tracks([(f"c{i}", "page_view", i, {"url": "/pricing"}) for i in range(8)])
        )
        return ranks(built)

    before = run(first)
    after = run(ranks)
    assert before["lead_qualification"] and after == before


def test_total_size_follows_ingests_and_erasures(handlers: Handlers) -> None:
    service = handlers.service

    def total(**filters: object) -> int:
        return service.rank(RankQuery("lead_qualification", **filters)).total_size  # type: ignore[arg-type]

    service.ingest(tracks([(f"c{i}", "page_view", i, {"url": "/pricing"}) for i in range(5)]))
    assert total() == 5
    service.ingest(tracks([(f"d{i}", "page_view", 1, {"url": "/pricing"}) for i in range(3)], "n"))
    assert total() == 8
    service.erase_entity("c0")
    seen, token = 0, ""
    for _ in range(10):  # every page of the listing says the same total, the rows' count
        page = service.rank(RankQuery("lead_qualification", page_size=3, page_token=token))
        assert page.total_size == 7
        seen, token = seen + len(page.scores), page.next_page_token
        if not token:
            break
    assert seen == 7
    tiers = {s.tier for s in service.rank(RankQuery("lead_qualification", page_size=100)).scores}
    assert sum(total(tiers=(t,)) for t in tiers) == 7


def test_a_filtered_listing_carries_its_first_total(handlers: Handlers) -> None:
    """min_score or account_id: counted on the first page, repeated by its next pages."""
    service = handlers.service
    service.ingest(tracks([(f"c{i}", "page_view", 1, {"url": "/pricing"}) for i in range(6)]))
    first = service.rank(RankQuery("lead_qualification", page_size=2, min_score=0.0))
    assert first.total_size == 6 and first.next_page_token
    service.ingest(tracks([("late", "page_view", 1, {"url": "/pricing"})], "late"))
    second = service.rank(
        RankQuery(
            "lead_qualification", page_size=2, min_score=0.0, page_token=first.next_page_token
        )
    )
    assert second.total_size == 6  # the listing's figure, not a recount
    assert service.rank(RankQuery("lead_qualification", min_score=0.0)).total_size == 7
